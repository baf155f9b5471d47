"""Errors raised by the agent package.

    AgentError
    ├── CallParseError          generated text is not a Python call
    ├── ConfigError             toolroute.toml or an arm's settings are wrong
    │   ├── UnknownArmError     the error lists the valid names
    │   └── MissingDependencyError   an optional library is not installed (names the fix)
    ├── ArmUnavailableError     a model server is down, timed out or failed: an
    │                           infrastructure failure, never a wrong answer
    ├── TaskNotFoundError
    ├── DatabaseUnavailableError   the task database cannot be reached (the service: 503)
    └── SandboxError
        ├── SandboxUnavailableError   isolation cannot be set up here (names the fix)
        └── SandboxBusyError          every sandbox slot and queue place is taken

Foreign errors (llama_cpp, transformers, httpx) are wrapped `raise ... from exc` inside
the arm that calls them.
"""

from __future__ import annotations

from collections.abc import Iterable


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
