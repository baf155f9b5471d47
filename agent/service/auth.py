"""API keys: bearer tokens with a scope, kept hashed, compared in constant time.

Two scopes:

- **user** keys run tasks, search and read the catalog and the router's statistics, and
  see and give feedback on *their own* tasks only (another key's task answers 404, as if
  it did not exist);
- **admin** keys may also write the catalog (`/v1/apis` writes and imports), change or
  reset the router, and read every task.

User keys come from `TOOLROUTE_API_KEYS` or, when none are set, from `api_keys.json` in the
data dir, where `toolroute serve` writes one newly created key on first start (and prints
it once). Admin keys come from `TOOLROUTE_ADMIN_KEYS`, and from the same file's
`admin_sha256` list (`toolroute keys create --admin`). With none, nobody is admin over HTTP:
the local CLI is. Only SHA-256 digests are held, in memory and on disk; a plain fast hash is
right because keys are 256-bit random tokens, not passwords: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

KEY_PREFIX = "tr_"
KEYS_FILE = "api_keys.json"
Scope = Literal["user", "admin"]


@dataclass(frozen=True, slots=True)
class ApiKey:
    """Who made a request: the key's short id (a digest prefix, safe to log; it also owns
    the key's tasks), and whether it is an admin key."""

    id: str
    admin: bool = False

    @property
    def owner(self) -> str:
        """The owner recorded on this caller's tasks."""
        return self.id


# The local CLI, and the service when TOOLROUTE_AUTH=disabled (local development only).
LOCAL_CALLER = ApiKey("local", admin=True)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_id(key_digest: str) -> str:
    return key_digest[:12]


class Keyring:
    def __init__(self, digests: Iterable[str], admin_digests: Iterable[str] = ()) -> None:
        self._scopes: dict[str, Scope] = {d: "user" for d in digests}
        self._scopes.update({d: "admin" for d in admin_digests})

    def __len__(self) -> int:
        return len(self._scopes)

    @property
    def admin_count(self) -> int:
        return sum(scope == "admin" for scope in self._scopes.values())

    @classmethod
    def load(
        cls, keys: list[str], data_dir: Path, admin_keys: list[str] | None = None
    ) -> tuple[Keyring, str | None]:
        """The configured keys, else the stored ones, else a new user key (returned once,
        so the caller can print it; only its digest is written). Admin keys are added to
        whichever of those applies."""
        admins = [digest(k) for k in admin_keys or []]
        stored = read_keys_file(data_dir)
        admins += stored.get("admin_sha256", [])
        if keys:
            return cls([digest(k) for k in keys], admins), None
        if stored.get("sha256"):
            return cls(stored["sha256"], admins), None
        key = new_key()
        add_to_keys_file(data_dir, digest(key), "user")
        return cls([digest(key)], admins), key

    def check(self, presented: str) -> ApiKey | None:
        """The caller's identity if `presented` is a known key. Every stored digest is
        compared, each in constant time, so timing says nothing about which one matched."""
        candidate = digest(presented)
        found: str | None = None
        for stored in self._scopes:
            if hmac.compare_digest(candidate, stored):
                found = stored
        if found is None:
            return None
        return ApiKey(key_id(found), admin=self._scopes[found] == "admin")


def read_keys_file(data_dir: Path) -> dict[str, list[str]]:
    path = data_dir / KEYS_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: [str(d) for d in data.get(name, [])] for name in ("sha256", "admin_sha256")}


def add_to_keys_file(data_dir: Path, key_digest: str, scope: Scope) -> None:
    """Add one digest to `api_keys.json` (created 0600: a digest is not a key, but it
    still names one), replacing the file atomically."""
    stored = read_keys_file(data_dir)
    field = "admin_sha256" if scope == "admin" else "sha256"
    stored.setdefault(field, []).append(key_digest)
    write_keys_file(data_dir, stored)


def write_keys_file(data_dir: Path, stored: dict[str, list[str]]) -> None:
    path = data_dir / KEYS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{KEYS_FILE}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(stored, fh)
    os.replace(temporary, path)
