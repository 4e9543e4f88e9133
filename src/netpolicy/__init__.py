"""netpolicy: Kubernetes NetworkPolicy, implemented in Python.

One engine decides what a set of policies allows (`netpolicy.engine`); the objects it
reads come from manifests or a live cluster (`netpolicy.api`); reports render its
answers (`netpolicy.report`); the CLI (`netpolicy.cli`) is a thin layer on top.
"""

__version__ = "0.1.0"
