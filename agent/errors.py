"""Errors raised by the agent package.

    AgentError
    ├── CallParseError          generated text is not a Python call
    ├── InvalidCallError        a parsed call cannot be made as written (an HTTP argument
    │                           that is not a literal): the model's fault, `invalid_call`
    ├── ConfigError             toolroute.toml or an arm's settings are wrong
    │   ├── UnknownArmError     the error lists the valid names
    │   └── MissingDependencyError   an optional library is not installed (names the fix)
    ├── ArmUnavailableError     a model server is down, timed out or failed: an
    │                           infrastructure failure, never a wrong answer
    ├── TaskNotFoundError
    ├── DatabaseUnavailableError   the task database cannot be reached (the service: 503)
    ├── ServiceBusyError        the service takes no task now (503 with Retry-After)
    │   ├── QueueFullError      every worker and queue place is taken
    │   └── DrainingError       the service is shutting down
    ├── LoadTestError           `bench serve` could not run its load generator
    ├── HttpCallError           calling an `http` doc (no code runs)
    │   ├── GuardRefusal        the SSRF guard refused the address or scheme: `blocked`
    │   ├── HttpFailure         the API could not be reached: `infra_error`
    │   └── HttpTimeout         the API did not answer in time: `timeout`
    └── SandboxError
        ├── SandboxUnavailableError   isolation cannot be set up here (names the fix)
        └── SandboxBusyError          every sandbox slot and queue place is taken

Foreign errors (llama_cpp, transformers, httpx, sqlalchemy) are wrapped `raise ... from
exc` at the one place that calls them: the arm, the HTTP caller, the task store.
"""

from __future__ import annotations

from collections.abc import Iterable

from apidb.errors import CatalogError
from retriever.errors import RetrieverError
from router.errors import RouterError


class AgentError(Exception):
    """Base class for the agent package's errors."""


class CallParseError(AgentError):
    """The generated text is not a Python call."""


class ConfigError(AgentError):
    """The arm pool, an arm's settings or a request's options are wrong."""


class UnknownArmError(ConfigError):
    def __init__(self, name: str, valid: Iterable[str], what: str = "arm") -> None:
        names = ", ".join(sorted(valid)) or "(none)"
        super().__init__(f"unknown {what} {name!r}; valid names: {names}")
        self.name = name


class MissingDependencyError(ConfigError):
    def __init__(self, package: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the {package!r} package: .venv/bin/pip install {package}"
        )


class InvalidCallError(AgentError):
    """A parsed call cannot be made as written; the model wrote it wrong."""


class ArmUnavailableError(AgentError):
    """The arm could not answer (server down, timeout, every endpoint failing)."""


class TaskNotFoundError(AgentError):
    pass


class DatabaseUnavailableError(AgentError):
    """The task database is down or unreachable: nothing was stored, try again later."""


class SandboxError(AgentError):
    """The sandbox itself (not the code it runs) failed."""


class SandboxUnavailableError(SandboxError):
    """Isolation is not available; the executor refuses to run code."""


class SandboxBusyError(SandboxError):
    """Too many runs are waiting; try again later."""


class ServiceBusyError(AgentError):
    """The service takes no task now; `retry_after_s` says when to try again."""

    retry_after_s: int = 5


class QueueFullError(ServiceBusyError):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"the task queue is full; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class DrainingError(ServiceBusyError):
    """The service is shutting down and takes no new tasks."""


class LoadTestError(AgentError):
    """The load generator could not run (not installed, or it failed)."""


class HttpCallError(AgentError):
    """Calling an `http` doc failed before an HTTP status came back."""


class GuardRefusal(HttpCallError):
    """The request would reach an address or scheme the guard does not allow."""


class HttpFailure(HttpCallError):
    """The API could not be reached (an infrastructure failure, not the model's)."""


class HttpTimeout(HttpCallError):
    """The API did not answer within the deadline."""


# Every error the packages raise on purpose: what an edge (the CLI, the Slack bot, the REST
# app) turns into a plain message. Anything else is a bug, and is logged as one.
TOOLROUTE_ERRORS: tuple[type[Exception], ...] = (
    AgentError,
    CatalogError,
    RetrieverError,
    RouterError,
)
