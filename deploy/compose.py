"""Parse docker-compose.yml with the loader Docker Compose itself uses (compose-go).

    python -m deploy.compose check [FILE]

docker-compose v1 is end-of-life, and Docker Compose v2+ cannot be installed from the
Go module proxy (`go install` refuses its go.mod); no Docker engine runs on the build
machines either. So a twenty-line Go program (deploy/compose-check) loads the file
through compose-go, pinned in its go.mod: the compose specification's schema,
interpolation, anchors, and references between services, volumes and networks.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys

from deploy.gotools import ROOT, TOOLS, go

SOURCE = ROOT / "deploy/compose-check"


def _digest() -> str:
    files = sorted(p for p in SOURCE.iterdir() if p.is_file())
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:10]


def binary() -> str:
    built = TOOLS / f"compose-check-{_digest()}" / "compose-check"
    if not built.exists():
        print(f"building compose-check into {built.parent} (once)", flush=True)
        go("build", "-trimpath", "-o", str(built), ".", cwd=SOURCE)
    return str(built)


def check(path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary(), path], capture_output=True, text=True, check=False)


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "check" or len(argv) > 2:
        print(__doc__)
        return 2
    result = check(argv[1] if len(argv) == 2 else str(ROOT / "docker-compose.yml"))
    print((result.stdout + result.stderr).strip())
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
