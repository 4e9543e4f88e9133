"""The manifests for real clusters stay in step with the agent's code."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from netpolicy.agent.source import RESOURCES
from netpolicy.api.inventory import build_inventory
from netpolicy.api.loading import read_paths
from netpolicy.cli import app

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def docs() -> dict[str, dict]:  # type: ignore[type-arg]
    return {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "netpol-agent.yaml").read_text())}


def test_manifests_validate() -> None:
    inv = build_inventory(read_paths([str(DEPLOY)]))
    assert [e.key for e in inv.endpoints] == ["netpol-system/netpol-agent"]


def test_rbac_grants_read_on_exactly_what_the_agent_watches() -> None:
    plural = {"Pod": ("", "pods"), "Namespace": ("", "namespaces"), "Node": ("", "nodes"),
              "NetworkPolicy": ("networking.k8s.io", "networkpolicies")}
    for kind, resource in RESOURCES.items():
        if resource.custom is not None:
            group, _, name = resource.custom
            plural[kind] = (group, name)
    granted = {(group, r) for rule in docs()["ClusterRole"]["rules"] for r in rule["resources"]
               for group in rule["apiGroups"] if set(rule["verbs"]) == {"get", "list", "watch"}}
    assert granted == {plural[k] for k in RESOURCES}


def test_daemonset_args_are_options_of_agent_run() -> None:
    spec = docs()["DaemonSet"]["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    [container] = spec["containers"]
    assert container["securityContext"]["capabilities"]["add"] == ["NET_ADMIN"]
    assert container["env"][0]["name"] == "NODE_NAME"
    help_text = CliRunner().invoke(app, ["agent", "run", "--help"]).stdout
    assert container["args"][:2] == ["agent", "run"]
    for arg in container["args"][2:]:
        assert arg.split("=")[0] in help_text
