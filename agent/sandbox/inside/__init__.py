"""The program that runs inside the sandbox, in parts (see `events.py`): never imported
by the host, which compiles `RUNNER_PARTS` into one code object (`agent.sandbox.isolation`)."""

from pathlib import Path

_HERE = Path(__file__).parent
# In order: each part may use the names of those before it.
RUNNER_PARTS = (
    _HERE.parent / "protocol.py",
    _HERE / "events.py",
    _HERE / "guard.py",
    _HERE / "stand_ins.py",
    _HERE / "runner.py",
)
