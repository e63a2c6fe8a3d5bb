import pytest
from pydantic import ValidationError

from services.gateway.settings import GatewaySettings
from services.policy.settings import PolicySettings
from services.verification.settings import VerificationSettings
from shared.crypto import Keyring
from shared.settings import DEV_ENCRYPTION_KEYS

STRONG_KEYS = Keyring.generate_spec("prod1")
REDIS_WITH_PASSWORD = "redis://gateway:a-long-random-password@redis:6379/0"
CLIENT_KEY = "c" * 40
ADMIN_KEY = "a" * 40


def test_development_needs_no_configuration() -> None:
    settings = GatewaySettings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert [k.get_secret_value() for k in settings.client_api_keys] == ["dev-client-key"]
    assert [k.get_secret_value() for k in settings.admin_api_keys] == ["dev-admin-key"]


def test_production_refuses_the_development_encryption_key() -> None:
    with pytest.raises(ValidationError, match="development key"):
        PolicySettings(env="production")


def test_production_refuses_the_test_clock() -> None:
    with pytest.raises(ValidationError, match="MFA_CLOCK_OFFSET_FILE"):
        PolicySettings(env="production", encryption_keys=STRONG_KEYS, clock_offset_file="offset")


def test_production_refuses_development_or_short_api_keys() -> None:
    with pytest.raises(ValidationError, match="MFA_CLIENT_API_KEYS still holds a development"):
        GatewaySettings(env="production", encryption_keys=STRONG_KEYS, admin_api_keys=ADMIN_KEY)
    with pytest.raises(ValidationError, match="at least 32 characters"):
        GatewaySettings(
            env="production",
            encryption_keys=STRONG_KEYS,
            client_api_keys="short",
            admin_api_keys=ADMIN_KEY,
        )


def test_production_starts_with_strong_settings() -> None:
    settings = GatewaySettings(
        env="production",
        encryption_keys=STRONG_KEYS,
        redis_url=REDIS_WITH_PASSWORD,
        client_api_keys=f"{CLIENT_KEY}, {'d' * 40}",
        admin_api_keys=ADMIN_KEY,
        operator_api_keys="",  # no operator API
    )
    assert len(settings.client_api_keys) == 2
    assert settings.operator_api_keys == ()


def test_production_refuses_the_development_operator_key() -> None:
    with pytest.raises(ValidationError, match="MFA_OPERATOR_API_KEYS still holds a development"):
        GatewaySettings(
            env="production",
            encryption_keys=STRONG_KEYS,
            client_api_keys=CLIENT_KEY,
            admin_api_keys=ADMIN_KEY,
        )


def test_api_keys_are_read_comma_separated_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MFA_CLIENT_API_KEYS", "one, two,,three")
    assert [k.get_secret_value() for k in GatewaySettings().client_api_keys] == [
        "one",
        "two",
        "three",
    ]


def test_a_malformed_keyring_names_the_variable() -> None:
    with pytest.raises(ValidationError, match=r"MFA_ENCRYPTION_KEYS: .*32 bytes"):
        PolicySettings(encryption_keys="k:AAAA")


def test_mongodb_url_is_also_read_from_the_conventional_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONGODB_URL", "mongodb://db.example:27017")
    assert PolicySettings().mongodb_url.get_secret_value() == "mongodb://db.example:27017"


def test_lockout_rules_come_from_settings() -> None:
    rules = VerificationSettings(max_failures=3, lockout_seconds=60).lockout_rules()
    assert (rules.max_failures, rules.duration.total_seconds()) == (3, 60)


def test_secrets_do_not_show_in_settings_repr() -> None:
    settings = GatewaySettings(encryption_keys=STRONG_KEYS)
    assert STRONG_KEYS.split(":")[1] not in repr(settings)
    assert "dev-admin-key" not in repr(settings)


def test_a_rate_that_does_not_parse_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="code_limit_per_client"):
        GatewaySettings(code_limit_per_client="lots")


def test_production_refuses_the_development_key_under_any_key_id() -> None:
    renamed = DEV_ENCRYPTION_KEYS.replace("dev:", "k2026:", 1)
    with pytest.raises(ValidationError, match="development key"):
        PolicySettings(env="production", encryption_keys=f"{STRONG_KEYS},{renamed}")


def test_production_refuses_a_redis_without_a_password() -> None:
    with pytest.raises(ValidationError, match="MFA_REDIS_URL has no password"):
        PolicySettings(env="production", encryption_keys=STRONG_KEYS)
    PolicySettings(env="production", encryption_keys=STRONG_KEYS, redis_url=REDIS_WITH_PASSWORD)
