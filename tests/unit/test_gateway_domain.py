from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.gateway.domain.login import CodeGate, Login, may_submit_code, visible_status

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LOGIN = Login(
    login_id="l1",
    organization_id="acme",
    client="c",
    user_id="u1",
    email="a@b.c",
    user_type="editor",
    status="code_required",
    created_at=NOW,
    expires_at=NOW + timedelta(minutes=5),
)


@pytest.mark.parametrize("stored", ["pending", "enrollment_required", "code_required"])
def test_an_unfinished_login_expires_after_its_lifetime(stored: str) -> None:
    login = replace(LOGIN, status=stored)
    assert visible_status(login, NOW + timedelta(minutes=4, seconds=59)) == stored
    assert visible_status(login, NOW + timedelta(minutes=5)) == "expired"


def test_an_authenticated_login_stays_authenticated() -> None:
    login = replace(LOGIN, status="authenticated")
    assert visible_status(login, NOW + timedelta(days=1)) == "authenticated"


def test_a_login_shows_locked_until_the_lock_lapses() -> None:
    login = replace(LOGIN, locked_until=NOW + timedelta(minutes=1))
    assert visible_status(login, NOW) == "locked"
    assert visible_status(login, NOW + timedelta(minutes=1)) == "code_required"


@pytest.mark.parametrize(
    ("login", "now", "gate"),
    [
        (LOGIN, NOW, CodeGate.OPEN),
        (replace(LOGIN, status="enrollment_required"), NOW, CodeGate.OPEN),
        (replace(LOGIN, locked_until=NOW + timedelta(minutes=1)), NOW, CodeGate.OPEN),
        (LOGIN, NOW + timedelta(minutes=5), CodeGate.EXPIRED),
        (replace(LOGIN, status="expired"), NOW, CodeGate.EXPIRED),
        (replace(LOGIN, status="pending"), NOW, CodeGate.NOT_WAITING),
        (replace(LOGIN, status="authenticated"), NOW, CodeGate.NOT_WAITING),
    ],
)
def test_codes_are_taken_only_by_live_logins_that_asked_for_one(
    login: Login, now: datetime, gate: CodeGate
) -> None:
    assert may_submit_code(login, now) is gate


def test_the_purpose_follows_the_status() -> None:
    assert replace(LOGIN, status="enrollment_required").purpose == "enrollment"
    assert LOGIN.purpose == "login"
