"""`--ray ADDRESS`: the observe step (every arm answering a question) on a Ray cluster.

Each actor opens its own pipeline over the same data dir (catalog, index, models: shared
storage on a real cluster, or the same machine) and answers the questions it is given;
the driver keeps routing and learning in question order, so a Ray run writes the same
predictions as a local one. `ADDRESS` is a cluster address (`ray://head:10001`), `auto`
(the cluster this machine belongs to, or `RAY_ADDRESS`), or `local` (start a private Ray
instance here, for a single machine and for tests).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from agent.errors import ConfigError, MissingDependencyError
from agent.evaluation.records import Observation
from agent.pool import PoolConfig
from agent.settings import Settings
from retriever.benchmark import Question


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError("ray", "--ray") from exc
    return ray


class _RemoteObserver:
    """What runs inside each Ray actor: an `Observer` over its own pipeline."""

    def __init__(
        self, settings: dict[str, Any], pool: dict[str, Any], hubs: list[str], k: int
    ) -> None:
        from agent.embedding import catalog_embedder
        from agent.evaluation.observe import Observer
        from agent.pipeline import Pipeline
        from apidb import CatalogStore
        from retriever import HybridRetriever

        shared = Settings.model_validate(settings)
        store = CatalogStore(shared.catalog_location)
        embedder = catalog_embedder(shared, store)
        retriever = HybridRetriever.open(
            store,
            embedder,
            shared.index_dir,
            shared.retriever_config(embedder),
        )
        # Its own scratch state: actors never learn, and must not share a router file.
        local = shared.scratch(Path(tempfile.mkdtemp(prefix="toolroute-ray-")))
        self.pipeline = Pipeline.open(
            local, retriever=retriever, pool_config=PoolConfig.model_validate(pool)
        )
        self.observer = Observer(self.pipeline, hubs, k)

    def observe(self, question: Question, arms: list[str]) -> Observation:
        return self.observer.observe(question, arms)


class RayObservers:
    """`workers` actors answering questions; results come back in question order."""

    def __init__(
        self,
        address: str,
        settings: Settings,
        pool: PoolConfig,
        hubs: Sequence[str],
        k: int,
        workers: int,
    ) -> None:
        ray = _ray()
        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            try:
                ray.init(
                    address=None if address == "local" else address,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ConfigError(f"cannot reach the Ray cluster at {address!r}: {exc}") from exc
        actor = ray.remote(num_cpus=1)(_RemoteObserver)
        settings_json = settings.model_dump(mode="json")
        for secret in ("api_keys", "slack_signing_secret", "slack_bot_token", "openai_api_key"):
            value = getattr(settings, secret)
            settings_json[secret] = value.get_secret_value() if value is not None else None
        pool_json = pool.model_dump(mode="json")
        self._actors = [
            actor.remote(settings_json, pool_json, list(hubs), k) for _ in range(workers)
        ]

    def observations(
        self, questions: Sequence[Question], arms: Sequence[str]
    ) -> Iterator[Observation]:
        """Round-robin over the actors with two questions in flight per actor."""
        ray = self._ray
        window: list[Any] = []
        for i, question in enumerate(questions):
            actor = self._actors[i % len(self._actors)]
            window.append(actor.observe.remote(question, list(arms)))
            if len(window) >= 2 * len(self._actors):
                yield ray.get(window.pop(0))
        for ref in window:
            yield ray.get(ref)

    def close(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor)
        if self._started_here:
            self._ray.shutdown()
