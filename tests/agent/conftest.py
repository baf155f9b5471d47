"""The catalog and the real sandbox that the executor and attack tests share (module scope)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.resolve import CallResolver
from agent.sandbox import Sandbox, SandboxExecutor, SandboxLimits
from apidb import APIDoc
from apidb.demo import STDLIB_TOOLS
from apidb.loaders import load_file

PROJECT = Path(__file__).resolve().parents[2]
DOCS = [
    APIDoc(
        id="huggingface/facebook/bart-large-cnn",
        hub="huggingface",
        kind="python",
        domain="Natural Language Processing Summarization",
        name="facebook/bart-large-cnn",
        call="pipeline('summarization', model='facebook/bart-large-cnn')",
    ),
    APIDoc(
        id="torchhub/resnet18",
        hub="torchhub",
        kind="python",
        domain="Classification",
        name="resnet18",
        call="torch.hub.load(repo_or_dir='pytorch/vision', model='resnet18', pretrained=True)",
    ),
    APIDoc(
        id="tensorflowhub/mobilenet",
        hub="tensorflowhub",
        kind="python",
        domain="Image classification",
        name="mobilenet_v2",
        call="hub.KerasLayer('https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/classification/4')",
    ),
    *load_file(STDLIB_TOOLS, "openai-tools", hub="stdlib"),
]


@pytest.fixture(scope="module")
def resolver() -> CallResolver:
    return CallResolver(DOCS)


@pytest.fixture(scope="module")
def executor() -> SandboxExecutor:
    sandbox = Sandbox("bwrap", SandboxLimits(timeout_s=4, cpu_seconds=3))
    sandbox.check()
    return SandboxExecutor(sandbox, live_allowlist=["math:*", "statistics:*"])
