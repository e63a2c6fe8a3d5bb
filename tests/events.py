"""Events as the tests send them, built in one place."""

from datetime import datetime

from shared.events import LoginAttempted


def login_attempted(login_id: str, at: datetime, user_id: str = "u1") -> LoginAttempted:
    return LoginAttempted(
        occurred_at=at,
        correlation_id=login_id,
        organization_id="acme",
        login_id=login_id,
        user_id=user_id,
        email=f"{user_id}@example.com",
        user_type="editor",
    )
