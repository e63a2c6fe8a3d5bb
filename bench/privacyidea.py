"""privacyIDEA as its documentation sets it up, for the comparison bench.

Installed from PyPI into a virtualenv of its own under .tools/ (exact versions), run by
gunicorn with 2 workers on SQLite, its defaults otherwise (the audit log included).
TOTP tokens are enrolled through its REST API with secrets we generate, so the client
can compute the codes; a valid ``/validate/check`` by serial is the operation measured.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp

from deploy.processes import Child, free_port, port_open, wait_for

ROOT = Path(__file__).resolve().parent.parent
VERSION = "3.14"
GUNICORN = "27.0.1"
WORKERS = 2
HOME = ROOT / ".tools" / f"privacyidea-{VERSION}"
ADMIN, ADMIN_PASSWORD = "admin", secrets.token_urlsafe(16)


def install() -> Path:
    """The virtualenv's bin directory; created on first use."""
    bin_dir = HOME / "bin"
    if not (bin_dir / "gunicorn").exists():
        venv.create(HOME, with_pip=True, clear=True)
        pip = [str(bin_dir / "pip"), "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, f"privacyidea=={VERSION}", f"gunicorn=={GUNICORN}"], check=True)
    return bin_dir


def _config(workdir: Path) -> Path:
    config = workdir / "pi.cfg"
    settings = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'privacyidea.sqlite'}",
        "SECRET_KEY": secrets.token_hex(32),
        "PI_PEPPER": secrets.token_hex(32),
        "PI_ENCFILE": str(workdir / "enckey"),
        "PI_AUDIT_KEY_PRIVATE": str(workdir / "private.pem"),
        "PI_AUDIT_KEY_PUBLIC": str(workdir / "public.pem"),
        "PI_LOGFILE": str(workdir / "privacyidea.log"),
        "PI_UUID_FILE": str(workdir / "uuid.txt"),
    }
    config.touch(mode=0o600)  # it holds the keys
    config.write_text("".join(f"{key} = {value!r}\n" for key, value in settings.items()))
    return config


@dataclass
class PrivacyIdea:
    workdir: Path
    child: Child | None = None
    url: str = ""

    def start(self) -> None:
        bin_dir = install()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = str(_config(self.workdir))
        env = {**os.environ, "PRIVACYIDEA_CONFIGFILE": config}
        manage = [str(bin_dir / "pi-manage")]
        for command in (
            ["setup", "create_enckey"],
            ["setup", "create_audit_keys"],
            ["setup", "create_tables"],
            ["admin", "add", ADMIN, "-p", ADMIN_PASSWORD],
        ):
            subprocess.run([*manage, *command], env=env, check=True, capture_output=True)
        port = free_port()
        factory = f"privacyidea.app:create_app('production', {config!r}, silent=True)"
        argv = [str(bin_dir / "gunicorn"), "-w", str(WORKERS), "-b", f"127.0.0.1:{port}", factory]
        self.child = Child(
            "privacyidea",
            argv,
            env,
            self.workdir,
            self.workdir / "gunicorn.log",
            serving=lambda: port_open(port),
        ).start()
        wait_for(self.child.serving, 60, "privacyidea", [self.child])
        self.url = f"http://127.0.0.1:{port}"

    def pids(self) -> dict[str, int]:
        """The gunicorn master and its workers."""
        assert self.child is not None
        master = self.child.pid
        found = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        workers = {f"privacyidea worker {n}": int(pid) for n, pid in enumerate(found)}
        return {"privacyidea": master, **workers}

    async def enroll(self, count: int, concurrency: int = 4) -> dict[str, str]:
        """``count`` TOTP tokens, serial -> base32 secret."""
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as http:
            auth = await http.post("/auth", data={"username": ADMIN, "password": ADMIN_PASSWORD})
            token = auth.raise_for_status().json()["result"]["value"]["token"]
            tokens: dict[str, str] = {}
            gate = asyncio.Semaphore(concurrency)

            async def one(n: int) -> None:
                secret = pyotp.random_base32()
                serial = f"BENCH{n:06d}"
                async with gate:
                    answer = await http.post(
                        "/token/init",
                        headers={"Authorization": token},
                        data={"type": "totp", "serial": serial, "otpkey": hex_key(secret)},
                    )
                if not answer.json()["result"]["status"]:
                    raise RuntimeError(f"privacyIDEA refused token {serial}: {answer.text}")
                tokens[serial] = secret

            await asyncio.gather(*(one(n) for n in range(count)))
        return tokens

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()


def hex_key(base32_secret: str) -> str:
    """privacyIDEA takes an enrolled key in hex; authenticator apps show base32."""
    return base64.b32decode(base32_secret).hex()


if __name__ == "__main__":  # python -m bench.privacyidea: install only
    print(install(), file=sys.stderr)
