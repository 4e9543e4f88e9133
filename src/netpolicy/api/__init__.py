"""The Kubernetes objects netpolicy understands: reading manifests, validating them
with the API server's rules, and turning them into typed, frozen values."""
