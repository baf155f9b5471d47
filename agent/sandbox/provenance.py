"""Where the code a call loads comes from: only from places the operator trusts.

A catalog call may load a model by id, but never code from an arbitrary place:

- `torch.hub.load(repo, model)` runs the repository's `hubconf.py`: the repository must be
  one the operator allows (the bundled catalog's 26, plus `TOOLROUTE_SANDBOX_TORCHHUB_REPOS`),
  and `source='local'` (a directory) is refused;
- `trust_remote_code=True` runs code from the model's repository: refused;
- a string argument that is a filesystem path, or a URL on a host the operator has not
  allowed (`tfhub.dev`, Kaggle and Hugging Face by default, plus
  `TOOLROUTE_SANDBOX_MODEL_HOSTS`), is refused.

`CodeOrigins.call_problems` judges a recorded or parsed call (the executor turns any problem
into `blocked`); `doc_problems` judges an imported doc's canonical call, together with the
sandbox's static policy, so that an import holding one is refused before anything is written.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from agent.apicall import APICall, Expression
from agent.sandbox import policy
from agent.sandbox.protocol import looks_like_path
from apidb import APIDoc

# The torch.hub repositories the bundled APIBench catalog loads from.
BUNDLED_TORCHHUB_REPOS = frozenset(
    """pytorch/vision NVIDIA/DeepLearningExamples szq0214/MEAL-V2 szq0214/MEAL-V1
    facebookresearch/WSL-Images PingoLH/Pytorch-HarDNet XingangPan/IBN-Net
    zhanghang1989/ResNeSt facebookresearch/pytorchvideo intel-isl/MiDaS
    mit-han-lab/ProxylessNAS huawei-noah/Efficient-AI-Backbones snakers4/silero-models
    facebookresearch/pytorch_GAN_zoo pytorch/fairseq datvuthanh/hybridnets hustvl/yolop
    sigsep/open-unmix-pytorch nicolalandro/ntsnet-cub200 snakers4/silero-vad
    ultralytics/yolov5 mateuszbuda/brain-segmentation-pytorch huawei-noah/ghostnet
    mit-han-lab/once-for-all facebookresearch/semi-supervised-ImageNet1K-models
    huggingface/pytorch-transformers""".split()
)
# Hosts that serve models by id (a TF Hub handle is a URL), not code.
DEFAULT_MODEL_HOSTS = frozenset({"tfhub.dev", "www.kaggle.com", "kaggle.com", "huggingface.co"})

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_QUOTED = re.compile(r"""['"]([^'"]{1,500})['"]""")


@dataclass(frozen=True, slots=True)
class CodeOrigins:
    torchhub_repos: frozenset[str] = BUNDLED_TORCHHUB_REPOS
    model_hosts: frozenset[str] = DEFAULT_MODEL_HOSTS
    _cache: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def with_extra(cls, repos: Iterable[str] = (), hosts: Iterable[str] = ()) -> CodeOrigins:
        return cls(
            BUNDLED_TORCHHUB_REPOS | {r.strip() for r in repos if r.strip()},
            DEFAULT_MODEL_HOSTS | {h.strip().lower() for h in hosts if h.strip()},
        )

    def call_problems(self, call: APICall, *, loads_model: bool) -> list[str]:
        """Why this call would load code from outside what the operator trusts.
        `loads_model`: the call is (or claims to be) a catalog model load, so the model it
        names (first arguments, identifying keywords) must be an id or an allowed URL."""
        problems: list[str] = []
        if _is_torch_hub_load(call):
            repo = _argument(call, 0, "repo_or_dir")
            if isinstance(repo, str) and not self._repo_allowed(repo):
                problems.append(f"torch.hub repository {repo!r} is not an allowed source of code")
            if call.kwargs.get("source") == "local":
                problems.append("torch.hub.load(source='local') loads code from a directory")
        trust = call.kwargs.get("trust_remote_code")
        if trust is not False and trust is not None:
            problems.append("trust_remote_code=True would run code from the model repository")
        if loads_model:
            named = [*call.args[:2], *(call.kwargs.get(k) for k in policy.IDENTIFYING_KEYWORDS)]
            for value in named:
                problems.extend(self._value_problems(value))
        return list(dict.fromkeys(problems))

    def doc_problems(self, doc: APIDoc) -> tuple[str, ...]:
        """Why a doc's canonical call must not be in the catalog (cached per call text)."""
        if doc.kind != "python" or not doc.call:
            return ()
        found = self._cache.get(doc.call)
        if found is None:
            found = self._cache[doc.call] = tuple(self._code_problems(doc.call))
        return found

    def _code_problems(self, code: str) -> Iterator[str]:
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            # APIBench writes some calls that are not Python (bare model ids, shell
            # commands whose quoted paths are download targets): judge the URLs in them
            # and the one flag that matters, as text.
            if re.search(r"trust_remote_code\s*=\s*True", code):
                yield "trust_remote_code=True would run code from the model repository"
            for text in _QUOTED.findall(code):
                if _URL.match(text):
                    yield from self._value_problems(text)
            return
        yield from policy.check_code(code)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                yield from self.call_problems(_parsed_call(node), loads_model=True)

    def _value_problems(self, value: Any) -> Iterator[str]:
        if not isinstance(value, str):
            return
        if looks_like_path(value):
            yield f"{value!r} is a filesystem path, not a model id"
        elif _URL.match(value):
            parts = urlsplit(value)
            host = (parts.hostname or "").lower()
            if parts.scheme not in ("http", "https") or host not in self.model_hosts:
                yield f"{value!r} is not on an allowed model host"

    def _repo_allowed(self, repo: str) -> bool:
        # `owner/name:branch` names a branch of an allowed repository.
        return repo.partition(":")[0] in self.torchhub_repos


def _is_torch_hub_load(call: APICall) -> bool:
    return call.qualified.endswith("hub.load") and (
        call.qualified.startswith("torch.") or "repo_or_dir" in call.kwargs
    )


def _argument(call: APICall, position: int, keyword: str) -> Any:
    if keyword in call.kwargs:
        return call.kwargs[keyword]
    return call.args[position] if len(call.args) > position else None


def _parsed_call(node: ast.Call) -> APICall:
    """Enough of a call for `call_problems`: its dotted name and literal arguments."""
    name = ast.unparse(node.func)
    args = tuple(_literal(a) for a in node.args)
    kwargs = {k.arg: _literal(k.value) for k in node.keywords if k.arg is not None}
    return APICall(name, name, args, kwargs, ast.unparse(node))


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return Expression(ast.unparse(node))
