"""docker-compose.yml, loaded by compose-go (the loader of Docker Compose itself)."""

from pathlib import Path

from deploy import compose
from deploy.gotools import ROOT


def test_the_compose_file_loads() -> None:
    result = compose.check(str(ROOT / "docker-compose.yml"))
    assert result.returncode == 0, result.stderr
    assert "7 services" in result.stdout


def test_a_broken_compose_file_is_refused(tmp_path: Path) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace("condition: service_healthy", "condition: healthy", 1))
    result = compose.check(str(broken))
    assert result.returncode == 1
    assert "condition" in result.stderr
