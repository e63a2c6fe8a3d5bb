import pytest

from shared.identity import (
    InvalidId,
    UserRef,
    canonical_user_id,
    fold,
    is_organization_id,
)


@pytest.mark.parametrize(
    "spelling",
    ["VIP-User", "vip-user", " vip-user ", "\uff36\uff29\uff30-User", "Vip-USER"],
)
def test_ids_that_differ_only_by_case_width_or_spaces_around_are_one_user(spelling: str) -> None:
    assert canonical_user_id(spelling) == "vip-user"


def test_case_folding_goes_beyond_lowercase() -> None:
    assert canonical_user_id("Straße") == canonical_user_id("STRASSE") == "strasse"


@pytest.mark.parametrize(
    "allowed", ["ada@example.com", "a.b_c-d+e", "42", "6f1d2c9e-8a7b-4c3d", "jöran", "李雷"]
)
def test_letters_digits_and_a_little_punctuation_make_an_id(allowed: str) -> None:
    assert canonical_user_id(allowed) == fold(allowed)


@pytest.mark.parametrize(
    "refused", ["", "   ", "a/b", "a?b", "a#b", "a%2F", "a b", "tab\tid", "x" * 129, "a\x00b"]
)
def test_characters_that_break_urls_and_logs_are_refused(refused: str) -> None:
    with pytest.raises(InvalidId):
        canonical_user_id(refused)


def test_a_user_is_the_pair_of_organization_and_id_and_its_key_splits_back() -> None:
    user = UserRef("acme", "ada@example.com")
    assert user.key == "acme/ada@example.com"
    assert UserRef.from_key(user.key) == user
    assert user != UserRef("globex", "ada@example.com")


@pytest.mark.parametrize("good", ["acme", "imageshop-eu", "a1", "default"])
def test_organization_ids_are_lowercase_slugs(good: str) -> None:
    assert is_organization_id(good)


@pytest.mark.parametrize("bad", ["", "Acme", "a/b", "-acme", "acme-", "a" * 65, "ac me"])
def test_other_organization_ids_are_refused(bad: str) -> None:
    assert not is_organization_id(bad)
