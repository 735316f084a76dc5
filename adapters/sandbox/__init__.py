"""Sandbox agencies: five funders' systems served over real HTTP, with faults on demand.

`onebudget sandbox up` serves them from the command line, `running_sandboxes()` from
Python (tests, `serve --demo --sandboxes`). Their wire formats are in docs/agencies.md.
"""

from adapters.sandbox.options import SandboxOptions
from adapters.sandbox.runner import KINDS, RunningSandbox, running_sandboxes

__all__ = ["KINDS", "RunningSandbox", "SandboxOptions", "running_sandboxes"]
