"""Following the catalog's change log in the background.

`search()` never changes the index: a request must not pay for embedding another process's
import. The process that writes the catalog syncs at once (`CatalogWriter`, `apis import`);
every other process that serves searches runs a `ChangeFollower`, which polls the change
log (one indexed query) and applies what it finds. A doc imported by another process is
then searchable within one poll interval (0.5 s by default).
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from apidb import CatalogError
from retriever.errors import RetrieverError

logger = logging.getLogger("toolroute.retriever")

DEFAULT_INTERVAL_S = 0.5


class Syncable(Protocol):
    def sync(self) -> int: ...


class ChangeFollower:
    """A daemon thread that calls `retriever.sync()` every `interval_s` until `stop()`."""

    def __init__(self, retriever: Syncable, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.retriever = retriever
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="index-follower", daemon=True)

    def start(self) -> ChangeFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                applied = self.retriever.sync()
            except (CatalogError, RetrieverError) as exc:  # busy for a moment; try again
                logger.warning("could not follow the catalog's changes: %s", exc)
                continue
            if applied:
                logger.info("applied %d catalog changes to the search index", applied)
