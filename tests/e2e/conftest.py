import pytest

from tests.real_stack import Stack


@pytest.fixture(autouse=True)
def _policy_for_editors(stack: Stack) -> None:
    """The baseline most scenarios start from: MFA for the 'editor' user type."""
    stack.set_policy(user_types=["editor"])
