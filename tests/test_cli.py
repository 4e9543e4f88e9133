"""The command line: every command, its output formats, and exit codes a script can use."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netpolicy.cli import app

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TESTWEB = str(EXAMPLES / "testweb")
APP = str(EXAMPLES / "microservices")
runner = CliRunner()


def run(*args: str, stdin: str | None = None, code: int = 0) -> str:
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return result.stdout


def test_connectivity_text_lists_every_ordered_pair_sorted() -> None:
    out = run("connectivity", "-f", TESTWEB)
    lines = out.splitlines()
    assert lines[0].split() == ["FROM", "TO", "ALLOWED"]
    rows = [line.split(None, 2) for line in lines[1:]]
    assert len(rows) == 9 and rows == sorted(rows)
    assert ["default/testkurl", "default/testweb", "none"] in rows
    assert ["default/testcurl", "default/testweb", "All"] in rows


def test_connectivity_json_csv_md() -> None:
    data = json.loads(run("connectivity", "-f", TESTWEB, "-o", "json", "--to", "default/testweb"))
    assert data["endpoints"] == ["default/testcurl", "default/testkurl", "default/testweb"]
    by_pair = {(c["from"], c["to"]): c for c in data["connections"]}
    assert by_pair[("default/testcurl", "default/testweb")]["ports"]["TCP"] == [[1, 65535]]
    assert by_pair[("default/testkurl", "default/testweb")]["allowed"] == "none"
    assert run("connectivity", "-f", TESTWEB, "-o", "csv").startswith("FROM,TO,ALLOWED\n")
    assert run("connectivity", "-f", TESTWEB, "-o", "md").startswith("| FROM | TO | ALLOWED |")


def test_connectivity_shows_port_lists() -> None:
    text = """
apiVersion: v1
kind: Pod
metadata: {name: s, labels: {app: s}}
spec: {containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: c}
spec: {containers: [{name: c, image: i}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p}
spec:
  podSelector: {matchLabels: {app: s}}
  ingress: [{ports: [{port: 80}, {port: 8080, endPort: 8090}, {port: 53, protocol: UDP}]}]
"""
    out = run("connectivity", "-f", "-", "--from", "default/c", "--to", "default/s", stdin=text)
    assert out.splitlines()[1].split(None, 2) == ["default/c", "default/s",
                                                   "TCP 80,8080-8090; UDP 53"]


def test_connectivity_dot_is_valid_graphviz() -> None:
    out = run("connectivity", "-f", APP, "-o", "dot")
    assert out.startswith("digraph connectivity {")
    assert '"other/client" -> "coins/webui" [label="All"];' in out
    assert '"other/client" -> "coins/redis"' not in out
    if shutil.which("dot"):
        svg = subprocess.run(["dot", "-Tsvg"], input=out, capture_output=True, text=True,
                             check=True).stdout
        assert "<svg" in svg


def test_namespace_and_glob_filters() -> None:
    out = run("connectivity", "-f", APP, "-n", "other")
    assert [line.split()[:2] for line in out.splitlines()[1:]] == [["other/client", "other/client"]]
    out = run("connectivity", "-f", APP, "--from", "other/*", "--to", "coins/w*")
    assert [line.split() for line in out.splitlines()[1:]] == [
        ["other/client", "coins/webui", "All"], ["other/client", "coins/worker", "none"]]


def test_an_unknown_filter_is_an_error() -> None:
    result = runner.invoke(app, ["connectivity", "-f", APP, "--from", "nope/*"])
    assert result.exit_code == 2 and "matches no endpoint" in result.stderr


def test_matrix_json_contract() -> None:
    data = json.loads(run("matrix", "-f", APP, "-f", TESTWEB, "--port", "80", "-o", "json"))
    assert list(data) == ["port", "protocol", "pods", "allowed"]
    assert data["port"] == 80 and data["protocol"] == "TCP"
    assert data["pods"] == sorted(data["pods"]) and "coins/webui" in data["pods"]
    assert set(data["allowed"]) == set(data["pods"])
    for destinations in data["allowed"].values():
        assert destinations == sorted(destinations)
    assert "default/testweb" not in data["allowed"]["default/testkurl"]
    assert "default/testweb" in data["allowed"]["default/testcurl"]
    assert data["allowed"]["other/client"] == ["coins/webui", "default/testcurl",
                                               "default/testkurl", "other/client"]


def test_matrix_text_grid_and_protocol() -> None:
    out = run("matrix", "-f", TESTWEB, "--port", "80", "--protocol", "udp")
    head, *rows = out.splitlines()
    assert head.split()[0] == "UDP/80"
    assert rows[1].split() == ["default/testkurl", ".", ".", "X"]
    assert "X denied" in out


def test_explain_text_and_json_and_exit_codes() -> None:
    out = run("explain", "-f", TESTWEB, "--from", "default/testcurl", "--to", "default/testweb",
              "--port", "80")
    assert out.startswith("default/testcurl -> default/testweb TCP/80: ALLOWED")
    assert "allowed by default/allow-testcurl-for-testweb ingress[0]" in out
    out = run("explain", "-f", TESTWEB, "--from", "default/testkurl", "--to", "default/testweb",
              "--port", "80", "-o", "json")
    data = json.loads(out)
    assert data["allowed"] is False and data["ingress"]["reason"] == "no-rule-allows"
    assert data["ingress"]["isolatedBy"] == ["default/allow-testcurl-for-testweb",
                                             "default/deny-all-for-testweb"]
    run("explain", "-f", TESTWEB, "--from", "default/testkurl", "--to", "default/testweb",
        "--port", "80", "--exit-code", code=1)


def test_explain_an_external_address() -> None:
    out = run("explain", "-f", APP, "--from", "203.0.113.7", "--to", "coins/webui", "--port", "80")
    assert "ALLOWED" in out.splitlines()[0] and "is not a pod" in out


def test_explain_through_a_service() -> None:
    out = run("explain", "-f", TESTWEB, "--from", "default/testkurl", "--service",
              "default/testweb", "--port", "80", "-o", "json")
    data = json.loads(out)
    assert data["allowed"] is False and data["backends"][0]["backend"] == "default/testweb"


@pytest.mark.parametrize("args", [
    ["explain", "-f", TESTWEB, "--from", "default/nope", "--to", "default/testweb", "--port", "80"],
    ["explain", "-f", TESTWEB, "--from", "nope", "--to", "default/testweb", "--port", "80"],
    ["matrix", "-f", "/nonexistent", "--port", "80"],
    ["explain", "-f", TESTWEB, "--from", "default/testkurl", "--port", "80"],
])
def test_bad_input_exits_2_with_a_message(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and result.stderr.startswith("error:")


def test_invalid_policy_stops_everything_with_every_error() -> None:
    bad = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad}
spec:
  podSelector: {}
  ingress:
  - from: [{ipBlock: {cidr: 10.0.0.0/24, except: [10.0.0.0/24]}}]
    ports: [{port: 80, endPort: 79}, {protocol: ICMP}]
"""
    result = runner.invoke(app, ["connectivity", "-f", "-"], input=bad)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        'error: NetworkPolicy.networking.k8s.io "bad" is invalid: ['
        "spec.ingress[0].ports[0].endPort: Invalid value: 79: must be greater than or equal "
        "to `port`, "
        'spec.ingress[0].ports[1].protocol: Unsupported value: "ICMP": supported values: '
        '"TCP", "UDP", "SCTP", '
        'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.0.0.0/24": '
        "must be a strict subset of `cidr`]")


