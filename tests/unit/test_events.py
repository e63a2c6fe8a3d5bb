from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from shared.events import LoginAttempted, PolicyRules
from shared.identity import UserRef

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def attempt(**fields: Any) -> dict[str, Any]:
    """A LoginAttempted payload; ``fields`` change or (as None) drop fields."""
    payload = {
        "occurred_at": NOW,
        "correlation_id": "l",
        "organization_id": "acme",
        "login_id": "l",
        "user_id": "u",
        "email": "a@b.c",
        "user_type": "t",
        **fields,
    }
    return {k: v for k, v in payload.items() if v is not None}


def test_events_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="extra"):
        LoginAttempted.model_validate(attempt(password="hunter2"))


def test_events_need_an_aware_timestamp() -> None:
    with pytest.raises(ValidationError, match="occurred_at"):
        LoginAttempted.model_validate(attempt(occurred_at=datetime(2026, 1, 1)))


def test_events_are_frozen_and_carry_an_envelope() -> None:
    event = LoginAttempted.model_validate(attempt())
    assert event.schema_version == 2
    assert event.event_id
    with pytest.raises(ValidationError):
        event.user_id = "other"  # type: ignore[misc]


def test_policy_lists_are_deduplicated_and_sorted() -> None:
    rules = PolicyRules(user_types=("editor", "admin", "editor"), users=(" u2", "u1", "u2"))
    assert rules.user_types == ("admin", "editor")
    assert rules.users == ("u1", "u2")


def test_policy_refuses_blank_entries() -> None:
    with pytest.raises(ValidationError, match="user_types"):
        PolicyRules(user_types=("",))


def test_user_events_need_an_organization_and_a_canonical_user_id() -> None:
    with pytest.raises(ValidationError, match="organization_id"):
        LoginAttempted.model_validate(attempt(organization_id=None))
    with pytest.raises(ValidationError, match="canonical"):
        LoginAttempted.model_validate(attempt(user_id="VIP-User"))
    with pytest.raises(ValidationError, match="organization_id"):
        LoginAttempted.model_validate(attempt(organization_id="Acme/x"))


def test_an_event_from_before_organizations_is_the_default_organizations() -> None:
    event = LoginAttempted.model_validate(
        attempt(schema_version=1, organization_id=None, user_id="VIP-User")
    )
    assert (event.organization_id, event.user_id) == ("default", "vip-user")
    assert event.user == UserRef("default", "vip-user")
