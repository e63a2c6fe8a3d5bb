from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.gateway.domain.login import (
    CodeGate,
    CodeOutcome,
    Login,
    PendingEnrollment,
    may_have_more_time,
    may_submit_code,
    may_take_recovery_codes,
    more_time,
    passed_a_code,
    visible_status,
)
from shared.crypto import Sealed

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


def test_no_more_time_where_a_passkeys_challenge_would_end_first() -> None:
    step, now = timedelta(minutes=5), NOW + timedelta(minutes=1)
    signing = replace(LOGIN, passkey_authentication='{"challenge": "x"}')
    assert more_time(signing, now, step) is None
    registering = replace(
        LOGIN,
        status="enrollment_required",
        enrollment=PendingEnrollment(None, NOW, passkey_registration='{"challenge": "x"}'),
    )
    assert more_time(registering, now, step) is None  # the passkey's page, or the choice
    assert more_time(registering, now, step, use="app") == now + step  # the QR's page
    capped = replace(LOGIN, expires_at=NOW + timedelta(hours=1))
    assert not may_have_more_time(capped, now)  # the hour is used up: no button either


def test_more_time_is_the_steps_time_again_within_an_hour_of_the_start() -> None:
    step = timedelta(minutes=5)
    assert more_time(LOGIN, NOW + timedelta(minutes=4), step) == NOW + timedelta(minutes=9)
    late = replace(LOGIN, expires_at=NOW + timedelta(minutes=59))
    assert more_time(late, NOW + timedelta(minutes=58), step) == NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    "login",
    [
        replace(LOGIN, status="authenticated"),
        replace(LOGIN, status="pending"),
        replace(LOGIN, status="expired"),
        replace(LOGIN, expires_at=NOW),  # closed already: asking late reopens nothing
    ],
)
def test_no_more_time_for_a_login_that_waits_for_nobody(login: Login) -> None:
    assert more_time(login, NOW, timedelta(minutes=5)) is None


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


SEALED = Sealed(key_id="k", nonce="bm9uY2Vub25jZTEy", ciphertext="Y2lwaGVy")
CONFIRMED = replace(
    LOGIN,
    status="authenticated",
    passed_by="code",
    outcomes={"s1": CodeOutcome(accepted=True), "s0": CodeOutcome(False, "invalid", 4)},
    callers={"s0": "k2", "s1": "k1"},
    recovery_codes=SEALED,
    recovery_codes_for="s1",
)


def test_recovery_codes_go_only_to_the_caller_whose_code_issued_them() -> None:
    assert may_take_recovery_codes(CONFIRMED, "k1")
    assert not may_take_recovery_codes(CONFIRMED, "k2")  # its code was the wrong one
    assert not may_take_recovery_codes(replace(CONFIRMED, recovery_codes=None), "k1")


def test_a_later_read_takes_recovery_codes_only_once_their_answer_was_lost() -> None:
    assert not may_take_recovery_codes(CONFIRMED, "k1", answer_lost=True)  # still coming
    lost = replace(CONFIRMED, lost_answers=frozenset({"s1"}))
    assert may_take_recovery_codes(lost, "k1", answer_lost=True)


def test_only_the_caller_whose_code_passed_may_act_on_the_login_afterwards() -> None:
    assert passed_a_code(CONFIRMED, NOW, "k1")
    assert not passed_a_code(CONFIRMED, NOW, "k2")  # sent a refused code only
    assert not passed_a_code(CONFIRMED, NOW + timedelta(minutes=5), "k1")  # expired
    remembered = replace(CONFIRMED, passed_by="remembered_device")
    assert not passed_a_code(remembered, NOW, "k1")
