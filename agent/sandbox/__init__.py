"""The sandboxed executor: generated calls run isolated, and are judged by what they did.

    executor.SandboxExecutor   the `agent.executor.Executor` the pipeline and CLI use
    isolation.Sandbox          bubblewrap + cgroups + seccomp + rlimits around the runner
    runner                     the program inside the sandbox (stand-ins, audit hook)
    policy.check_code          the static check before anything runs
    http.HttpCaller            `http` docs behind the SSRF guard

Errors (from `agent.errors`): `SandboxUnavailableError` when isolation cannot be set up,
`SandboxBusyError` when every slot and queue place is taken. The executor turns both into
an `infra_error` outcome, which never trains the router.
"""

from agent.sandbox.executor import SandboxExecutor
from agent.sandbox.isolation import Sandbox, SandboxLimits

__all__ = ["Sandbox", "SandboxExecutor", "SandboxLimits"]
