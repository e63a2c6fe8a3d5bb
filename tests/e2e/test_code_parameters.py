"""An organization's app codes other than SHA1, 6 digits, 30 seconds (issue 21, part):
the QR states them, and codes that oathtool computes for them sign in."""

from __future__ import annotations

import subprocess
from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.test_organizations import new_organization
from tests.real_stack import Stack, new_user, secret_of

pytestmark = pytest.mark.e2e


def oathtool(secret: str, at: float, algorithm: str, digits: int, period: int) -> str:
    """The code an independent implementation (oath-toolkit) computes."""
    done = subprocess.run(
        [
            "oathtool",
            f"--totp={algorithm.lower()}",
            f"--digits={digits}",
            f"--time-step-size={period}s",
            "--base32",
            secret,
            "--now",
            f"@{int(at)}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("algorithm", "digits", "period"), [("SHA256", 8, 60), ("SHA512", 6, 30), ("SHA1", 8, 30)]
)
def test_codes_of_the_organizations_parameters_sign_in_and_the_qr_states_them(
    stack: Stack, algorithm: str, digits: int, period: int
) -> None:
    organization = new_organization(stack)
    chosen = {"algorithm": algorithm, "digits": digits, "period": period}
    saved = organization.admin(
        "PUT", "/v1/admin/policy", json={"user_types": ["editor"], "totp": chosen}
    )
    assert saved.status_code == 200, saved.text
    user = new_user()
    login = organization.start_login(user)
    uri = login["enrollment"]["otpauth_uri"]
    query = parse_qs(urlparse(uri).query)
    assert (query["algorithm"], query["digits"], query["period"]) == (
        [algorithm],
        [str(digits)],
        [str(period)],
    )
    assert login["code_digits"] == digits
    secret = secret_of(uri)
    usual = oathtool(secret, stack.now(), "SHA1", 6, 30)
    if (algorithm, digits) != ("SHA1", 6):
        refused = organization.submit(login["login_id"], usual)
        assert refused.status_code in (400, 422), refused.text  # not the usual code
    code = oathtool(secret, stack.now(), algorithm, digits, period)
    accepted = organization.submit(login["login_id"], code)
    assert accepted.status_code == 200, accepted.text

    later = organization.start_login(user)
    assert later["status"] == "code_required"
    assert later["code_digits"] == digits
    # The next step's code (a phone a little ahead is accepted): fresh, not a replay.
    ahead = oathtool(secret, stack.now() + period, algorithm, digits, period)
    again = organization.submit(later["login_id"], ahead)
    assert again.status_code == 200, again.text
