"""The lab: a single-machine Kubernetes for trying network policies with real traffic."""
