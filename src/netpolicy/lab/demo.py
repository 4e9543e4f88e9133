"""`netpol demo`: the classic NetworkPolicy exercise, run step by step in the lab with the
real kubectl and real curl, each step shown with its command, its output, and whether it
did what the exercise says it does.

Every step states what must happen (the page is served, curl times out after 3 s, ...):
the demo is also a test. It exits 1 if any step misbehaves.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Check = Callable[["Outcome"], str | None]
"""Returns None when the outcome is as expected, else what went wrong."""


@dataclass(frozen=True)
class Outcome:
    code: int
    output: str
    seconds: float


@dataclass(frozen=True)
class Step:
    say: str
    command: str
    check: Check
    capture: str | None = None
    """Keep the command's output (stripped) in this variable for later steps."""


def succeeds_with(text: str) -> Check:
    def check(o: Outcome) -> str | None:
        if o.code != 0:
            return f"exited with {o.code}"
        return None if text in o.output else f"the output has no {text!r}"
    return check


def succeeds(o: Outcome) -> str | None:
    return None if o.code == 0 else f"exited with {o.code}"


def times_out(after: float) -> Check:
    def check(o: Outcome) -> str | None:
        if o.code == 0:
            return "it succeeded"
        if o.seconds < after * 0.9:
            return f"it failed after {o.seconds:.1f}s, not by timing out after {after:g}s"
        return None
    return check


def shows_all(*texts: str) -> Check:
    def check(o: Outcome) -> str | None:
        missing = [t for t in texts if t not in o.output]
        return f"the output lacks {', '.join(map(repr, missing))}" if missing else None
    return check


# A free local port for port-forward and proxy, chosen when the step runs.
FREE_PORT = ("PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); "
             "print(s.getsockname()[1])')")


def exercise(examples: Path) -> list[Step]:
    tw = examples / "testweb"
    return [
        Step("Start clean: remove what an earlier run of the demo may have left.",
             "kubectl delete deployment/testweb service/testweb pod/testcurl pod/testkurl "
             "networkpolicy/deny-all-for-testweb networkpolicy/allow-testcurl-for-testweb "
             "networkpolicy/allow-all-to-open-testweb --ignore-not-found --wait=true", succeeds),
        Step("Run a web server in a pod.",
             "kubectl create deployment testweb --image=nginx", succeeds),
        Step("Wait until it runs.", "kubectl rollout status deployment/testweb --timeout=60s",
             succeeds),
        Step("Find its IP address.",
             "kubectl get pods -l app=testweb -o json | jq -r .items[0].status.podIP",
             succeeds, capture="IP"),
        Step("Connect to it from here.", 'curl -s -m5 "$IP" | grep title',
             succeeds_with("Welcome to nginx!")),
        Step("Deny all ingress to the testweb pods (a policy selecting them, with `ingress: []`).",
             f"kubectl apply -f {tw / 'deny-all-for-testweb.yaml'}", succeeds),
        Step("Connect again: the pod is isolated, curl times out after 3 seconds.",
             'curl -s -m3 "$IP"', times_out(3)),
        Step("Allow ingress from pods labelled run=testcurl (policies add up).",
             f"kubectl apply -f {tw / 'allow-testcurl-for-testweb.yaml'}", succeeds),
        Step("From a pod named testcurl (`kubectl run` labels it run=testcurl): the page.",
             'kubectl run testcurl --rm -i --image=centos --restart=Never -- curl -s -m3 "$IP"',
             succeeds_with("Welcome to nginx!")),
        Step("From a pod named testkurl: not allowed, so it times out after 3 seconds.",
             'kubectl run testkurl --rm -i --image=centos --restart=Never -- curl -s -m3 "$IP"',
             times_out(3)),
        Step("Scale to two pods and put a Service in front of them.",
             "kubectl scale deployment testweb --replicas=2 && "
             "kubectl rollout status deployment/testweb --timeout=60s && "
             "kubectl expose deployment testweb --port=80", succeeds),
        Step("Open one of the two to everybody (label it open=yes; a policy allows all to it).",
             "kubectl label $(kubectl get pods -l app=testweb -o name | head -1) open=yes && "
             f"kubectl apply -f {tw / 'allow-all-to-open-testweb.yaml'}", succeeds),
        Step("Thirty connections to the Service's ClusterIP: they pass or fail by the backend "
             "chosen (policies act after the Service's DNAT).",
             'CIP=$(kubectl get svc testweb -o jsonpath="{.spec.clusterIP}"); '
             'seq 30 | xargs -P 30 -I{} sh -c \'curl -s -m2 -o /dev/null "$0" && echo passed || '
             'echo "timed out"\' "$CIP" | sort | uniq -c',
             shows_all("passed", "timed out")),
        Step("The engine says the same, per backend.",
             "netpol explain --from 198.18.0.99 --service default/testweb --port 80",
             shows_all("1 of 2 backends admit it")),
        Step("kubectl port-forward reaches a denied pod: it connects from the pod's node, "
             "which policies always allow (for debugging).",
             f"POD=$(kubectl get pods -l app=testweb,open!=yes -o name | head -1); {FREE_PORT}; "
             "kubectl port-forward \"$POD\" $PORT:80 >/dev/null & PF=$!; "
             "for i in $(seq 50); do curl -s -m1 localhost:$PORT >/tmp/netpol-demo-pf && break; "
             "sleep 0.1; done; kill $PF; grep title /tmp/netpol-demo-pf",
             succeeds_with("Welcome to nginx!")),
        Step("So does the API server's service proxy, through `kubectl proxy`.",
             f"{FREE_PORT}; kubectl proxy --port=$PORT >/dev/null & KP=$!; "
             "for i in $(seq 50); do curl -s -m1 "
             "localhost:$PORT/api/v1/namespaces/default/services/testweb:80/proxy/ "
             ">/tmp/netpol-demo-kp && grep -q title /tmp/netpol-demo-kp && break; sleep 0.1; done; "
             "kill $KP; grep title /tmp/netpol-demo-kp", succeeds_with("Welcome to nginx!")),
        Step("Delete every policy: all traffic passes again.",
             'kubectl delete networkpolicies --all && sleep 0.5 && curl -s -m3 "$IP" | grep title',
             succeeds_with("Welcome to nginx!")),
        Step("Clean up.", "kubectl delete service testweb && kubectl delete deployment testweb",
             succeeds),
    ]


