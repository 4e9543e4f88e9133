"""The lab's Kubernetes API server: the REST API the real kubectl speaks, on a `Store`.

    create_app(store, token, runtime)  the aiohttp application
    serve(app, ssl_context=...)        bind it (127.0.0.1, any port) -> Served(port, close)
    self_signed(), kubeconfig(...)     TLS (kubectl sends tokens over TLS only) and config
    PodRuntime, Attachment             what exec/attach/logs/port-forward/proxy need
    FakePodRuntime                     pods as local processes, for tests

Modules: `app` (routes, auth, errors), `rest` (the verbs), `decode`, `patch`, `schemas`,
`openapi`, `discovery`, `tables`, `admission` + `defaults`, `customresources` (CRDs and
custom resources in admission) + `structural` (their schemas: prune, default, validate),
`streams` (exec, attach, logs), `spdy` (port-forward), `proxy`, `credentials`, `fake`.
"""

from netpolicy.lab.apiserver.admission import install_admission
from netpolicy.lab.apiserver.app import Served, create_app, serve
from netpolicy.lab.apiserver.credentials import kubeconfig, self_signed, write_kubeconfig
from netpolicy.lab.apiserver.fake import FakePodRuntime
from netpolicy.lab.apiserver.streams import Attachment, PodRuntime

__all__ = ["Attachment", "FakePodRuntime", "PodRuntime", "Served", "create_app",
           "install_admission", "kubeconfig", "self_signed", "serve", "write_kubeconfig"]