def test_an_unknown_field_in_a_manifest_is_an_error_not_a_wider_policy() -> None:
    # `frm` for `from`: dropped, the rule would allow every peer.
    typo = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: typo}
spec:
  podSelector: {}
  ingress:
  - frm: [{podSelector: {matchLabels: {app: nobody}}}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: typo}
spec:
  priority: 3
  subject: {namespaces: {}}
  ingress:
  - {action: Deny, from: [{namespaces: {}}], prots: [{portNumber: {port: 80, protocol: TCP}}]}
"""
    result = runner.invoke(app, ["connectivity", "-f", "-"], input=typo)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        'error: NetworkPolicy.networking.k8s.io "typo" is invalid: '
        'unknown field "spec.ingress[0].frm"',
        'error: AdminNetworkPolicy.policy.networking.k8s.io "typo" is invalid: '
        'unknown field "spec.ingress[0].prots"']


def test_validate() -> None:
    assert run("validate", "-f", str(EXAMPLES)).startswith(
        "valid: 7 NetworkPolicies, 3 tiered cluster policies, ")
    bad = ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
           "metadata: {name: Bad_Name}\nspec: {podSelector: {}}")
    result = runner.invoke(app, ["validate", "-f", "-", "-o", "json"], input=bad)
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["valid"] is False
    assert data["objects"][0]["errors"][0]["field"] == "metadata.name"


def test_every_command_has_help() -> None:
    for command in ("connectivity", "matrix", "explain", "validate", "version"):
        assert "Usage" in run(command, "--help")


def test_installed_as_a_kubectl_plugin() -> None:
    if not shutil.which("kubectl") or not shutil.which("kubectl-netpol"):
        pytest.skip("kubectl or the kubectl-netpol entry point is not on PATH")
    out = subprocess.run(["kubectl", "netpol", "explain", "-f", TESTWEB, "--from",
                          "default/testcurl", "--to", "default/testweb", "--port", "80"],
                         capture_output=True, text=True, check=True).stdout
    assert "ALLOWED" in out
