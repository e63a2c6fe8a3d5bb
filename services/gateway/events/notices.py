"""Notices for the user, published on ``mfa.user.notice`` for the relying application
to mail: a new authenticator, a recovery code used, a reset, a lock, a new set of
recovery codes, a device remembered.

A notice is derived from the event or operation that caused it, and its event id
from that source, so the copy a redelivery publishes carries the same id: the
application sends one mail per id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import structlog

from shared import streams
from shared.clock import Clock
from shared.events import NoticeKind, UserNotice
from shared.identity import UserRef
from shared.messaging import Publisher

log = structlog.get_logger("mfa.gateway")
_NOTICE_IDS = uuid.UUID("5b0f4f1e-7a53-4d55-9a47-2f3d8e6c1a90")


@dataclass(frozen=True)
class Notices:
    publisher: Publisher
    clock: Clock

    async def send(
        self,
        kind: NoticeKind,
        user: UserRef,
        email: str | None,
        source: str,
        locked_until: datetime | None = None,
        recovery_codes_left: int | None = None,
        remembered_until: datetime | None = None,
    ) -> None:
        """Publish one notice caused by ``source`` (an event or operation id); none when
        no e-mail address is known for the user (MFA never saw them sign in)."""
        if email is None:
            log.warning("notice_without_email", kind=kind, stream=streams.USER_NOTICE)
            return
        await self.publisher.publish(
            UserNotice(
                event_id=uuid.uuid5(_NOTICE_IDS, f"{source}:{kind}"),
                occurred_at=self.clock.now(),
                correlation_id=source,
                organization_id=user.organization_id,
                user_id=user.user_id,
                kind=kind,
                email=email,
                locked_until=locked_until,
                recovery_codes_left=recovery_codes_left,
                remembered_until=remembered_until,
            ),
            correlation_id=source,
        )
        log.info("user_notified", kind=kind, stream=streams.USER_NOTICE)
