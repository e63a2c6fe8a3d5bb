"""The administrator's coverage list, counts and CSV, in an organization of its own so
that only this test's users are in it."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.e2e.test_organizations import Organization, new_organization
from tests.real_stack import Stack, secret_of

pytestmark = pytest.mark.e2e


def login(organization: Organization, user: str, user_type: str) -> dict[str, Any]:
    body = {"user_id": user, "email": f"{user}@corp.example", "user_type": user_type}
    created = organization.client("POST", "/v1/logins", json=body)
    assert created.status_code == 201, created.text
    waited = organization.client("GET", f"/v1/logins/{created.json()['login_id']}?wait=10")
    return dict(waited.json())


@pytest.fixture
def people(stack: Stack) -> tuple[Organization, dict[str, tuple[str, bool, str]]]:
    """Four users, one in each state: (type, MFA required, enrollment) by user id."""
    org = new_organization(stack)
    enrolled = login(org, "ann", "editor")
    secret = secret_of(enrolled["enrollment"]["otpauth_uri"])
    assert org.submit(enrolled["login_id"], stack.code(secret)).status_code == 200
    login(org, "bob", "editor")  # shown the QR code, never typed a code
    assert login(org, "cid", "viewer")["status"] == "authenticated"  # MFA does not apply
    locked = login(org, "dee", "editor")
    dee = secret_of(locked["enrollment"]["otpauth_uri"])
    for _ in range(5):
        org.submit(locked["login_id"], stack.wrong_code(dee))
    return org, {
        "ann": ("editor", True, "enrolled"),
        "bob": ("editor", True, "qr_offered"),
        "cid": ("viewer", False, "not_enrolled"),
        "dee": ("editor", True, "locked"),
    }


def test_the_coverage_list_and_its_csv_match_the_users_created(
    people: tuple[Organization, dict[str, tuple[str, bool, str]]],
) -> None:
    org, expected = people
    listed = org.admin("GET", "/v1/admin/users").json()
    assert listed["next_after"] is None
    seen = {
        u["user_id"]: (u["user_type"], u["mfa_required"], u["enrollment"]) for u in listed["users"]
    }
    assert seen == expected
    assert [u["user_id"] for u in listed["users"]] == sorted(expected)
    assert listed["users"][0]["recovery_codes_left"] == 10

    exported = org.admin("GET", "/v1/admin/users.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {
        r["user_id"]: (r["user_type"], r["mfa_required"] == "True", r["enrollment"]) for r in rows
    } == expected
    assert {r["email"] for r in rows} == {f"{u}@corp.example" for u in expected}


def test_the_list_pages_and_searches_and_counts_by_type(
    people: tuple[Organization, dict[str, tuple[str, bool, str]]],
) -> None:
    org, _ = people
    first = org.admin("GET", "/v1/admin/users?limit=3").json()
    assert [u["user_id"] for u in first["users"]] == ["ann", "bob", "cid"]
    rest = org.admin("GET", f"/v1/admin/users?limit=3&after={first['next_after']}").json()
    assert ([u["user_id"] for u in rest["users"]], rest["next_after"]) == (["dee"], None)
    found = org.admin("GET", "/v1/admin/users?q=DEE%40CORP").json()
    assert [u["user_id"] for u in found["users"]] == ["dee"]
    for text in (".*", "a b", "#&~()[]\\", "ü"):  # text, never a pattern; no server refuses it
        searched = org.admin("GET", "/v1/admin/users", params={"q": text})
        assert (searched.status_code, searched.json()["users"]) == (200, [])
    spaced = org.admin("GET", "/v1/admin/users", params={"q": "@corp.example"}).json()
    assert len(spaced["users"]) == 4

    counts = org.admin("GET", "/v1/admin/users/summary").json()["by_user_type"]
    assert counts == {
        "editor": {
            "users": 3,
            "required": 3,
            "not_enrolled": 0,
            "qr_offered": 1,
            "awaiting_first_use": 0,
            "enrolled": 1,
            "locked": 1,
            "totp_users": 1,  # ann; dee was locked before confirming her app
            "passkey_users": 0,
        },
        "viewer": {
            "users": 1,
            "required": 0,
            "not_enrolled": 1,
            "qr_offered": 0,
            "awaiting_first_use": 0,
            "enrolled": 0,
            "locked": 0,
            "totp_users": 0,
            "passkey_users": 0,
        },
    }
