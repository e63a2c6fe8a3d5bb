"""docker-compose.yml, loaded by compose-go (the loader of Docker Compose itself)."""

from pathlib import Path

import yaml

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


def test_the_image_is_built_once_and_every_service_has_a_healthcheck() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert [name for name, s in services.items() if "build" in s] == ["redis-acl"]
    ours = [name for name, s in services.items() if s.get("image") == "imageshop-mfa:latest"]
    assert set(ours) == {"redis-acl", "policy", "enrollment", "verification", "gateway"}
    for name in ours:
        if name != "redis-acl":  # a one-shot
            assert "/readyz" in " ".join(services[name]["healthcheck"]["test"]), name
