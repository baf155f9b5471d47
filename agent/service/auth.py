"""API keys: bearer tokens with a scope, kept hashed, compared in constant time.

Two scopes:

- **user** keys run tasks, search and read the catalog and the router's statistics, and
  see and give feedback on *their own* tasks only (another key's task answers 404, as if
  it did not exist);
- **admin** keys may also write the catalog (`/v1/apis` writes and imports), change or
  reset the router, and read every task.

User keys come from `TOOLROUTE_API_KEYS` or, when none are set, from the key store
(agent/service/keystore.py: `api_keys.json` in the data dir, or the shared database's
`api_keys` table), where `toolroute serve` stores one newly created key on first start (and
prints it once). Admin keys come from `TOOLROUTE_ADMIN_KEYS`, and from the store's admin
keys (`toolroute keys create --admin`). With none, nobody is admin over HTTP: the local CLI
is. Only SHA-256 digests are held, in memory and at rest; a plain fast hash is right
because keys are 256-bit random tokens, not passwords: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from agent.errors import DatabaseUnavailableError
from agent.service.keystore import KEYS_FILE, KeyStore, key_id

if TYPE_CHECKING:
    from agent.settings import Settings

log = logging.getLogger("toolroute.service")

KEY_PREFIX = "tr_"
Scope = Literal["user", "admin"]
# How stale a running service's view of the stored keys may be.
REFRESH_S = 1.0

__all__ = ["KEYS_FILE", "ApiKey", "Keyring", "digest", "key_id", "key_store", "new_key"]


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


class Keyring:
    """The keys the service accepts: the configured ones (`TOOLROUTE_API_KEYS`,
    `TOOLROUTE_ADMIN_KEYS`) and the stored ones, re-read from the store about once a second
    so that `toolroute keys create | revoke` takes effect on every instance."""

    def __init__(
        self,
        digests: Iterable[str],
        admin_digests: Iterable[str] = (),
        *,
        store: KeyStore | None = None,
        refresh_s: float = REFRESH_S,
    ) -> None:
        # Configured user keys replace stored ones; configured admin keys add to them.
        self._user_digests = list(digests)
        self._admin_digests = list(admin_digests)
        self._store = store
        self._refresh_s = refresh_s
        self._read_at = float("-inf")
        self._scopes: dict[str, Scope] = {}
        self._lock = threading.Lock()
        self._refresh(force=True)

    def __len__(self) -> int:
        self._refresh()
        return len(self._scopes)

    @property
    def admin_count(self) -> int:
        self._refresh()
        return sum(scope == "admin" for scope in self._scopes.values())

    @classmethod
    def load(
        cls, keys: list[str], store: KeyStore, admin_keys: list[str] | None = None
    ) -> tuple[Keyring, str | None]:
        """The configured keys, else the stored ones, else a new user key (returned once,
        so the caller can print it; only its digest is stored). Admin keys are added to
        whichever of those applies."""
        admins = [digest(k) for k in admin_keys or []]
        created = None
        if not keys and not store.read().get("sha256"):
            key = new_key()
            if store.add_first_user_key(digest(key)):  # not if another replica just did
                created = key
        return cls([digest(k) for k in keys], admins, store=store), created

    def check(self, presented: str) -> ApiKey | None:
        """The caller's identity if `presented` is a known key. Every stored digest is
        compared, each in constant time, so timing says nothing about which one matched."""
        self._refresh()
        candidate = digest(presented)
        found: str | None = None
        scopes = self._scopes
        for stored in scopes:
            if hmac.compare_digest(candidate, stored):
                found = stored
        if found is None:
            return None
        return ApiKey(key_id(found), admin=scopes[found] == "admin")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def _refresh(self, *, force: bool = False) -> None:
        if self._store is None:
            if force:
                self._scopes = self._combine({})
            return
        now = time.monotonic()
        if not force and now - self._read_at < self._refresh_s:
            return
        with self._lock:
            if not force and now - self._read_at < self._refresh_s:
                return  # another thread refreshed meanwhile
            self._read_at = now
            try:
                stored = self._store.read()
            except (DatabaseUnavailableError, OSError, ValueError) as exc:
                if force:
                    raise
                # Keep serving the keys last read: refusing everyone while the database is
                # away would turn its outage into the whole service's.
                log.warning("could not re-read the API keys (%s); using the last ones read", exc)
                return
            self._scopes = self._combine(stored)

    def _combine(self, stored: dict[str, list[str]]) -> dict[str, Scope]:
        users = self._user_digests or stored.get("sha256", [])
        scopes: dict[str, Scope] = {d: "user" for d in users}
        scopes.update({d: "admin" for d in [*self._admin_digests, *stored.get("admin_sha256", [])]})
        return scopes


def key_store(settings: Settings) -> KeyStore:
    """The settings' key store: the shared database's table, or `api_keys.json`."""
    from agent.service.keystore import DatabaseKeyStore, FileKeyStore

    shared = settings.shared_database_url()
    return DatabaseKeyStore(shared) if shared else FileKeyStore(settings.data_dir)
