"""The real `toolroute` command in a subprocess, against the full default catalog.

The index is built once per session with `toolroute index build` (the real build of all
1,726 APIs); tests that change the catalog work on a copy of that data directory.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.e2e.conftest import run, run_json


def test_search_json_returns_ranked_docs(built_data_dir: Path) -> None:
    result = run_json(built_data_dir, "search", "summarize a news article")
    hits = result["hits"]
    assert [hit["rank"] for hit in hits] == [1, 2, 3, 4, 5]
    assert hits[0]["score"] >= hits[-1]["score"]
    assert any("Summarization" in hit["domain"] for hit in hits[:3])
    assert {"id", "hub", "call", "domain", "description", "score", "ranks"} <= set(hits[0])


def test_search_table_for_humans(built_data_dir: Path) -> None:
    result = run(
        built_data_dir, "search", "detect objects in a photo", "-k", "3", "--hub", "tensorflowhub"
    )
    assert "APIs for: detect objects in a photo" in result.stdout
    assert "tensorflowhub/" in result.stdout


def test_import_search_list_remove(data_dir: Path) -> None:
    imported = run_json(
        data_dir, "apis", "import", str(FIXTURES / "weather_tools.json"), "--format", "openai-tools"
    )
    assert (imported["added"], imported["updated"], imported["indexed"]) == (2, 0, 2)

    hits = run_json(data_dir, "search", "what is the weather in Paris", "-k", "1")["hits"]
    assert hits[0]["id"] == "functions/get_current_weather"

    listed = run_json(data_dir, "apis", "list", "--hub", "functions")
    assert listed["total"] == 2
    assert [a["id"] for a in listed["apis"]] == [
        "functions/convert_currency",
        "functions/get_current_weather",
    ]

    again = run_json(
        data_dir, "apis", "import", str(FIXTURES / "weather_tools.json"), "--format", "openai-tools"
    )
    assert (again["added"], again["unchanged"]) == (0, 2)

    assert run_json(data_dir, "apis", "rm", "functions/get_current_weather") == {
        "deleted": "functions/get_current_weather"
    }
    hits = run_json(data_dir, "search", "what is the weather in Paris", "-k", "5")["hits"]
    assert "functions/get_current_weather" not in [hit["id"] for hit in hits]


def test_openapi_import_is_searchable(data_dir: Path) -> None:
    run(data_dir, "apis", "import", str(FIXTURES / "todo_openapi.yaml"), "--format", "openapi")
    hits = run_json(
        data_dir, "search", "create a todo item titled buy milk", "--hub", "todo-service"
    )
    assert hits["hits"][0]["id"] == "todo-service/createTodo"
    assert hits["hits"][0]["kind"] == "http"
    assert {hit["id"] for hit in hits["hits"]} == {
        "todo-service/createTodo",
        "todo-service/listTodos",
        "todo-service/delete-todos-todo-id",
    }


def test_a_corrupted_index_is_rebuilt_with_a_warning(data_dir: Path) -> None:
    (data_dir / "index" / "dense.faiss").write_bytes(b"not a faiss index")
    result = run(data_dir, "search", "summarize a news article", "--json")
    assert "warning: rebuilding the search index" in result.stderr
    assert "checksum mismatch" in result.stderr
    assert len(json.loads(result.stdout)["hits"]) == 5
    # The rebuilt index is saved: the next start loads it quietly.
    again = run(data_dir, "search", "summarize a news article", "--json")
    assert "warning" not in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", ""], "the query is empty"),
        (["search", "   "], "the query is empty"),
        (["search", "x" * 10_001], "the limit is 10,000"),
        (["search", "images", "-k", "0"], "Invalid value for '-k'"),
        (["search", "images", "-k", "101"], "Invalid value for '-k'"),
        (["search", "images", "--hub", "pypi"], "unknown hub 'pypi'"),
        (["apis", "rm", "huggingface/no-such-model"], "no API with id"),
        (["bench", "calls", "--arm", "nosuch"], "unknown arm 'nosuch'"),
        (["bench", "calls", "--kind", "multi"], "unknown case kind 'multi'"),
        (["ask", "images", "--hub", "pypi"], "unknown hub 'pypi'"),
        (["ask", "images", "--arm", "nosuch"], "unknown arm 'nosuch'; valid names"),
        (["ask", "images", "--policy", "nosuch"], "nosuch"),
        (["apis", "list", "--hub", "pypi"], "unknown hub 'pypi'"),
        (["apis", "show", "huggingface/no-such-model"], "no API with id"),
        (["eval", "apibench", "--hub", "pypi"], "unknown hub 'pypi'"),
        (["bench", "retrieval", "--scale", "1k,ten"], "not a catalog size: 'ten'"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    built_data_dir: Path, args: list[str], message: str
) -> None:
    result = run(built_data_dir, *args, expect=2)
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "fmt", "message"),
    [
        ('[{"name": "ok_one"}, {"name": "ok_one"}]', "openai-tools", "duplicate ids"),
        ('[{"name": "fine"}, {"description": "no name"}]', "openai-tools", "invalid function name"),
        ("{oops", "openai-tools", "invalid JSON"),
        (
            '{"api_name": "a", "api_call": "f()", "framework": "PyTorch"}\n{bad',
            "apibench",
            "line 2",
        ),
    ],
)
def test_a_malformed_import_changes_nothing(
    data_dir: Path, tmp_path: Path, content: str, fmt: str, message: str
) -> None:
    before = run_json(data_dir, "apis", "list", "--limit", "1")["total"]
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = run(data_dir, "apis", "import", str(bad), "--format", fmt, expect=2)
    assert message in result.stderr
    assert run_json(data_dir, "apis", "list", "--limit", "1")["total"] == before


def test_long_work_reports_progress_when_output_is_a_pipe(index_build: tuple[Path, str]) -> None:
    """The session's index build ran with --json into a pipe: stdout is the JSON alone,
    and stderr still says how far it got."""
    lines = [line for line in index_build[1].splitlines() if line.startswith("Embedding API docs")]
    assert len(lines) >= 3 and lines[-1] == "Embedding API docs: 1726/1726"


def test_argument_errors_come_before_any_model_or_index(data_dir: Path, tmp_path: Path) -> None:
    """A wrong argument is answered before anything heavy starts: on a data dir with no
    index, no index is built."""
    fresh = tmp_path / "fresh"
    for args in (["search", "x", "--hub", "pypi"], ["ask", "x", "--hub", "pypi"]):
        result = run(fresh, *args, expect=2)
        assert "unknown hub 'pypi'" in result.stderr and "Building" not in result.stderr
    assert not (fresh / "index").exists()


def test_user_errors_are_one_line_not_a_traceback(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    cases = [
        (a_file, ["apis", "list"], {}, "TOOLROUTE_DATA_DIR"),
        (tmp_path / "d", ["eval", "apibench", "--out", str(a_file)], {}, "not a directory"),
        (tmp_path / "d", ["serve"], {"TOOLROUTE_PORT": "abc"}, "TOOLROUTE_PORT"),
    ]
    for data, args, env, message in cases:
        result = run(data, *args, expect=2, env=env)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_hubs_are_listed_and_matched_by_name_or_slug(data_dir: Path, tmp_path: Path) -> None:
    spec = tmp_path / "pets.json"
    spec.write_text(
        json.dumps(
            {
                "openapi": "3.0.0",
                "info": {"title": "Pet Store"},
                "paths": {"/pets": {"get": {"operationId": "listPets", "summary": "List pets"}}},
            }
        )
    )
    said = run(data_dir, "apis", "import", str(spec), "--format", "openapi", "--no-index")
    assert "into hub pet-store: 1 added" in said.stdout
    assert run_json(data_dir, "apis", "hubs")["hubs"]["pet-store"] == 1
    for name in ("Pet Store", "pet-store"):
        listed = run_json(data_dir, "apis", "list", "--hub", name)
        assert [api["id"] for api in listed["apis"]] == ["pet-store/listPets"]
    shown = run_json(data_dir, "apis", "show", "pet-store/listPets")
    assert shown["hub"] == "pet-store" and shown["kind"] == "http"
    assert run(data_dir, "--version").stdout.startswith("toolroute ")


def test_an_import_with_a_broken_schema_names_it(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "tools.json"
    bad.write_text(json.dumps([{"name": "f", "parameters": {"type": "object", "properties": "x"}}]))
    result = run(data_dir, "apis", "import", str(bad), "--format", "openai-tools", expect=2)
    assert "tool 'f': parameters: not a valid JSON schema at properties" in result.stderr


def test_bench_retrieval_json_shape(built_data_dir: Path) -> None:
    figures = run_json(
        built_data_dir, "bench", "retrieval", "--hub", "torchhub", "--split", "dev", "--reuse-index"
    )
    assert set(figures) == {"torchhub"}
    assert set(figures["torchhub"]) == {"bm25", "dense", "hybrid"}
    for mode in figures["torchhub"].values():
        assert {"recall@1", "recall@5", "recall@10", "mrr", "domain@1", "p50_ms", "p99_ms"} <= set(
            mode
        )
        assert mode["n"] == 37
        # Every figure names its questions and its model, and whether they overlap: the
        # default embedder was trained on the dev split, so these figures are marked.
        assert (mode["split"], mode["contaminated"]) == ("dev", True)
        assert (mode["embedder"], mode["rerank"]) == ("minilm-apibench", "off")
        assert 0 <= mode["recall@1"] <= mode["recall@5"] <= mode["recall@10"] <= 1
    # A sanity floor far below the measured figures (BENCHMARKS.md): retrieval works at all.
    assert figures["torchhub"]["hybrid"]["recall@10"] > 0.3


def test_bench_retrieval_at_scale_json_shape(built_data_dir: Path) -> None:
    """A small but real run: a synthetic catalog built, searched and updated in a child
    process, figures in the shape the issue asks for."""
    report = run_json(built_data_dir, "bench", "retrieval", "--scale", "300")
    figures = report["scale"]["300"]
    assert {"build_s", "peak_rss_mb", "index_mb", "p50_ms", "p99_ms", "add_ms"} <= set(figures)
    assert figures["precision"] == "fp32"  # int8 only from 20,000 APIs
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] and figures["build_s"] > 0
    assert report["embedder"] == "minilm-apibench"


def test_index_tune_writes_a_model_and_refuses_bad_pairs(
    built_data_dir: Path, tmp_path: Path
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "\n".join(
            json.dumps({"query": query, "api_id": api_id})
            for query, api_id in [
                ("which breed is the dog in my photo", "torchhub/pytorch/vision/resnet50"),
                ("read my bedtime story aloud", "torchhub/snakers4/silero-models/silero_tts"),
                ("boxes around cars on a road camera", "torchhub/ultralytics/yolov5/yolov5s"),
            ]
        )
    )
    out = tmp_path / "tuned"
    result = run_json(built_data_dir, "index", "tune", "--pairs", str(pairs), "--out", str(out))
    assert (result["pairs"], result["epochs"], result["model_dir"]) == (3, 1, str(out))
    assert result["hard_negatives"] is True  # the default model's recipe
    provenance = json.loads((out / "toolroute-tuning.json").read_text())
    assert provenance["pairs"] == 3
    assert provenance["training_data"] == {"pairs_file": str(pairs), "hard_negatives": True}

    again = run(built_data_dir, "index", "tune", "--pairs", str(pairs), "--out", str(out), expect=2)
    assert "pass --force" in again.stderr

    pairs.write_text('{"query": "q", "api_id": "torchhub/no-such-api"}\n{"query": "r"}\n')
    bad = run(
        built_data_dir,
        "index",
        "tune",
        "--pairs",
        str(pairs),
        "--out",
        str(tmp_path / "x"),
        expect=2,
    )
    assert 'line 2: "api_id" must be a non-empty string' in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not (tmp_path / "x").exists()


def test_index_tune_learns_from_approved_tasks(data_dir: Path, tmp_path: Path) -> None:
    from agent.task import TaskResult
    from agent.tasks import TaskStore

    now = "2026-12-02T10:00:00+00:00"
    tasks = TaskStore(f"sqlite:///{data_dir / 'tasks.db'}")
    for query, api_id, score in [
        ("label the animals in my photos", "torchhub/pytorch/vision/resnet50", 1),
        ("make my voice a robot", "torchhub/snakers4/silero-models/silero_tts", -1),
    ]:
        task = TaskResult.model_validate(
            {"task_id": uuid.uuid4().hex, "created_at": now, "query": query, "k": 5,
             "arm": "template", "api_id": api_id, "reward": 1.0, "latency_ms": 1.0, "cost": 0.0}
        )  # fmt: skip
        tasks.save(task)
        tasks.add_feedback(task.task_id, "api:k1", score, None, now)
    tasks.close()
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        json.dumps({"query": "boxes around cars", "api_id": "torchhub/ultralytics/yolov5/yolov5s"})
    )
    args = ["index", "tune", "--pairs", str(pairs), "--from-feedback", "--out", str(tmp_path / "m")]
    result = run_json(data_dir, *args)
    assert result["pairs"] == 2  # the file's pair and the one approved task
    assert result["training_data"] == {"pairs_file": str(pairs), "feedback_tasks": 1}


def test_keys_are_created_once_listed_and_revoked(tmp_path: Path) -> None:
    created = run_json(tmp_path, "keys", "create", "--admin")
    assert created["key"].startswith("tr_") and created["scope"] == "admin"
    user = run_json(tmp_path, "keys", "create")
    listed = run_json(tmp_path, "keys", "list")
    assert {(k["id"], k["scope"]) for k in listed} == {
        (created["id"], "admin"),
        (user["id"], "user"),
    }
    stored = (tmp_path / "api_keys.json").read_text()
    assert created["key"] not in stored and user["key"] not in stored  # hashes only
    assert (tmp_path / "api_keys.json").stat().st_mode & 0o777 == 0o600
    run(tmp_path, "keys", "revoke", user["id"])
    assert [k["id"] for k in run_json(tmp_path, "keys", "list")] == [created["id"]]
    missing = run(tmp_path, "keys", "revoke", "nope", expect=2)
    assert "no stored key" in missing.stderr and "Traceback" not in missing.stderr


def test_an_import_that_would_load_foreign_code_is_refused_whole(
    data_dir: Path, tmp_path: Path
) -> None:
    lines = [
        {
            "api_name": "fine",
            "api_call": "torch.hub.load('pytorch/vision', 'resnet18')",
            "framework": "PyTorch",
        },
        {
            "api_name": "evil",
            "api_call": "torch.hub.load('attacker/evil', 'x')",
            "framework": "PyTorch",
        },
    ]
    path = tmp_path / "poisoned_api.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    refused = run(data_dir, "apis", "import", str(path), "--format", "apibench", expect=2)
    assert (
        "torchhub/attacker/evil/x" in refused.stderr and "not an allowed source" in refused.stderr
    )
    assert "Traceback" not in refused.stderr
    listed = run_json(data_dir, "apis", "list", "--hub", "torchhub", "--limit", "500")
    assert not any("attacker" in api["id"] for api in listed["apis"])


def test_bench_calls_json_shape(built_data_dir: Path) -> None:
    # The first 3 cases of each kind through the chat endpoint's code, by the template arm
    # (zero-token: the real extractor, the real selection and declining).
    figures = run_json(built_data_dir, "bench", "calls", "--arm", "template", "--limit", "3")
    assert set(figures) == {"template"}
    report = figures["template"]
    for kind in ("single", "choose"):
        assert report[kind]["n"] == 3
        assert {"function", "exact", "exact_grounded", "n_grounded", "extra_calls"} <= set(
            report[kind]
        )
        assert 0 <= report[kind]["exact"] <= report[kind]["function"] <= 1
    assert report["decline"]["n"] == 3 and 0 <= report["decline"]["no_call"] <= 1
    assert {"relevant_called", "p50_ms", "p95_ms", "cost", "served", "reward_auc"} <= set(report)
    assert report["p50_ms"] <= report["p95_ms"]
    # The first single-function case names its one function plainly: the template arm calls it.
    assert report["single"]["function"] > 0
