"""Schemathesis against the app's own OpenAPI schema, on a live server: no input gives a 500.

Bounded (a few derandomised examples per operation) so that it runs in every CI build.
The operations are read from the app's schema at collection (building the app loads
nothing), so every route, a new one included, gets its own test. Each is driven through its
Hypothesis strategy directly: schemathesis' pytest plugin does not work with this pytest."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from agent.service import create_app
from agent.settings import Settings
from tests.agent.service.conftest import AUTH, LiveServer

EXAMPLES_PER_OPERATION = 10
SCHEMA = create_app(Settings(data_dir=Path("/nonexistent"))).openapi()
OPERATIONS = [
    f"{method.upper()} {path}" for path, methods in SCHEMA["paths"].items() for method in methods
]


def test_the_schema_covers_the_routes_people_use() -> None:
    paths = {label.split(" ", 1)[1] for label in OPERATIONS}
    assert {"/v1/tasks", "/v1/apis:import", "/v1/chat/completions", "/slack/events"} <= paths


@pytest.mark.parametrize("label", OPERATIONS)
def test_no_input_gives_a_server_error(shared_server: LiveServer, label: str) -> None:
    method, path = label.split(" ", 1)
    schema = schemathesis.openapi.from_dict(SCHEMA)
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,  # the same cases every run: a CI failure can be reproduced
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=shared_server.url, headers=AUTH, timeout=60)
        where = f"{case.method} {case.formatted_path}"
        assert response.status_code < 500, (where, response.text[:500])
        if response.status_code >= 400 and path != "/slack/events":
            assert "error" in response.json(), (where, response.text[:500])

    check()
