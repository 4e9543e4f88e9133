"""The dataplane: what runs in the kernel.

- `netns`: network namespaces, veth pairs, addresses, routes and sysctls (netlink, pyroute2);
  sockets opened inside a namespace.
- `nft`: nftables transactions as data, applied atomically with `nft -f -`; `FakeNft`
  (a package, one role a module: its `__init__` draws the map).
- `proxy`: the service proxy (kube-proxy, nftables mode) rendered as one transaction.
"""
