"""Where stored API key digests live: `api_keys.json` in the data dir (one instance), or a
table in the shared PostgreSQL database (every replica accepts and revokes the same keys).

Both hold SHA-256 digests only (agent/service/auth.py says why that is enough). A running
`Keyring` re-reads its store about once a second, so a key created or revoked with
`toolroute keys` takes effect on every instance without a restart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import Column, MetaData, String, Table, Text, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from agent.errors import DatabaseUnavailableError
from apidb.database import Migration, database_location, migrate, open_engine, write_transaction

KEYS_FILE = "api_keys.json"
Stored = dict[str, list[str]]  # {"sha256": user digests, "admin_sha256": admin digests}
_FIELDS = {"user": "sha256", "admin": "admin_sha256"}


class KeyStore(Protocol):
    def read(self) -> Stored: ...

    def add(self, key_digest: str, scope: str) -> None: ...

    def add_first_user_key(self, key_digest: str) -> bool:
        """Store `key_digest` as a user key only if there is no user key yet (two replicas
        starting at once create one key, not two). True if it was stored."""
        ...

    def remove(self, key_id: str) -> bool: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


def key_id(key_digest: str) -> str:
    return key_digest[:12]


class FileKeyStore:
    """`api_keys.json` (0600), replaced atomically on every change."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / KEYS_FILE

    def describe(self) -> str:
        return str(self.path)

    def close(self) -> None:
        pass

    def read(self) -> Stored:
        if not self.path.is_file():
            return {}
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return {field: [str(d) for d in data.get(field, [])] for field in _FIELDS.values()}

    def add(self, key_digest: str, scope: str) -> None:
        stored = self.read()
        stored.setdefault(_FIELDS[scope], []).append(key_digest)
        self._write(stored)

    def add_first_user_key(self, key_digest: str) -> bool:
        if self.read().get("sha256"):
            return False
        self.add(key_digest, "user")
        return True

    def remove(self, key_id_: str) -> bool:
        stored = self.read()
        kept = {field: [d for d in ds if key_id(d) != key_id_] for field, ds in stored.items()}
        if kept == stored:
            return False
        self._write(kept)
        return True

    def _write(self, stored: Stored) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{KEYS_FILE}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(stored, fh)
        os.replace(temporary, self.path)


_metadata = MetaData()
api_keys_table = Table(
    "api_keys",
    _metadata,
    Column("digest", String(64), primary_key=True),
    Column("scope", String(8), nullable=False),
    Column("created_at", Text, nullable=False),
)
MIGRATIONS: list[Migration | None] = [None]
_LOCK = "api_keys"


class DatabaseKeyStore:
    """The `api_keys` table of a shared database."""

    def __init__(self, url: str) -> None:
        self.url = database_location(url)
        self._engine = open_engine(self.url)
        try:
            migrate(self._engine, "api_keys", _metadata, MIGRATIONS)
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise self._unavailable(exc, "cannot open ") from exc

    def describe(self) -> str:
        return f"the api_keys table of {self.url.render_as_string(hide_password=True)}"

    def read(self) -> Stored:
        query = select(api_keys_table.c.digest, api_keys_table.c.scope).order_by(
            api_keys_table.c.created_at
        )
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).all()
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from exc
        stored: Stored = {}
        for key_digest, scope in rows:
            stored.setdefault(_FIELDS.get(scope, "sha256"), []).append(key_digest)
        return stored

    def add(self, key_digest: str, scope: str) -> None:
        with self._writing() as conn:
            conn.execute(
                api_keys_table.insert().values(
                    digest=key_digest, scope=scope, created_at=datetime.now(UTC).isoformat()
                )
            )

    def add_first_user_key(self, key_digest: str) -> bool:
        with self._writing() as conn:
            users = select(api_keys_table.c.digest).where(api_keys_table.c.scope == "user")
            if conn.execute(users.limit(1)).first() is not None:
                return False
            conn.execute(
                api_keys_table.insert().values(
                    digest=key_digest, scope="user", created_at=datetime.now(UTC).isoformat()
                )
            )
            return True

    def remove(self, key_id_: str) -> bool:
        if len(key_id_) != len(key_id("0" * 64)):
            return False
        matching = api_keys_table.c.digest.startswith(key_id_, autoescape=True)
        with self._writing() as conn:
            return bool(conn.execute(api_keys_table.delete().where(matching)).rowcount)

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        try:
            with write_transaction(self._engine, _LOCK) as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: SQLAlchemyError, doing: str = "") -> DatabaseUnavailableError:
        inner = getattr(exc, "orig", None) or exc
        return DatabaseUnavailableError(f"{doing}{self.describe()}: {inner}")
