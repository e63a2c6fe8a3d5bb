"""The largest policy the API accepts fits in a MongoDB document wherever it is stored."""

from datetime import UTC, datetime

import bson
import pytest
from pydantic import ValidationError

from services.policy.store import listing_keys, policy_fields
from shared.events import MAX_LISTED_USERS, MAX_PASSKEY_USERS, MAX_USER_TYPES, PolicyRules

MONGODB_DOCUMENT_LIMIT = 16 * 1024 * 1024


def largest_policy() -> PolicyRules:
    """Every list full, every entry 128 characters of 4 bytes (U+1D49C, a script A)."""
    users = tuple(f"{i:06d}" + "\U0001d49c" * 122 for i in range(MAX_LISTED_USERS))
    types = tuple(f"{i:04d}" + "\U0001d49c" * 60 for i in range(MAX_USER_TYPES))
    passkey_users = tuple(f"{i:06d}" + "\U0001d49c" * 122 for i in range(MAX_PASSKEY_USERS))
    return PolicyRules(
        all_users=True,
        user_types=types,
        users=users,
        require_passkey_user_types=types,
        require_passkey_users=passkey_users,
    )


def test_the_largest_policy_fits_in_the_policy_services_document() -> None:
    rules = largest_policy()
    stored = {
        "_id": "some-organization",
        **policy_fields(rules, datetime.now(UTC), "key:" + "x" * 64),
        "user_keys": listing_keys(rules.users),
        "passkey_user_keys": listing_keys(rules.require_passkey_users),
        "version": 2**31,
    }
    assert len(bson.encode(stored)) < MONGODB_DOCUMENT_LIMIT / 2  # room to spare


def test_a_policy_listing_more_users_is_refused_with_the_limit_named() -> None:
    with pytest.raises(ValidationError, match=f"at most {MAX_LISTED_USERS} items"):
        PolicyRules(users=tuple(f"u{i}" for i in range(MAX_LISTED_USERS + 1)))