def microservices(examples: Path) -> list[Step]:
    app = examples / "microservices"
    counter = "curl -s -m3 http://$WEBUI/json"
    return [
        Step("Start clean.", "kubectl delete namespace coins other --ignore-not-found --wait=true",
             succeeds),
        Step("A small app in its own namespace: rng, hasher, redis, a worker, a web UI.",
             f"kubectl apply -f {app / 'namespaces.yaml'} -f {app / 'app.yaml'} && "
             "kubectl -n coins rollout status deployment/worker --timeout=60s && "
             "kubectl -n coins rollout status deployment/webui --timeout=60s", succeeds),
        Step("Where the web UI answers.",
             'kubectl -n coins get svc webui -o jsonpath="{.spec.clusterIP}"', succeeds,
             capture="WEBUI"),
        Step("The worker is counting hashes.",
             f"sleep 2; {counter}", succeeds_with('"hashes"')),
        Step("Isolate the namespace, but keep the web UI public.",
             f"kubectl apply -f {app / 'policies.yaml'}", succeeds),
        Step("The web UI still answers from outside the cluster.", f"{counter}",
             succeeds_with('"hashes"')),
        Step("...and from another namespace.",
             "kubectl -n other run probe --rm -i --image=centos --restart=Never -- "
             "curl -s -m3 http://webui.coins/json", succeeds_with('"hashes"')),
        Step("The internal services do not, from another namespace...",
             "kubectl -n other run probe --rm -i --image=centos --restart=Never -- "
             "curl -s -m3 http://rng.coins/32", times_out(3)),
        Step("...nor from outside, through their ClusterIPs.",
             'curl -s -m3 -o /dev/null http://$(kubectl -n coins get svc rng '
             '-o jsonpath="{.spec.clusterIP}")/32', times_out(3)),
        Step("And the app keeps working inside its namespace: the count still grows.",
             f'A=$({counter} | tr -dc 0-9); sleep 2; B=$({counter} | tr -dc 0-9); '
             'echo "$A -> $B"; [ "$B" -gt "$A" ]', succeeds),
        Step("Clean up.", "kubectl delete namespace coins other", succeeds),
    ]


