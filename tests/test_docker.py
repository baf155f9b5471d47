"""The Docker files agree with the code: paths that exist, settings that exist, the port
the service listens on, a non-root user. `docker compose config` validates the compose file
where a Docker engine with the compose plugin is present (this CI machine has only the
client; the test says so when it skips)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def setting_names() -> set[str]:
    return {f"TOOLROUTE_{name.upper()}" for name in Settings.model_fields}


def test_the_dockerfile_copies_what_exists_and_runs_as_non_root() -> None:
    text = DOCKERFILE.read_text()
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.M):
        for path in source.split():
            assert (ROOT / path).exists(), f"COPY {path}: no such file in the repository"
    users = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert users and users[-1] not in ("root", "0")
    assert "EXPOSE 8000" in text and "toolroute serve" in text
    for name in re.findall(r"\b(TOOLROUTE_[A-Z_]+)=", text):
        assert name in setting_names(), f"{name} is not a setting"
    # The pins the Makefile relies on hold in the image too.
    assert "torch==2.13.0" in text and "llama-cpp-python[server]==0.3.36" in text


def test_the_compose_file_matches_the_settings_and_the_dockerfile() -> None:
    data = compose()
    service = data["services"]["toolroute"]
    build = service["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert set(service["environment"]) <= setting_names()
    # Replicas are reached through the load balancer only (they cannot share a host port).
    assert "ports" not in service and service["expose"] == ["8000"]
    assert data["services"]["lb"]["ports"] == ["127.0.0.1:8000:8000"]
    assert "/healthz" in " ".join(service["healthcheck"]["test"])
    assert {"seccomp=unconfined", "apparmor=unconfined"} <= set(service["security_opt"])
    # Optional servers stay off unless their profile is asked for.
    assert data["services"]["postgres"]["profiles"] == ["postgres"]
    assert data["services"]["llamacpp"]["profiles"] == ["llm"]
    for volume in service["volumes"]:
        assert volume.split(":")[0] in data["volumes"]


def test_the_load_balancer_checks_readiness_on_every_replica() -> None:
    """HAProxy's config names the compose service and port, probes /readyz (which answers
    without a key), and retries only requests that never reached a replica."""
    lb = compose()["services"]["lb"]
    mount = next(v for v in lb["volumes"] if "haproxy.cfg" in v)
    config = (COMPOSE.parent / mount.split(":")[0]).read_text()
    assert lb["image"].startswith("haproxy:")
    assert "option httpchk GET /readyz" in config
    assert "http-check expect status 200" in config
    assert re.search(r"server-template \S+ \d+ toolroute:8000", config)
    assert "retry-on conn-failure" in config and "bind :8000" in config


def test_docker_compose_config_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client here")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("docker has no compose plugin here: " + probe.stderr.strip()[:200])
    result = subprocess.run(
        [
            docker,
            "compose",
            "-f",
            str(COMPOSE),
            "--profile",
            "postgres",
            "--profile",
            "llm",
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
