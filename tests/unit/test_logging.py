import json
import logging

import pytest
import structlog

from shared.logging import configure_logging, login_ref

KEY = b"k" * 32


def test_json_lines_mask_secrets_even_if_a_handler_passes_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("verification", "json", "INFO", production=True, pseudonym_key=KEY)
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


def test_a_login_id_is_logged_as_a_keyed_hash_the_same_in_every_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("gateway", "json", "INFO", production=True, pseudonym_key=KEY)
    log = structlog.get_logger("t")
    log.info("login_decided", login_id="secret-login-id")
    log.info("code_requested", correlation_id="secret-login-id")
    lines = [json.loads(x) for x in capsys.readouterr().err.strip().splitlines()[-2:]]
    assert "secret-login-id" not in json.dumps(lines)
    assert lines[0]["login_ref"] == lines[1]["login_ref"] == login_ref("secret-login-id", KEY)
    assert login_ref("secret-login-id", b"other" * 8) != lines[0]["login_ref"]  # keyed
    logging.getLogger().handlers.clear()
    structlog.reset_defaults()