def admin(examples: Path) -> list[Step]:
    """An administrator's Deny beating a NetworkPolicy that allows everything, in real
    traffic: the guardrails of examples/admin-tiers over the payments team's allow-all."""
    tiers = examples / "admin-tiers"
    namespaces = "payments monitoring tenant-a tenant-b"
    from_tenant = 'kubectl -n tenant-b exec client -- curl -s -m3 "$LEDGER"'
    from_monitoring = 'kubectl -n monitoring exec client -- curl -s -m3 "$LEDGER"'
    return [
        Step("Start clean.",
             f"kubectl delete -f {tiers / 'admin-policies.yaml'} --ignore-not-found && "
             f"kubectl delete namespace {namespaces} --ignore-not-found --wait=true", succeeds),
        Step("A sensitive namespace with a ledger server, a monitoring namespace and two "
             "tenants; client pods in monitoring and tenant-b.",
             "kubectl create namespace payments && kubectl label namespace payments sensitive=true"
             " && kubectl create namespace monitoring"
             " && kubectl create namespace tenant-a && kubectl label namespace tenant-a tenant=a"
             " && kubectl create namespace tenant-b && kubectl label namespace tenant-b tenant=b"
             " && kubectl -n payments run ledger --image=nginx --labels=app=ledger"
             " && kubectl -n monitoring run client --image=centos -- sleep infinity"
             " && kubectl -n tenant-b run client --image=centos -- sleep infinity"
             " && kubectl -n payments wait --for=condition=Ready pod/ledger --timeout=60s"
             " && kubectl -n monitoring wait --for=condition=Ready pod/client --timeout=60s"
             " && kubectl -n tenant-b wait --for=condition=Ready pod/client --timeout=60s",
             succeeds),
        Step("The ledger's address.",
             'kubectl -n payments get pod ledger -o jsonpath="{.status.podIP}"', succeeds,
             capture="LEDGER"),
        Step("The payments team opens its namespace to everyone (a NetworkPolicy allowing all "
             "ingress), and tenant-a protects its backend.",
             f"kubectl apply -f {tiers / 'networkpolicies.yaml'}", succeeds),
        Step("So a tenant's pod reaches the ledger.", f"{from_tenant} | grep title",
             succeeds_with("Welcome to nginx!")),
        Step("The platform team's guardrails: only monitoring may reach sensitive namespaces "
             "(a ClusterNetworkPolicy in the Admin tier), DNS passed down to NetworkPolicy, "
             "a baseline between tenants.",
             f"kubectl apply -f {tiers / 'admin-policies.yaml'} && kubectl get cnp,anp,banp",
             succeeds_with("sensitive-namespaces")),
        Step("The tenant's pod again: the admin Deny beats the NetworkPolicy's allow, curl times "
             "out after 3 seconds.", from_tenant, times_out(3)),
        Step("Monitoring still reaches it: the admin tier accepts it before any NetworkPolicy.",
             f"{from_monitoring} | grep title", succeeds_with("Welcome to nginx!")),
        Step("The engine says why, reading the cluster: the first admin rule that matches.",
             "netpol explain --from tenant-b/client --to payments/ledger --port 80",
             shows_all("DENIED", "sensitive-namespaces", "nobody-else")),
        Step("Remove the guardrail.", "kubectl delete clusternetworkpolicy sensitive-namespaces",
             succeeds),
        Step("The NetworkPolicy's allow-all decides again.", f"{from_tenant} | grep title",
             succeeds_with("Welcome to nginx!")),
        Step("Clean up.",
             f"kubectl delete -f {tiers / 'admin-policies.yaml'} --ignore-not-found && "
             f"kubectl delete namespace {namespaces}", succeeds),
    ]


def run(steps: list[Step], env: dict[str, str], out: Callable[[str], None],
        pause: Callable[[], None] | None = None, settle: Callable[[], None] | None = None) -> bool:
    """Run the steps in order, showing each; False if any did not do what it says.
    `settle` runs after each step: the lab's agents catch up with what it changed (a
    person typing the next command gives them that time too)."""
    env = dict(env)
    ok = True
    for n, step in enumerate(steps, 1):
        out(f"\n# {n}. {step.say}")
        out(f"$ {step.command}")
        started = time.monotonic()
        done = subprocess.run(["bash", "-c", step.command], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE if step.capture else subprocess.STDOUT,
                              text=True, timeout=180)
        seconds = time.monotonic() - started
        text = (done.stdout + (done.stderr or "")).rstrip()
        if text:
            out(text)
        problem = step.check(Outcome(done.returncode, text, seconds))
        if step.capture:
            env[step.capture] = done.stdout.strip()
        if problem:
            out(f"  !! unexpected: {problem} ({seconds:.1f}s)")
            ok = False
        else:
            out(f"  -> as expected ({seconds:.1f}s)")
        if settle is not None:
            settle()
        if pause is not None:
            pause()
    return ok


def demo_env(kubeconfig: Path) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(kubeconfig)}
