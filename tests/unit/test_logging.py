import json
import logging

import pytest
import structlog

from shared.logging import configure_logging


def test_json_lines_mask_secrets_even_if_a_handler_passes_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("verification", "json", "INFO", production=True)
    structlog.get_logger("t").info(
        "code_checked", login_id="l1", code="123456", secret="JBSWY3DP", outcome="invalid"
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "code_checked"
    assert line["service"] == "verification"
    assert (line["code"], line["secret"]) == ("[redacted]", "[redacted]")
    assert "123456" not in json.dumps(line)
    logging.getLogger().handlers.clear()
    structlog.reset_defaults()
