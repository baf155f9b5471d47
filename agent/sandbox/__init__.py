"""The sandboxed executor: generated calls run isolated, and are judged by what they did.

    executor.SandboxExecutor   the `agent.executor.Executor` the pipeline and CLI use
    policy.check_code          the static check before anything runs (an AST allow-list)
    provenance.CodeOrigins     where a call may load code and models from
    isolation.Sandbox          bubblewrap + cgroups + seccomp + rlimits around the runner
    process                    one run's limits, pipes and output (`SandboxLimits`, `RawRun`)
    binaries                   bwrap within reach of the sandbox's uid
    inside/                    the program inside the sandbox: a judge, and the code
                               process with its audit hook and stand-ins
    protocol                   what the host and the runner say to each other
    http.HttpCaller            `http` docs behind the SSRF guard

Errors (from `agent.errors`): `SandboxUnavailableError` when isolation cannot be set up,
`SandboxBusyError` when every slot and queue place is taken. The executor turns both into
an `infra_error` outcome, which never trains the router.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.sandbox.executor import SandboxExecutor
    from agent.sandbox.isolation import Sandbox
    from agent.sandbox.process import SandboxLimits

# Loaded on first use: the CLI offers `modes` without importing the executor (httpx).
_LAZY = {
    "SandboxExecutor": "agent.sandbox.executor",
    "Sandbox": "agent.sandbox.isolation",
    "SandboxLimits": "agent.sandbox.process",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agent.sandbox' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["Sandbox", "SandboxExecutor", "SandboxLimits"]
