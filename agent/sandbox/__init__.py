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

from agent.sandbox.executor import SandboxExecutor
from agent.sandbox.isolation import Sandbox
from agent.sandbox.process import SandboxLimits

__all__ = ["Sandbox", "SandboxExecutor", "SandboxLimits"]
