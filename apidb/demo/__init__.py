"""A small real HTTP API to try `http` docs with: weather, currency and a todo list.

`apidb.demo.service:app` is a FastAPI app with deterministic answers (no network, no
randomness), and `openapi.json` beside it is its spec, ready for
`toolroute apis import apidb/demo/openapi.json --format openapi`. Run it with
`python -m apidb.demo.service [--port 8765]`; the spec's server is http://127.0.0.1:8765,
which the SSRF guard refuses unless `TOOLROUTE_SANDBOX_LOCAL_SERVICES` names it.

`stdlib_tools.json` is a set of OpenAI-style tools backed by standard-library functions
(`x-python-callable`), for the sandbox's live mode.
"""

from pathlib import Path

DEMO_DIR = Path(__file__).parent
OPENAPI_SPEC = DEMO_DIR / "openapi.json"
STDLIB_TOOLS = DEMO_DIR / "stdlib_tools.json"
DEFAULT_PORT = 8765
