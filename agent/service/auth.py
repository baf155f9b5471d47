"""API keys: bearer tokens, kept hashed, compared in constant time.

Keys come from `TOOLROUTE_API_KEYS` or, when none are set, from `api_keys.json` in the data
dir, where `toolroute serve` writes one newly created key on first start (and prints it
once). Only SHA-256 digests are held, in memory and on disk. A plain fast hash is right here
because keys are 256-bit random tokens, not passwords: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

KEY_PREFIX = "tr_"
KEYS_FILE = "api_keys.json"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """Who made a request: the key's short id (a digest prefix, safe to log), or `local`."""

    id: str


LOCAL_CALLER = ApiKey("local")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class Keyring:
    def __init__(self, digests: list[str]) -> None:
        self._digests = list(dict.fromkeys(digests))

    def __len__(self) -> int:
        return len(self._digests)

    @classmethod
    def load(cls, keys: list[str], data_dir: Path) -> tuple[Keyring, str | None]:
        """The configured keys, else the stored ones, else a new key (returned once, so the
        caller can print it; only its digest is written)."""
        if keys:
            return cls([digest(k) for k in keys]), None
        path = data_dir / KEYS_FILE
        if path.is_file():
            stored = json.loads(path.read_text(encoding="utf-8"))
            return cls([str(d) for d in stored.get("sha256", [])]), None
        key = new_key()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written with mode 0600 from the start: a digest is not a key, but it still names one.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"sha256": [digest(key)]}, fh)
        return cls([digest(key)]), key

    def check(self, presented: str) -> ApiKey | None:
        """The caller's identity if `presented` is a known key. Every stored digest is
        compared, each in constant time, so timing says nothing about which one matched."""
        candidate = digest(presented)
        found: str | None = None
        for stored in self._digests:
            if hmac.compare_digest(candidate, stored):
                found = stored
        return ApiKey(found[:12]) if found is not None else None
