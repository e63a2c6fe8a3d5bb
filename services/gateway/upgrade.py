"""Data from before organizations: logins, audit rows and read models become the default
organization's, and so do the demo directory's users.

Runs once per database at start (``shared.mongo.run_once``). When this goes:
``shared/upgrade.py``.
"""

from __future__ import annotations

import contextlib
from functools import partial

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.identity import DEFAULT_ORGANIZATION
from shared.mongo import Document, run_once
from shared.upgrade import move_user_documents, user_from_before

BEFORE_ORGANIZATIONS = "current"  # the one policy's _id in the policy view


async def bring_into_organizations(database: AsyncDatabase[Document]) -> None:
    await run_once(database, "organizations", partial(_move_core, database))
    await run_once(database, "organizations-directory", partial(_move_directory, database["users"]))


async def _move_core(database: AsyncDatabase[Document]) -> int:
    moved = 0
    for name in ("logins", "audit"):  # documents that only lack the organization
        done = await database[name].update_many(
            {"organization_id": {"$exists": False}},
            {"$set": {"organization_id": DEFAULT_ORGANIZATION}},
        )
        moved += done.modified_count
    moved += await _move_the_policy(database["policy_view"])
    return moved + await move_user_documents(database["authenticator_view"])


async def _move_the_policy(policy_view: AsyncCollection[Document]) -> int:
    old = await policy_view.find_one({"_id": BEFORE_ORGANIZATIONS})
    if old is None:
        return 0
    with contextlib.suppress(DuplicateKeyError):
        await policy_view.insert_one({**old, "_id": DEFAULT_ORGANIZATION})
    await policy_view.delete_one({"_id": BEFORE_ORGANIZATIONS})
    return 1


async def _move_directory(users: AsyncCollection[Document]) -> int:
    """The demo directory's users keep their document ids (its e-mail index forbids a
    second copy); they gain the default organization and a canonical user id."""
    moved = 0
    async for doc in users.find({"organization_id": {"$exists": False}}):
        user = user_from_before(doc["_id"])
        if user is not None:
            fields = {"organization_id": user.organization_id, "user_id": user.user_id}
            await users.update_one({"_id": doc["_id"]}, {"$set": fields})
            moved += 1
    return moved
