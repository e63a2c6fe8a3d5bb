"""The Kubernetes manifests, rendered by kustomize and checked by kubeconform against the
Kubernetes and KEDA schemas; then what the schemas cannot say, checked here."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
import yaml

from deploy import k8s

OVERLAYS = [p.name for p in k8s.overlays()]
INGRESS_NAMESPACE = {"kubernetes.io/metadata.name": "ingress-nginx"}


@cache
def rendered(overlay: str) -> str:
    return k8s.render(k8s.OVERLAYS / overlay)


def of_kind(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [o for o in k8s.objects(rendered(overlay)) if o["kind"] == kind]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_against_the_kubernetes_and_keda_schemas(overlay: str) -> None:
    assert k8s.check(rendered(overlay)) == []


def test_a_misspelt_field_is_caught() -> None:
    objects = k8s.objects(rendered("dev"))
    scaled = next(o for o in objects if o["kind"] == "ScaledObject")
    scaled["spec"]["minReplicas"] = 1  # KEDA calls it minReplicaCount
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    problems = k8s.check(yaml.safe_dump_all(objects))
    assert any("ScaledObject" in p and "minReplicas" in p for p in problems), problems
    assert any("Deployment" in p and "livenesProbe" in p for p in problems), problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_probes_resources_and_a_disruption_budget(overlay: str) -> None:
    deployments = of_kind(overlay, "Deployment")
    assert {d["metadata"]["name"] for d in deployments} == {
        "gateway",
        "policy",
        "enrollment",
        "verification",
    }
    for deployment in deployments:
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    budgets = {b["metadata"]["name"] for b in of_kind(overlay, "PodDisruptionBudget")}
    assert budgets == {d["metadata"]["name"] for d in deployments}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_verification_scales_on_its_group_lag_and_the_gateway_on_cpu(overlay: str) -> None:
    [scaled] = of_kind(overlay, "ScaledObject")
    [trigger] = scaled["spec"]["triggers"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "verification"
    assert trigger["type"] == "redis-streams"
    assert (trigger["metadata"]["stream"], trigger["metadata"]["consumerGroup"]) == (
        "mfa.code.submitted",
        "verification",
    )
    assert "lagCount" in trigger["metadata"]
    [hpa] = of_kind(overlay, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "gateway"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_takes_traffic_from_outside(overlay: str) -> None:
    policies = of_kind(overlay, "NetworkPolicy")
    services = [d["spec"]["template"]["metadata"]["labels"] for d in of_kind(overlay, "Deployment")]
    for labels in services:
        covering = [
            p for p in policies if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
        ]
        assert covering, f"no NetworkPolicy selects {labels}"
        sources = [rule.get("from") for p in covering for rule in p["spec"].get("ingress", [])]
        if labels["app.kubernetes.io/name"] == "gateway" and overlay == "dev":
            assert None in sources  # from anywhere: the Ingress controller, or a port-forward
        elif labels["app.kubernetes.io/name"] == "gateway":
            [only] = sources  # production: the Ingress controller's namespace alone
            assert only == [{"namespaceSelector": {"matchLabels": INGRESS_NAMESPACE}}]
        else:
            assert None not in sources  # only the monitoring namespace, metrics only
    [ingress] = of_kind(overlay, "Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "gateway"


def test_production_runs_as_production_and_brings_its_own_secrets() -> None:
    [config] = of_kind("production", "ConfigMap")
    assert config["data"]["MFA_ENV"] == "production"
    assert of_kind("production", "Secret") == []  # made outside the repository
    [ingress] = of_kind("production", "Ingress")
    assert ingress["spec"]["tls"]


def test_production_believes_forwarded_headers_from_the_ingress_only() -> None:
    """Behind the Ingress every request comes from its pods: without trusted proxies all
    users would share one rate-limit address and HSTS would never be sent (review 2,
    finding 3). The range must parse as the gateway reads it."""
    from services.gateway.settings import GatewaySettings  # noqa: PLC0415

    [config] = of_kind("production", "ConfigMap")
    proxies = config["data"]["MFA_TRUSTED_PROXIES"]
    assert GatewaySettings(trusted_proxies=proxies).trusted_proxies == ("10.0.0.0/8",)
