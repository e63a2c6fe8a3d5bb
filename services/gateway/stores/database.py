"""The gateway's database, as the stores over it: built, prepared and swept together."""

from __future__ import annotations

from dataclasses import dataclass

from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.stores.api_keys import KeyStore
from services.gateway.stores.audit import AuditLog
from services.gateway.stores.devices import RememberedDevices
from services.gateway.stores.logins import LoginStore
from services.gateway.stores.operations import OperationStore
from services.gateway.stores.organizations import Organizations
from services.gateway.stores.read_models import AuthenticatorView, PolicyView, UserView
from shared.clock import Clock
from shared.mongo import Document, Retention


@dataclass(frozen=True)
class Stores:
    db: AsyncDatabase[Document]
    logins: LoginStore
    operations: OperationStore
    policy_view: PolicyView
    authenticators: AuthenticatorView
    audit: AuditLog
    organizations: Organizations
    keys: KeyStore
    users: UserView
    devices: RememberedDevices

    @classmethod
    def over(cls, db: AsyncDatabase[Document]) -> Stores:
        return cls(
            db,
            LoginStore(db),
            OperationStore(db),
            PolicyView(db),
            AuthenticatorView(db),
            AuditLog(db),
            Organizations(db),
            KeyStore(db),
            UserView(db),
            RememberedDevices(db),
        )

    async def prepare(self, clock: Clock) -> None:
        """Create indexes and the default organization."""
        for store in (
            self.logins,
            self.operations,
            self.audit,
            self.policy_view,
            self.keys,
            self.users,
            self.devices,
        ):
            await store.ensure_indexes()
        await self.organizations.ensure_default(clock.now())

    @property
    def retentions(self) -> tuple[Retention, ...]:
        return tuple(s.retention for s in (self.logins, self.operations, self.audit, self.devices))
