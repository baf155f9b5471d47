"""A request's own tools as its catalog (the OpenAI-compatible endpoint's `tools`).

The tools are indexed exactly as the service's catalog is (the same hybrid retriever and
embedder, over an in-memory catalog), so ranking and call resolution behave the same. Agents
send the same tool list on every turn, so toolsets are cached by content.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent.jsontypes import JSONObject
from agent.resolve import CallResolver

if TYPE_CHECKING:
    from apidb import APIDoc
    from retriever import HybridRetriever
    from retriever.config import RetrieverConfig
    from retriever.embedder import Embedder

TOOLSET_HUB = "request-tools"


@dataclass
class Toolset:
    docs: list[APIDoc]
    retriever: HybridRetriever
    resolver: CallResolver
    _dir: Path

    def close(self) -> None:
        self.retriever.store.close()
        shutil.rmtree(self._dir, ignore_errors=True)


class ToolsetCache:
    """Built toolsets by the hash of their tool definitions, least recently used evicted."""

    def __init__(self, embedder: Embedder, config: RetrieverConfig, capacity: int = 32) -> None:
        from retriever.embedder import CachedEmbedder

        # Tools recur across toolsets (an agent adds or drops one): embed each text once.
        self.embedder = CachedEmbedder(embedder)
        self.config = config
        self.capacity = capacity
        self._items: OrderedDict[str, Toolset] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, tools: list[JSONObject]) -> Toolset:
        """The toolset for OpenAI `tools`; raises `LoaderError` if a definition is invalid."""
        key = hashlib.sha256(json.dumps(tools, sort_keys=True).encode()).hexdigest()
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        toolset = self._build(tools)
        with self._lock:
            if key in self._items:  # another request built it meanwhile: keep one
                toolset.close()
                return self._items[key]
            self._items[key] = toolset
            while len(self._items) > self.capacity:
                _, evicted = self._items.popitem(last=False)
                evicted.close()
        return toolset

    def close(self) -> None:
        with self._lock:
            for toolset in self._items.values():
                toolset.close()
            self._items.clear()

    def _build(self, tools: list[JSONObject]) -> Toolset:
        from apidb import CatalogStore
        from apidb.loaders import load_openai_tools
        from retriever import HybridRetriever

        docs = load_openai_tools(tools, hub=TOOLSET_HUB, source="request")
        workdir = Path(tempfile.mkdtemp(prefix="toolroute-tools-"))
        try:
            store = CatalogStore(":memory:")
            store.upsert_many(docs)
            retriever = HybridRetriever.open(store, self.embedder, workdir, self.config)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        return Toolset(docs, retriever, CallResolver(store.list_docs()), workdir)
