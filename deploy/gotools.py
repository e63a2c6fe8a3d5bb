"""Go-built tools, pinned to an exact version, installed once into ``.tools/``.

``go install module/cmd@version`` fetches from the Go module proxy and checks every
module against the checksum database; each tool lands in a folder named by its
version, so a new pin is a new install and an old binary is never reused by mistake.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"


def go(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    found = shutil.which("go")
    if found is None:
        raise SystemExit(
            "This tool is built with Go, which is not installed: install Go 1.24 or newer "
            "(https://go.dev/dl)."
        )
    full_env = {**os.environ, "GOWORK": "off", "GOFLAGS": "-mod=readonly", **(env or {})}
    result = subprocess.run(
        [found, *args], cwd=cwd, env=full_env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"go {' '.join(args)} failed:\n{result.stderr.strip()}")
    return result.stdout


@dataclass(frozen=True)
class GoTool:
    package: str  # what `go install` builds, e.g. github.com/yannh/kubeconform/cmd/kubeconform
    version: str

    @property
    def name(self) -> str:
        """The binary's name: the last path element, skipping a major version (``/v5``)."""
        parts = self.package.rstrip("/").split("/")
        return parts[-2] if re.fullmatch(r"v\d+", parts[-1]) else parts[-1]

    @property
    def binary(self) -> Path:
        return TOOLS / f"{self.name}-{self.version}" / self.name

    def install(self) -> Path:
        if not self.binary.exists():
            print(f"installing {self.package}@{self.version} into {self.binary.parent}", flush=True)
            go("install", f"{self.package}@{self.version}", env={"GOBIN": str(self.binary.parent)})
        return self.binary


def module_source(module: str, version: str, expected_sum: str) -> Path:
    """A module's files from the proxy (read-only, in Go's module cache), after checking
    its hash against the pinned one."""
    found: dict[str, Any] = json.loads(go("mod", "download", "-json", f"{module}@{version}"))
    if found.get("Sum") != expected_sum:
        raise SystemExit(f"{module}@{version} has hash {found.get('Sum')}, not {expected_sum}")
    return Path(found["Dir"])
