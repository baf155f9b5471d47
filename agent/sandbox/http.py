"""Calling `http` docs (OpenAPI operations) from a parsed call, behind an SSRF guard.

No generated code runs here: the call's literal keyword arguments are validated against the
doc's JSON schema and placed into the path, query, headers or JSON body the spec names.
The guard, applied to the first request and to every redirect:

- http and https only, on a host named by one of the doc's servers;
- every address the host resolves to must be globally routable (loopback, private,
  link-local and cloud metadata, CGNAT, multicast, reserved and their IPv6 forms refused),
  unless the server's origin is in `local_services` (the operator's explicit allow-list);
- the connection goes to the address that was checked (DNS cannot rebind in between),
  with the original host name in `Host` and TLS SNI;
- `Authorization` and cookies are dropped when a redirect leaves the origin;
- connect/read timeouts, a total deadline and a cap on the response size.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from agent.apicall import APICall, Expression
from agent.errors import GuardRefusal, HttpFailure, HttpTimeout, InvalidCallError
from agent.jsontypes import JSONObject
from apidb import APIDoc

MAX_REDIRECTS = 5
__all__ = ["GuardRefusal", "HttpCaller", "HttpFailure", "HttpLimits", "HttpTimeout", "SSRFGuard"]


@dataclass(frozen=True, slots=True)
class HttpResult:
    status_code: int
    url: str
    body: str
    truncated: bool


@dataclass(frozen=True, slots=True)
class HttpLimits:
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 10.0
    total_timeout_s: float = 15.0
    max_response_bytes: int = 1024 * 1024


def origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class SSRFGuard:
    def __init__(self, local_services: list[str] | tuple[str, ...] = ()) -> None:
        self.local_origins = frozenset(origin(s) for s in local_services)

    def check(self, url: str, allowed_hosts: frozenset[str]) -> str:
        """The address to connect to for `url`; raises `GuardRefusal`."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise GuardRefusal(f"scheme {parts.scheme!r} is not allowed (http and https only)")
        host = (parts.hostname or "").lower()
        if not host:
            raise GuardRefusal(f"no host in {url!r}")
        if host not in allowed_hosts:
            raise GuardRefusal(f"host {host!r} is not one of the API's servers")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise HttpFailure(f"cannot resolve {host!r}: {exc}") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        local_ok = origin(url) in self.local_origins
        for address in addresses:
            if not public_address(address) and not local_ok:
                raise GuardRefusal(
                    f"{host} resolves to {address}, which is not a public address "
                    "(allow it with TOOLROUTE_SANDBOX_LOCAL_SERVICES if it is your own service)"
                )
        return str(addresses[0])


# IPv6 ranges that carry an IPv4 address, and where it sits: a v6 form of a private v4
# address reaches that private address (through the host's NAT64 gateway, 6to4 relay or
# stack), so it is judged by the v4 address it carries.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_SIIT = ipaddress.IPv6Network("::ffff:0:0:0/96")  # IPv4-translated: ::ffff:0:a.b.c.d
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible: ::a.b.c.d


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, translated, compatible, NAT64,
    6to4), or None."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIIT or any(address in net for net in _NAT64):
        return low32
    if address in _COMPATIBLE and int(address) > 1:  # not :: or ::1, which are their own
        return low32
    return None


def public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable unicast, judged by the IPv4 address an IPv6 form carries."""
    if address.is_multicast or not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        carried = embedded_ipv4(address)
        if carried is not None:
            return public_address(carried)
    return True


def build_request(call: APICall, doc: APIDoc) -> tuple[str, str, JSONObject, dict[str, str], Any]:
    """(method, url, query, headers, json_body) for a validated call of an `http` doc."""
    assert doc.http is not None
    if not doc.http.servers:
        raise GuardRefusal(f"{doc.id} has no server URL in its spec")
    properties = (doc.parameters or {}).get("properties", {})
    path = doc.http.path
    query: JSONObject = {}
    headers: dict[str, str] = {}
    body: Any = None
    for name, value in call.kwargs.items():
        if isinstance(value, Expression):
            raise InvalidCallError(f"argument {name} is not a literal")
        where = properties.get(name, {}).get("in", "query")
        if where == "path":
            path = path.replace("{" + name + "}", quote(str(value), safe=""))
        elif where == "header":
            headers[name] = str(value)
        elif where == "body":
            body = value
        elif where != "cookie":
            query[name] = json.dumps(value) if isinstance(value, (dict, list)) else value
    url = doc.http.servers[0].rstrip("/") + "/" + path.lstrip("/")
    return doc.http.method.upper(), url, query, headers, body


class HttpCaller:
    def __init__(self, guard: SSRFGuard, limits: HttpLimits | None = None) -> None:
        self.guard = guard
        self.limits = limits or HttpLimits()

    def call(self, call: APICall, doc: APIDoc) -> HttpResult:
        method, url, query, headers, body = build_request(call, doc)
        assert doc.http is not None
        allowed = frozenset((urlsplit(s).hostname or "").lower() for s in doc.http.servers)
        deadline = time.monotonic() + self.limits.total_timeout_s
        timeout = httpx.Timeout(self.limits.read_timeout_s, connect=self.limits.connect_timeout_s)
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            request_origin = origin(url)
            for _ in range(MAX_REDIRECTS + 1):
                response, body_bytes, truncated = self._send(
                    client, method, url, query, headers, body, allowed, deadline
                )
                if response.status_code not in (301, 302, 303, 307, 308):
                    return HttpResult(
                        response.status_code, url, body_bytes.decode(errors="replace"), truncated
                    )
                location = response.headers.get("location")
                if not location:
                    raise HttpFailure(f"redirect {response.status_code} without a Location")
                url = urljoin(url, location)
                query = {}
                if response.status_code == 303 or (
                    response.status_code in (301, 302) and method == "POST"
                ):
                    method, body = "GET", None
                if origin(url) != request_origin:
                    headers = {
                        k: v
                        for k, v in headers.items()
                        if k.lower() not in ("authorization", "cookie")
                    }
                    request_origin = origin(url)
        raise HttpFailure(f"more than {MAX_REDIRECTS} redirects")

    def _send(
        self,
        client: httpx.Client,
        method: str,
        url: str,
        query: JSONObject,
        headers: dict[str, str],
        body: Any,
        allowed: frozenset[str],
        deadline: float,
    ) -> tuple[httpx.Response, bytes, bool]:
        address = self.guard.check(url, allowed)
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"[{address}]" if ":" in address else address
        if parts.port:
            netloc += f":{parts.port}"
        pinned = parts._replace(netloc=netloc).geturl()
        request_headers = {**headers, "Host": parts.netloc.rpartition("@")[2]}
        try:
            with client.stream(
                method,
                pinned,
                params=query or None,
                headers=request_headers,
                json=body,
                extensions={"sni_hostname": host},
            ) as response:
                chunks: list[bytes] = []
                size = 0
                truncated = False
                for chunk in response.iter_bytes():
                    if time.monotonic() > deadline:
                        raise HttpTimeout(
                            f"no complete answer within {self.limits.total_timeout_s} s"
                        )
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > self.limits.max_response_bytes:
                        truncated = True
                        break
                data = b"".join(chunks)[: self.limits.max_response_bytes]
                return response, data, truncated
        except httpx.TimeoutException as exc:
            raise HttpTimeout(f"{type(exc).__name__} calling {host}") from exc
        except httpx.TransportError as exc:
            raise HttpFailure(f"cannot reach {host}: {exc}") from exc
