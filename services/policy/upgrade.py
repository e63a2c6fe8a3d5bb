"""Data from before organizations: the one policy becomes the default organization's.

Runs once per database at start (``shared.mongo.run_once``). When this goes:
``shared/upgrade.py``.
"""

from __future__ import annotations

import contextlib
from functools import partial

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.policy.domain import listing_key
from shared.identity import DEFAULT_ORGANIZATION
from shared.mongo import Document, run_once

BEFORE_ORGANIZATIONS = "current"  # the one policy's _id before there were organizations


async def bring_into_organizations(database: AsyncDatabase[Document]) -> None:
    await run_once(database, "organizations", partial(_move_the_policy, database["policies"]))


async def _move_the_policy(policies: AsyncCollection[Document]) -> int:
    old = await policies.find_one({"_id": BEFORE_ORGANIZATIONS})
    if old is None:
        return 0
    old["_id"] = DEFAULT_ORGANIZATION
    old["user_keys"] = sorted({listing_key(u) for u in old.get("users", [])})
    with contextlib.suppress(DuplicateKeyError):  # moved before, the old one left behind
        await policies.insert_one(old)
    await policies.delete_one({"_id": BEFORE_ORGANIZATIONS})
    return 1
