"""`http` docs against the real demo service on loopback, and the SSRF guard."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import uvicorn

from agent.resolve import CallResolver
from agent.sandbox import Sandbox, SandboxExecutor
from agent.sandbox.http import GuardRefusal, HttpCaller, HttpLimits, SSRFGuard, public_address
from apidb import APIDoc
from apidb.demo.service import app, spec
from apidb.loaders import load_openapi


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "demo service did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def demo_docs(demo_url: str) -> list[APIDoc]:
    return load_openapi(spec(demo_url))


def executor_for(*local: str, limits: HttpLimits | None = None) -> SandboxExecutor:
    return SandboxExecutor(Sandbox("bwrap"), http=HttpCaller(SSRFGuard(local), limits))


def run(executor: SandboxExecutor, docs: list[APIDoc], text: str):  # type: ignore[no-untyped-def]
    resolver = CallResolver(docs)
    call = resolver.resolve_text(text)
    return executor.execute(call, code=text, resolver=resolver)


def test_demo_spec_matches_the_shipped_file() -> None:
    import json

    from apidb.demo import OPENAPI_SPEC

    assert json.loads(OPENAPI_SPEC.read_text()) == spec()


def test_calls_reach_the_demo_service(demo_url: str, demo_docs: list[APIDoc]) -> None:
    executor = executor_for(demo_url)
    weather = run(executor, demo_docs, "get_weather(city='Paris')")
    assert weather.status == "ok", weather.output
    assert '"temperature_c":14.0' in weather.output.replace(" ", "")
    converted = run(
        executor, demo_docs, "convert_currency(amount=10, from_currency='USD', to_currency='EUR')"
    )
    assert converted.status == "ok" and '"result":9.2' in converted.output.replace(" ", "")
    created = run(executor, demo_docs, "create_todo(body={'title': 'write tests'})")
    assert created.status == "ok" and "HTTP 201" in created.output
    assert run(executor, demo_docs, "get_todo(todo_id=1)").status == "ok"


def test_api_errors_and_invalid_calls(demo_url: str, demo_docs: list[APIDoc]) -> None:
    executor = executor_for(demo_url)
    unknown_city = run(executor, demo_docs, "get_weather(city='Atlantis')")
    assert unknown_city.status == "api_error" and "HTTP 404" in unknown_city.output
    assert run(executor, demo_docs, "get_weather(town='Paris')").status == "invalid_call"
    assert run(executor, demo_docs, "get_weather(city=some_variable)").status == "invalid_call"


def test_loopback_is_refused_unless_allowed(demo_docs: list[APIDoc]) -> None:
    execution = run(executor_for(), demo_docs, "get_weather(city='Paris')")
    assert execution.status == "blocked"
    assert "not a public address" in execution.output


class _Redirector(BaseHTTPRequestHandler):
    target = ""
    seen_headers: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        type(self).seen_headers.append(dict(self.headers))
        if self.path.startswith("/weather"):
            self.send_response(302)
            self.send_header("Location", type(self).target)
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"x" * 100_000)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def redirector() -> Iterator[tuple[str, type[_Redirector]]]:
    handler = type("Handler", (_Redirector,), {"target": "", "seen_headers": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_every_redirect_is_checked(
    redirector: tuple[str, type[_Redirector]], demo_url: str
) -> None:
    url, handler = redirector
    docs = load_openapi(spec(url))
    for target in (
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "http://[::1]:9/",
    ):
        handler.target = target
        execution = run(executor_for(url), docs, "get_weather(city='Paris')")
        assert execution.status == "blocked", (target, execution.output)


def test_response_size_is_capped(redirector: tuple[str, type[_Redirector]]) -> None:
    url, _ = redirector
    docs = load_openapi(spec(url))
    executor = executor_for(url, limits=HttpLimits(max_response_bytes=1000))
    execution = run(executor, docs, "list_todos()")
    assert execution.status == "ok"
    assert "cut at the size cap" in execution.output and len(execution.output) < 2000


def test_authorization_is_dropped_across_origins(
    redirector: tuple[str, type[_Redirector]], demo_url: str
) -> None:
    url, handler = redirector
    first = handler  # the origin that redirects to another origin on loopback
    port = free_port()
    other = HTTPServer(
        ("127.0.0.1", port), type("Other", (_Redirector,), {"target": "", "seen_headers": []})
    )
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        handler.target = f"http://localhost:{port}/todos"
        base = spec(url)
        base["paths"]["/weather/{city}"]["get"]["parameters"].append(
            {"name": "Authorization", "in": "header", "schema": {"type": "string"}}
        )
        docs = load_openapi(base)
        docs = [
            d.model_copy(
                update={
                    "http": d.http.model_copy(update={"servers": [url, f"http://localhost:{port}"]})
                }
            )
            if d.http
            else d
            for d in docs
        ]  # type: ignore[union-attr]
        executor = executor_for(url, f"http://localhost:{port}")
        execution = run(executor, docs, "get_weather(city='Paris', Authorization='Bearer secret')")
        assert execution.status == "ok", execution.output
        assert first.seen_headers[0].get("Authorization") == "Bearer secret"
        final = other.RequestHandlerClass.seen_headers  # type: ignore[attr-defined]
        assert final and "Authorization" not in final[0]
    finally:
        other.shutdown()
        other.server_close()


# IPv6 spellings of private IPv4 addresses, and multicast: the guard judges an IPv6
# address by the IPv4 address it carries (mapped, translated, compatible, NAT64, 6to4).
SSRF_ADDRESSES = [
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:0:a9fe:a9fe",  # IPv4-translated (SIIT): 169.254.169.254
    "64:ff9b::a9fe:a9fe",  # NAT64: the metadata service
    "64:ff9b:1::a00:1",  # local-use NAT64: 10.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4: 169.254.169.254
    "2002:7f00:1::1",  # 6to4: 127.0.0.1
    "ff02::1",  # link-local multicast
    "ff0e::1",  # global multicast
    "224.0.0.1",
    "239.255.255.250",
    "169.254.169.254",
    "::1",
    "fe80::1",
    "fc00::1",
]


@pytest.mark.parametrize("address", SSRF_ADDRESSES)
def test_private_addresses_in_any_spelling_are_refused(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    guard = SSRFGuard()
    with pytest.raises(GuardRefusal, match="not a public address"):
        guard.check(f"http://{host}/", frozenset({address}))


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", "2606:4700::1111"]
)
def test_public_addresses_in_any_spelling_pass(address: str) -> None:
    assert public_address(ipaddress.ip_address(address))
