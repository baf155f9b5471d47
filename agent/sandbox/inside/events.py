"""Part 1 of the runner: the code process's events to the judge, sent as they happen.

The runner's parts (`protocol.py`, then `events.py`, `guard.py`, `stand_ins.py` and
`runner.py` from this directory) are compiled by the host into one module that runs inside
the sandbox: they share one namespace, use each other's names (so ruff's F821 is off
here), import only the standard library, and are never imported by the host.
"""

import os
import sys

_RESULT_FD = int(sys.argv[1])
_SECRET_SIZE = SECRET_BYTES
_STDLIB = os.path.dirname(os.__file__)
_events_fd = -1
_violation_count = 0
_record_count = 0


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data) :]


def _read_exactly(fd, size):
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            break
        data += chunk
    return data


# --- the code process: events ----------------------------------------------------------


def _event(tag, value):
    """One event line to the judge. Sent at once: the code cannot take it back."""
    if isinstance(value, str):
        value = value[:1000]
    text = dumps(value)
    if len(text) > MAX_EVENT_CHARS:
        text = dumps({"path": "<record too large>", "entry": False, "args": [], "kwargs": {}})
    _write_all(_events_fd, (tag + " " + text + "\n").encode())


class SandboxViolation(Exception):
    """Raised (after reporting) when the code tries something the sandbox forbids."""


class SignatureMismatch(TypeError):
    """An entry-point call does not fit the library's signature."""


def _violation(what):
    global _violation_count
    if _violation_count < MAX_VIOLATIONS:
        _violation_count += 1
        _event(TAG_VIOLATION, what)
    raise SandboxViolation(what)
