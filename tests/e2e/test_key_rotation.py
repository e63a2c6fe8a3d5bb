"""Rotating the encryption key with the stack up: add the new key, reseal, drop the old."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from pymongo import MongoClient

from deploy.localstack import ROOT
from shared.crypto import Keyring
from tests.real_stack import Stack, launch, new_user

pytestmark = pytest.mark.e2e


def sealing_key_ids(stack: Stack) -> set[str]:
    env = stack.processes.env
    with MongoClient(env["MFA_MONGODB_URL"]) as mongo:
        prefix = env["MFA_DATABASE_PREFIX"]
        return {
            doc["secret"]["key_id"]
            for service, collection in (
                ("enrollment", "credentials"),
                ("verification", "authenticators"),
            )
            for doc in mongo[f"{prefix}{service}"][collection].find({}, {"secret": 1})
        }


def test_secrets_move_to_a_new_key_and_the_old_one_can_go(
    redis_url: str, mongodb_url: str, tmp_path: Path
) -> None:
    old, new = Keyring.generate_spec("old"), Keyring.generate_spec("new")
    run = uuid.uuid4().hex[:8]
    namespace = {"MFA_STREAM_PREFIX": f"rot{run}:", "MFA_DATABASE_PREFIX": f"rot{run}_"}
    user = new_user()

    def stack(name: str, keys: str) -> Stack:
        env = {**namespace, "MFA_ENCRYPTION_KEYS": keys}
        return launch(redis_url, mongodb_url, tmp_path / name, **env)

    before = stack("before", old)
    try:
        before.set_policy(user_types=["editor"])
        secret = before.enroll(user)
        assert sealing_key_ids(before) == {"old"}
    finally:
        before.close()

    during = stack("during", f"{new},{old}")  # new seals, both open
    try:
        subprocess.run(
            [sys.executable, "-m", "deploy.reseal"],
            env={**os.environ, **during.processes.env},
            cwd=ROOT,
            check=True,
        )
        assert sealing_key_ids(during) == {"new"}
    finally:
        during.close()

    after = stack("after", new)  # the old key is gone
    try:
        after.next_step()
        login = after.start_login(user, f"{user}@example.com", "editor")
        assert login["status"] == "code_required"
        assert after.submit(login["login_id"], after.code(secret)).status_code == 200
    finally:
        after.close()
