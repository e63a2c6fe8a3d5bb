"""Render the Kubernetes manifests (kustomize) and check every object against the
Kubernetes and KEDA schemas (kubeconform), offline.

    python -m deploy.k8s check            every overlay under deploy/k8s/overlays
    python -m deploy.k8s render OVERLAY   the YAML kubectl would apply

The tools are Go modules, installed like the embedded store (deploy/gotools.py). The
schemas come pinned too, since kubeconform's default (a download per kind) cannot reach
the network here: Kubernetes' from the kubernetes-validate package (a dev dependency;
its files refer to a shared definitions file, so each kind used is made standalone),
KEDA's from the CustomResourceDefinitions in the pinned KEDA module. Strict: an unknown
field anywhere is an error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from deploy.gotools import ROOT, TOOLS, GoTool, module_source

KUSTOMIZE = GoTool("sigs.k8s.io/kustomize/kustomize/v5", "v5.8.1")
KUBECONFORM = GoTool("github.com/yannh/kubeconform/cmd/kubeconform", "v0.8.0")
KEDA = ("github.com/kedacore/keda/v2", "v2.21.0", "h1:R6z2HZvstK4RLUMxroNACzBj74xGxt3kG59b5Xc+Xps=")
KEDA_CRDS = ("keda.sh_scaledobjects.yaml", "keda.sh_triggerauthentications.yaml")
KUBERNETES_VERSION = "1.37.0"
OVERLAYS = ROOT / "deploy/k8s/overlays"
SCHEMAS = TOOLS / f"k8s-schemas-{KUBERNETES_VERSION}-keda-{KEDA[1]}"
_BUNDLED = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
_DEFINITIONS_REF = '"/api/_definitions.json#/$defs/'


def render(overlay: Path) -> str:
    return subprocess.run(
        [str(KUSTOMIZE.install()), "build", str(overlay)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def objects(rendered: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def kubernetes_schema_name(api_version: str, kind: str) -> str:
    """kubeconform's file name for a kind: ``deployment-apps-v1``, ``service-v1``."""
    group, _, version = api_version.rpartition("/")
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix}"


def standalone(api_version: str, kind: str) -> None:
    """Write the strict schema of one Kubernetes kind with its definitions inside it."""
    folder = SCHEMAS / f"v{KUBERNETES_VERSION}-standalone-strict"
    target = folder / f"{kubernetes_schema_name(api_version, kind)}.json"
    source = _BUNDLED / f"v{KUBERNETES_VERSION}-local-strict" / target.name
    if target.exists() or not source.exists():
        return  # a kind with no schema stays missing: kubeconform then reports it
    definitions = (source.parent / "_definitions.json").read_text()
    schema = json.loads(source.read_text().replace(_DEFINITIONS_REF, '"#/$defs/'))
    schema["$defs"] = json.loads(definitions.replace(_DEFINITIONS_REF, '"#/$defs/'))["$defs"]
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(schema))


def _strict(schema: Any) -> Any:
    """An OpenAPI v3 schema of a CRD as JSON schema refusing unknown fields, as
    kubeconform's own converter makes them."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def keda_schemas() -> None:
    """KEDA's kinds, from the CRDs of the pinned module: ``keda.sh/<kind>_<version>.json``."""
    folder = SCHEMAS / "keda.sh"
    if folder.exists():
        return
    crds = module_source(*KEDA) / "config/crd/bases"
    made = SCHEMAS / "keda.sh.partial"
    made.mkdir(parents=True, exist_ok=True)
    for name in KEDA_CRDS:
        crd = yaml.safe_load((crds / name).read_text())
        kind = crd["spec"]["names"]["kind"].lower()
        for version in crd["spec"]["versions"]:
            schema = _strict(version["schema"]["openAPIV3Schema"])
            (made / f"{kind}_{version['name']}.json").write_text(json.dumps(schema))
    made.replace(folder)


def check(rendered: str) -> list[str]:
    """Problems kubeconform finds in ``rendered`` (none: every object is valid)."""
    for obj in objects(rendered):
        standalone(obj["apiVersion"], obj["kind"])
    keda_schemas()
    result = subprocess.run(
        [
            str(KUBECONFORM.install()),
            "-strict",
            "-summary",
            "-output=json",
            f"-kubernetes-version={KUBERNETES_VERSION}",
            "-schema-location",
            f"{SCHEMAS}/{{{{ .NormalizedKubernetesVersion }}}}-standalone{{{{ .StrictSuffix }}}}"
            "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
            "-schema-location",
            f"{SCHEMAS}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}"
            ".json",
            "-",
        ],
        input=rendered,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout or "{}")
    problems = [
        f"{r.get('kind')} {r.get('name')}: {r.get('status')} {r.get('msg', '')}".strip()
        for r in report.get("resources", [])
        if r.get("status") != "statusValid"
    ]
    valid = report.get("summary", {}).get("valid", 0)
    if valid != len(objects(rendered)):
        problems.append(f"{valid} of {len(objects(rendered))} objects valid: {result.stderr}")
    return problems


def overlays() -> Iterator[Path]:
    return iter(sorted(p for p in OVERLAYS.iterdir() if (p / "kustomization.yaml").exists()))


def main(argv: list[str]) -> int:
    if argv[:1] == ["render"] and len(argv) == 2:
        print(render(OVERLAYS / argv[1]), end="")
        return 0
    if argv != ["check"]:
        print(__doc__)
        return 2
    failed = False
    for overlay in overlays():
        rendered = render(overlay)
        problems = check(rendered)
        print(f"{overlay.name}: {len(objects(rendered))} objects, {len(problems)} problems")
        for problem in problems:
            print(f"  {problem}")
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
