"""Logins as a careful relying application drives them, through faults, and accounted.

Every virtual user is enrolled already (bench/population.py). A login: start it, wait for
its decision, type the current code. An error (a 5xx, a refused or cut connection) is
retried after a pause, on the next gateway when there are several, until the login's
deadline; a late code answer (504) is followed by polling the login, as the API asks.
What each login went through is recorded: its end state, how long it took, the errors
its user saw. Some logins are followed by a replay probe: a new login of the same user
sent the code just accepted, which must be refused.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp

CLIENT = {"Authorization": "Bearer dev-client-key"}
ADMIN = {"Authorization": "Bearer dev-admin-key"}
RETRY_PAUSE = 0.5


async def require_mfa_of_editors(gateway: str) -> None:
    """The policy every load runs under: the users it logs in (editors) need a code."""
    async with httpx.AsyncClient(base_url=gateway, headers=ADMIN) as admin:
        (await admin.put("/v1/admin/policy", json={"user_types": ["editor"]})).raise_for_status()


@dataclass
class LoginRecord:
    user: str
    started: float = 0.0
    finished: float | None = None  # when it was seen authenticated
    login_id: str | None = None
    status: str = "not_started"  # the last status seen
    code_answered: bool = True  # False while a submitted code has had no answer
    asked_for_code: bool = False
    errors: list[str] = field(default_factory=list)
    replay_accepted: bool | None = None  # None: no replay probe for this one

    @property
    def seconds(self) -> float | None:
        return None if self.finished is None else self.finished - self.started


class Gone(Exception):
    """The login's deadline passed."""


class LoginLoad:
    def __init__(
        self, gateways: list[str], secrets: dict[str, str], deadline_seconds: float = 90
    ) -> None:
        self._clients = [
            httpx.AsyncClient(base_url=url, headers=CLIENT, timeout=60) for url in gateways
        ]
        self._next = itertools.cycle(range(len(gateways)))
        self._secrets = secrets
        self._deadline_seconds = deadline_seconds
        self.records: list[LoginRecord] = []
        self._progress = asyncio.Event()  # set whenever a login signs in

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()

    async def run(self, users: list[str], concurrency: int, probe_every: int = 4) -> None:
        """Log every user in once, ``concurrency`` at a time."""
        gate = asyncio.Semaphore(concurrency)

        async def one(n: int, user: str) -> None:
            async with gate:
                record = LoginRecord(user, started=time.monotonic())
                self.records.append(record)
                await self.login(record, probe=probe_every > 0 and n % probe_every == 0)

        await asyncio.gather(*(one(n, user) for n, user in enumerate(users)))

    @property
    def done(self) -> int:
        return sum(r.finished is not None for r in self.records)

    async def until_done(self, count: int) -> None:
        """Return once ``count`` logins have signed in."""
        while self.done < count:
            self._progress.clear()
            await self._progress.wait()

    async def login(self, record: LoginRecord, probe: bool) -> None:
        deadline = record.started + self._deadline_seconds
        try:
            code = await self._sign_in(record, deadline)
            if probe and code is not None:
                replay = LoginRecord(record.user, started=time.monotonic())
                await self._sign_in(replay, deadline + 30, code=code)
                record.replay_accepted = replay.status == "authenticated"
        except Gone:
            pass

    async def _sign_in(
        self, record: LoginRecord, deadline: float, code: str | None = None
    ) -> str | None:
        """Sign in with the current code, or with ``code`` (a replay: one try only).
        Answers the code that was accepted."""
        body = {"user_id": record.user, "email": f"{record.user}@example.com"}
        created = await self._call(
            record, deadline, "POST", "/v1/logins", json={**body, "user_type": "editor"}
        )
        record.login_id = created.json()["login_id"]
        while await self._status(record, deadline, wait=10) == "pending":
            pass
        if code is not None:  # a replay probe: the answer is final
            return code if await self._submit(record, deadline, code, watch=False) else None
        for _ in range(3):
            typed = pyotp.TOTP(self._secrets[record.user]).now()
            if await self._submit(record, deadline, typed, watch=True):
                record.finished = time.monotonic()
                self._progress.set()
                return typed
            await asyncio.sleep(30 - time.time() % 30)  # then type the next code
        return None

    async def _submit(self, record: LoginRecord, deadline: float, code: str, watch: bool) -> bool:
        """Whether ``code`` signed the login in. After a late answer (504), or a refusal
        when ``watch``, the login is watched for a while: a copy of the code sent before
        may yet be accepted."""
        if record.status != "code_required":
            return record.status == "authenticated"
        record.code_answered = False
        path = f"/v1/logins/{record.login_id}/code"
        answer = await self._call(record, deadline, "POST", path, json={"code": code}, late=True)
        if answer.status_code == 200:
            record.code_answered = True
            record.status = "authenticated"
            return True
        record.errors.append(f"{answer.status_code} {_error_code(answer)}")
        if answer.status_code != 504:
            record.code_answered = True
            if not watch:
                return False
        patience = time.monotonic() + 10
        while time.monotonic() < patience:
            if await self._status(record, deadline) != "code_required":
                record.code_answered = True
                return record.status == "authenticated"
            await asyncio.sleep(RETRY_PAUSE)
        return False

    async def _status(self, record: LoginRecord, deadline: float, wait: float = 0) -> str:
        path = f"/v1/logins/{record.login_id}"
        response = await self._call(record, deadline, "GET", path, params={"wait": wait})
        record.status = response.json()["status"]
        record.asked_for_code = record.asked_for_code or record.status == "code_required"
        return record.status

    async def _call(
        self,
        record: LoginRecord,
        deadline: float,
        method: str,
        path: str,
        late: bool = False,
        **kw: Any,
    ) -> httpx.Response:
        """The request, retried on any gateway until it gets an answer that is not a
        server error (a 504 to a code, when ``late``, is an answer)."""
        while time.monotonic() < deadline:
            client = self._clients[next(self._next)]
            try:
                response = await client.request(method, path, **kw)
            except httpx.TransportError as exc:
                record.errors.append(type(exc).__name__)
            else:
                if response.status_code < 500 or (late and response.status_code == 504):
                    return response
                record.errors.append(f"{response.status_code} {_error_code(response)}")
            await asyncio.sleep(RETRY_PAUSE)
        raise Gone


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "-"


def summary(records: list[LoginRecord]) -> dict[str, Any]:
    """The figures of a run: what the fault suite and the soak report."""
    finished = sorted(r.seconds for r in records if r.seconds is not None)
    lost = [r for r in records if r.finished is None]
    errors = Counter(e for r in records for e in r.errors)
    probes = [r.replay_accepted for r in records if r.replay_accepted is not None]
    return {
        "logins": len(records),
        "authenticated": len(finished),
        "asked_for_code": sum(r.asked_for_code for r in records),
        "lost": len(lost),
        "stuck": sum(r.status == "pending" or not r.code_answered for r in lost),
        "replay_probes": len(probes),
        "accepted_twice": sum(probes),
        "longest_seconds": round(finished[-1], 2) if finished else None,
        "p99_seconds": round(finished[int(0.99 * (len(finished) - 1))], 2) if finished else None,
        "errors": dict(errors.most_common()),
    }
