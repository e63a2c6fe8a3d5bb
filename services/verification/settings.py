from datetime import timedelta
from typing import ClassVar

from pydantic import Field

from services.verification.domain import LockoutRules, TotpRules
from shared.settings import ServiceSettings


class VerificationSettings(ServiceSettings):
    service_name: ClassVar[str] = "verification"

    max_failures: int = Field(default=5, ge=1, le=100)
    lockout_seconds: int = Field(default=900, ge=1)
    lockout_escalation: float = Field(default=2.0, ge=1.0, le=10.0)
    lockout_max_seconds: int = Field(default=86_400, ge=1)
    accept_past_steps: int = Field(default=1, ge=0, le=2)
    accept_future_steps: int = Field(default=1, ge=0, le=2)
    expired_lookback_steps: int = Field(default=10, ge=0, le=120)
    hotp_look_ahead: int = Field(
        default=10, ge=0, le=100, description="HOTP: counters ahead of the expected one accepted"
    )
    credential_wait_seconds: float = Field(default=2.0, ge=0, le=30)
    passkey_challenge_seconds: int = Field(
        default=600,
        ge=30,
        le=3600,
        description="How long a login's passkey challenge may be answered (once)",
    )
    answer_memory_seconds: int = Field(
        default=600, ge=60, description="how long a submission's answer is kept for redeliveries"
    )

    def totp_rules(self) -> TotpRules:
        return TotpRules(
            accept_past_steps=self.accept_past_steps,
            accept_future_steps=self.accept_future_steps,
            expired_lookback_steps=self.expired_lookback_steps,
        )

    def lockout_rules(self) -> LockoutRules:
        return LockoutRules(
            max_failures=self.max_failures,
            duration=timedelta(seconds=self.lockout_seconds),
            escalation=self.lockout_escalation,
            max_duration=timedelta(seconds=self.lockout_max_seconds),
        )
