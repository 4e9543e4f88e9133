"""The node agent: watches Pods, Namespaces, Nodes and NetworkPolicies through the
official `kubernetes` client and keeps the node's nftables program equal to what the
engine says (`netpol agent run`). The same code runs on the lab's nodes and, as a
DaemonSet, on a real cluster."""
