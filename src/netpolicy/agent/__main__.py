"""`python -m netpolicy.agent ...` is `netpol agent run ...` (how the lab starts agents)."""

import sys

if __name__ == "__main__":
    from netpolicy.cli.agent import agent_app

    agent_app(["run", *sys.argv[1:]], prog_name="netpol agent")
