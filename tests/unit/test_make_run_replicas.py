"""MFA_REPLICAS, as make run reads it (more processes of a service on one machine)."""

import pytest

from deploy.localstack import LocalStack, replica_counts


def test_each_service_runs_once_unless_asked_for_more() -> None:
    assert replica_counts(None) == {"policy": 1, "enrollment": 1, "verification": 1, "gateway": 1}
    assert replica_counts("verification=3, enrollment=2")["verification"] == 3
    assert replica_counts("verification=3, enrollment=2")["enrollment"] == 2


@pytest.mark.parametrize(
    "chosen", ["verifier=2", "verification=0", "verification=9", "gateway", "policy=x"]
)
def test_a_wrong_setting_is_a_clear_refusal(chosen: str) -> None:
    with pytest.raises(SystemExit, match="MFA_REPLICAS"):
        replica_counts(chosen)


def test_gateway_replicas_listen_on_the_ports_after_the_first() -> None:
    stack = LocalStack(env={"MFA_PORT": "8400"}, replicas={"gateway": 3})
    assert stack._replica_port("gateway", 0) == {}
    assert stack._replica_port("gateway", 2) == {"MFA_PORT": "8402"}
    assert stack._replica_port("verification", 2) == {}
