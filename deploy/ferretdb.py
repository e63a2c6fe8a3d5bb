"""FerretDB, the embedded MongoDB-compatible store of ``make run`` and the tests.

FerretDB 1.24.2 speaks the MongoDB wire protocol and keeps its data in SQLite files.
``python -m deploy.ferretdb build`` (what ``make ferretdb`` runs) builds it once from the
Go module proxy into ``.tools/`` and does nothing when that build is already there.

Why not a plain ``go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2``: that
binary panics at start, because ``build/version/version.txt`` is written by FerretDB's
release tooling and is not part of the module (FerretDB#2982). So the module is
downloaded (``go`` checks it against the checksum database; we compare its hash with the
pinned one as well), copied, given that file, patched with ``deploy/ferretdb-patches/``
and built with ``go build``. docs/embedded-store.md says what each patch fixes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from deploy.gotools import go, module_source

ROOT = Path(__file__).resolve().parent.parent
MODULE = "github.com/FerretDB/FerretDB"
VERSION = "v1.24.2"
MODULE_SUM = "h1:trrUU0LbmusMbyubhPS1IELncvrIwKrsRT2LW1UUWCw="  # go.sum line of v1.24.2
PATCHES = sorted((ROOT / "deploy/ferretdb-patches").glob("*.patch"))


def _patches_digest() -> str:
    digest = hashlib.sha256()
    for patch in PATCHES:
        digest.update(patch.read_bytes())
    return digest.hexdigest()[:10]


# A change to the patches is a new build, in a folder of its own.
BINARY = ROOT / ".tools" / f"ferretdb-{VERSION}-{_patches_digest()}" / "ferretdb"


# Go's collector at its default (GOGC=100) took a sixth of FerretDB's CPU under load;
# at 400 the heap may grow to five times what is live (tens of MiB here) between
# collections. Measured in bench/README.md; an operator's own GOGC wins.
SERVER_ENV = {"GOGC": "400"}


SQLITE_OPTIONS = urlencode({"_pragma": "synchronous(normal)"})


def server_command(data_dir: Path, port: int, metrics_port: int | None = None) -> list[str]:
    """FerretDB on SQLite files in ``data_dir``, on loopback only, telling nobody; with
    ``metrics_port``, its Prometheus metrics (requests by command) on /debug/metrics."""
    debug = f"127.0.0.1:{metrics_port}" if metrics_port else "-"  # "-": no listener
    return [
        str(BINARY),
        "--handler=sqlite",
        # A directory URI, percent-encoded by as_uri(); FerretDB wants the trailing slash.
        # WAL (FerretDB's default) synced at checkpoints, not at every commit: what a
        # process crash cannot lose, as MongoDB's default write concern (journal
        # flushed every 100 ms); only a machine crash may lose the last writes.
        f"--sqlite-url={data_dir.resolve().as_uri()}/?{SQLITE_OPTIONS}",
        f"--listen-addr=127.0.0.1:{port}",
        f"--state-dir={data_dir}",
        "--telemetry=disable",
        f"--debug-addr={debug}",
        "--log-level=error",  # a refused write (a duplicate key) is no warning here
        "--log-format=text",
    ]


def _writable(tree: Path) -> None:
    """The module cache is read-only; the copy we patch must not be."""
    for path in [tree, *tree.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def build() -> Path:
    if BINARY.exists():
        return BINARY
    print(f"building FerretDB {VERSION} into {BINARY.parent} (once)", flush=True)
    module = module_source(MODULE, VERSION, MODULE_SUM)
    with tempfile.TemporaryDirectory(prefix="ferretdb-build-") as workdir:
        source = Path(workdir) / "src"
        shutil.copytree(module, source)
        _writable(source)
        (source / "build/version/version.txt").write_text(f"{VERSION}\n")
        (source / "build/version/package.txt").write_text("imageshop-mfa\n")
        # git apply outside any repository works like patch(1); the ceiling keeps it there.
        subprocess.run(
            ["git", "apply", *map(str, PATCHES)],
            cwd=source,
            env={**os.environ, "GIT_CEILING_DIRECTORIES": workdir},
            check=True,
        )
        built = Path(workdir) / "ferretdb"
        go("build", "-trimpath", "-buildvcs=false", "-o", str(built), "./cmd/ferretdb", cwd=source)
        BINARY.parent.mkdir(parents=True, exist_ok=True)
        partial = BINARY.with_name("ferretdb.partial")
        shutil.copy2(built, partial)
        partial.replace(BINARY)  # complete or absent: a broken build is never reused
    # The check that matters: a binary without its version file panics right here.
    version = subprocess.run([BINARY, "--version"], capture_output=True, text=True, check=True)
    print(version.stdout, flush=True)
    return BINARY


def main() -> None:
    if sys.argv[1:] != ["build"]:
        raise SystemExit("usage: python -m deploy.ferretdb build")
    build()


if __name__ == "__main__":
    main()
