"""Coverage rules as values: each user's state, the counts, the CSV."""

import csv
import io
from datetime import UTC, datetime, timedelta

from services.gateway.domain.coverage import (
    UserCoverage,
    counts_by_type,
    coverage_of,
    csv_header,
    csv_line,
    enrollment_of,
)
from services.gateway.domain.snapshots import AuthenticatorRecord, PasskeyRecord

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_each_authenticator_state_has_its_name() -> None:
    assert enrollment_of(None, NOW) == "not_enrolled"
    assert enrollment_of(AuthenticatorRecord("c", NOW, None), NOW) == "qr_offered"
    assert enrollment_of(AuthenticatorRecord("c", NOW, NOW), NOW) == "enrolled"
    locked = AuthenticatorRecord("c", NOW, NOW, locked_until=NOW + timedelta(1))
    assert enrollment_of(locked, NOW) == "locked"
    assert enrollment_of(locked, NOW + timedelta(2)) == "enrolled"  # the lock lapsed


def test_an_imported_authenticator_says_so_and_waits_for_its_first_use() -> None:
    unused = AuthenticatorRecord("imp0123abcd", NOW, None)
    assert enrollment_of(unused, NOW) == "awaiting_first_use"
    assert enrollment_of(AuthenticatorRecord("imp0123abcd", NOW, NOW), NOW) == "enrolled"
    imported = coverage_of(user("a", "editor", True), unused, NOW)
    enrolled = coverage_of(user("b", "editor", True), AuthenticatorRecord("c0ffee", NOW, NOW), NOW)
    assert (imported.source, enrolled.source) == ("imported", "enrolled")
    assert coverage_of(user("c", "editor", True), None, NOW).source is None
    assert counts_by_type([imported, enrolled])["editor"]["awaiting_first_use"] == 1


def user(user_id: str, user_type: str | None, required: bool) -> dict[str, object]:
    return {
        "user_id": user_id,
        "email": f"{user_id}@x.example",
        "user_type": user_type,
        "mfa_required": required,
        "decided_at": NOW,
    }


def test_counts_per_type_name_every_state() -> None:
    users = [
        coverage_of(user("a", "editor", True), AuthenticatorRecord("c", NOW, NOW), NOW),
        coverage_of(user("b", "editor", True), None, NOW),
        coverage_of(user("c", None, False), None, NOW),
    ]
    counts = counts_by_type(users)
    assert counts["editor"] == {
        "users": 2,
        "required": 2,
        "not_enrolled": 1,
        "qr_offered": 0,
        "awaiting_first_use": 0,
        "enrolled": 1,
        "locked": 0,
        "totp_users": 0,
        "passkey_users": 0,
    }
    assert counts["(unknown)"]["users"] == 1


def test_counts_split_app_and_passkey_users_and_one_with_both_counts_in_both() -> None:
    passkey = PasskeyRecord("pk", "Passkey 1", NOW)
    users = [
        coverage_of(user("a", "editor", True), AuthenticatorRecord("c", NOW, NOW, totp=True), NOW),
        coverage_of(
            user("b", "editor", True),
            AuthenticatorRecord("d", NOW, NOW, totp=False, passkeys=(passkey,)),
            NOW,
        ),
        coverage_of(
            user("c", "editor", True),
            AuthenticatorRecord("e", NOW, NOW, totp=True, passkeys=(passkey,)),
            NOW,
        ),
    ]
    counts = counts_by_type(users)["editor"]
    assert (counts["totp_users"], counts["passkey_users"]) == (2, 2)
    assert [u.authenticators for u in users] == ["totp", "passkey", "passkey totp"]
    row = next(csv.DictReader(io.StringIO(csv_header() + csv_line(users[2]))))
    assert (row["authenticators"], row["passkeys"]) == ("passkey totp", "1")


def test_the_csv_never_starts_a_cell_with_a_formula() -> None:
    hostile = UserCoverage(
        "=cmd|' /C calc'!A0", "@SUM(1)", "+type", True, "enrolled", None, 3, -1, NOW
    )
    [row] = list(csv.DictReader(io.StringIO(csv_header() + csv_line(hostile))))
    assert row["user_id"].startswith("'=")
    assert row["email"].startswith("'@")
    assert row["user_type"].startswith("'+")
    assert row["step_offset"] == "-1"  # a number stays a number
    assert row["last_decided_at"] == NOW.isoformat()
