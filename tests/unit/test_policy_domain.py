import pytest

from services.policy.domain import Decision, PolicySnapshot, decide, user_keys


def snapshot(
    all_users: bool = False, user_types: tuple[str, ...] = (), lists_user: bool = False
) -> PolicySnapshot:
    return PolicySnapshot(all_users, frozenset(user_types), lists_user, version=3)


@pytest.mark.parametrize(
    ("policy", "user_type", "expected"),
    [
        (snapshot(), "editor", Decision(False, "not_applicable")),
        (snapshot(all_users=True), "editor", Decision(True, "all_users")),
        (snapshot(user_types=("editor",)), "editor", Decision(True, "user_type")),
        (snapshot(user_types=("admin",)), "editor", Decision(False, "not_applicable")),
        (snapshot(lists_user=True), "editor", Decision(True, "user")),
        # any union of the three: the most specific reason is reported
        (snapshot(True, ("editor",), True), "editor", Decision(True, "user")),
        (snapshot(True, ("editor",)), "editor", Decision(True, "user_type")),
        (snapshot(True, ("admin",)), "editor", Decision(True, "all_users")),
    ],
)
def test_mfa_applies_when_any_setting_covers_the_user(
    policy: PolicySnapshot, user_type: str, expected: Decision
) -> None:
    assert decide(policy, user_type) == expected


def test_user_types_match_exactly() -> None:
    assert not decide(snapshot(user_types=("Editor",)), "editor").mfa_required


def test_listed_users_match_by_id_or_email_ignoring_case() -> None:
    assert user_keys("U-17", "Ada@Example.com") == ["u-17", "ada@example.com"]
