"""A throwaway PostgreSQL server for tests: initdb into a temporary directory, listening
on loopback and a private Unix socket, stopped at the end of the session.

The server binaries come from Debian's `postgresql` package (`make test` installs it).
PostgreSQL refuses to run as root, so as root the cluster belongs to the package's
`postgres` user (or `nobody`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest


def server_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def require_server_bindir() -> Path:
    """The binaries, or a skip outside CI; in CI their absence is a failure (the Makefile
    installs them, so a missing server means a broken install step)."""
    bindir = server_bindir()
    if bindir is None:
        message = "PostgreSQL server binaries not found (apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return bindir


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # Not under pytest's tmp dir: that is 0700 root, which the server's user cannot enter.
        self.root = Path(tempfile.mkdtemp(prefix="toolroute-pg-"))
        self.datadir = self.root / "data"
        self.user = "toolroute"
        self.port = _free_port()
        self._owner = _unprivileged_owner() if os.geteuid() == 0 else None

    def start(self) -> PostgresServer:
        if self._owner is not None:
            os.chown(self.root, self._owner.pw_uid, self._owner.pw_gid)
        self._run("initdb", "-D", str(self.datadir), "-U", self.user, "-A", "trust", "--no-sync")
        self.restart()
        return self

    def restart(self) -> None:
        # fsync off: test data need not survive a power cut, and commits are 10x faster.
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -F -c max_connections=200"
        self._run(
            "pg_ctl", "start", "-D", str(self.datadir), "-o", options, "-l", str(self.log), "-w"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", mode, "-w", check=False)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def create_database(self) -> str:
        """A new empty database; its SQLAlchemy URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        command = [str(self.bindir / program), *args]
        if self._owner is not None:
            command = ["setpriv", f"--reuid={self._owner.pw_uid}", f"--regid={self._owner.pw_gid}",
                       "--clear-groups", *command]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{program} failed: {result.stderr}{result.stdout}\n{log}")


def _unprivileged_owner() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("no unprivileged user to run PostgreSQL as")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
