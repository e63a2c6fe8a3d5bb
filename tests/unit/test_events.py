from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.events import LoginAttempted, PolicyRules

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def test_events_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="extra"):
        LoginAttempted.model_validate(
            {
                "occurred_at": NOW,
                "correlation_id": "l",
                "login_id": "l",
                "user_id": "u",
                "email": "a@b.c",
                "user_type": "t",
                "password": "hunter2",
            }
        )


def test_events_need_an_aware_timestamp() -> None:
    with pytest.raises(ValidationError, match="occurred_at"):
        LoginAttempted(
            occurred_at=datetime(2026, 1, 1),
            correlation_id="l",
            login_id="l",
            user_id="u",
            email="a@b.c",
            user_type="t",
        )


def test_events_are_frozen_and_carry_an_envelope() -> None:
    event = LoginAttempted(
        occurred_at=NOW, correlation_id="l", login_id="l", user_id="u", email="a@b.c", user_type="t"
    )
    assert event.schema_version == 1
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
