"""The `variations` command, in-process with CliRunner and as a real process."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from variations.cli import main
from variations.loopback import LoopbackServer

REQUIRED_COLUMNS = {
    "model",
    "variant",
    "category",
    "sample",
    "prompt",
    "text",
    "divergence",
    "latency_s",
    "cache_hit",
    "error",
}


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture(autouse=True)
def fake_embeddings(monkeypatch: pytest.MonkeyPatch, fake_encoder) -> None:  # type: ignore[no-untyped-def]
    """The CLI tests check wiring; the real embedder is tested on its own
    (and end to end by the real-process tests below)."""

    class InProcess:
        def encode(self, sentences, **kwargs):  # type: ignore[no-untyped-def]
            return fake_encoder.encode(sentences, **kwargs)

        def close(self) -> None:
            pass

    monkeypatch.setattr("variations.embeddings.load_encoder", lambda: fake_encoder)
    monkeypatch.setattr("variations.embeddings.SubprocessEncoder", InProcess)


@pytest.fixture(scope="module")
def server():  # type: ignore[no-untyped-def]
    with LoopbackServer() as running:
        yield running


def test_variants_lists_every_builtin(cli: CliRunner) -> None:
    result = cli.invoke(main, ["variants"])

    assert result.exit_code == 0
    assert "polite" in result.output and "false_premise" in result.output
    assert len(result.output.splitlines()) >= 24


def test_variants_by_category(cli: CliRunner) -> None:
    result = cli.invoke(main, ["variants", "--category", "framing"])

    assert result.exit_code == 0
    assert all(" framing " in line for line in result.output.splitlines())


def test_unknown_category_is_one_clear_line(cli: CliRunner) -> None:
    result = cli.invoke(main, ["variants", "--category", "nope"])

    assert result.exit_code == 2
    assert result.output.startswith(
        "Error: Unknown category 'nope'. Known categories: "
    )
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("extension", ["csv", "jsonl", "parquet"])
def test_run_writes_every_completion(
    cli: CliRunner, server: LoopbackServer, tmp_path: Path, extension: str
) -> None:
    out = tmp_path / f"run.{extension}"

    result = cli.invoke(
        main,
        [
            "run",
            "Is {coffee} good for you?",
            "--model",
            "openai/a",
            "--model",
            "openai/b",
            "--api-base",
            server.url,
            "--variants",
            "polite,hostile,typos",
            "--samples",
            "2",
            "--out",
            str(out),
        ],
    )

    assert result.exit_code == 0, result.output
    rows = read_rows(out)
    assert len(rows) == 4 * 2 * 2
    assert set(rows[0]) >= REQUIRED_COLUMNS
    polite = [r for r in rows if r["variant"] == "polite"]
    assert "Is {coffee} good for you?" in polite[0]["prompt"]
    assert polite[0]["text"].startswith("Echo: ")
    assert "polite" in result.stdout and "noise floor" in result.stdout


def test_second_run_is_served_from_cache(
    cli: CliRunner, server: LoopbackServer, tmp_path: Path
) -> None:
    args = [
        "run",
        "Why is the sky blue?",
        "-m",
        "openai/a",
        "--api-base",
        server.url,
        "--variants",
        "tone",
        "--out",
        str(tmp_path / "r.jsonl"),
    ]
    server.reset_stats()
    cli.invoke(main, args)
    sent = server.stats.requests

    result = cli.invoke(main, args)

    assert result.exit_code == 0
    assert server.stats.requests == sent
    assert all(row["cache_hit"] for row in read_rows(tmp_path / "r.jsonl"))


def test_no_cache_asks_again(cli: CliRunner, server: LoopbackServer) -> None:
    args = [
        "run",
        "Hello?",
        "-m",
        "openai/a",
        "--api-base",
        server.url,
        "--variants",
        "polite",
        "--no-cache",
    ]
    server.reset_stats()
    cli.invoke(main, args)
    cli.invoke(main, args)

    assert server.stats.requests == 4


def test_failed_cells_are_counted_and_kept(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    with LoopbackServer(
        reply=lambda body: 1 / 0 if "HELLO" in str(body) else "fine"
    ) as flaky:
        result = cli.invoke(
            main,
            [
                "run",
                "hello",
                "-m",
                "openai/a",
                "--api-base",
                flaky.url,
                "--variants",
                "polite,shouting",
                "--out",
                str(out),
            ],
        )

    assert result.exit_code == 0, result.output
    assert "1 of 3 calls failed" in result.stderr
    errors = [row["error"] for row in read_rows(out) if row["variant"] == "shouting"]
    assert errors and errors[0]


def test_every_call_failing_exits_non_zero(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    with LoopbackServer(error_rate=1.0) as down:
        result = cli.invoke(
            main,
            [
                "run",
                "hello",
                "-m",
                "openai/a",
                "--api-base",
                down.url,
                "--variants",
                "polite",
                "--out",
                str(out),
                "--timeout",
                "5",
            ],
        )

    assert result.exit_code == 1
    assert "2 of 2 calls failed" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["   "], "Error: The prompt is empty"),
        (["x" * 8001], "Error: The prompt has 8,001 characters; the limit is 8,000."),
        (["hi", "--variants", "nope"], "Error: Unknown variant 'nope'. Known ids: "),
        (["hi", "--variants", "tonez"], "Error: Unknown variant 'tonez'."),
        (
            ["hi", "-m", "not-a-model-abc"],
            "Error: litellm does not know model 'not-a-model-abc'.",
        ),
        (
            ["hi", "-m", "openai/gpt-4o-mini"],
            "Error: openai/gpt-4o-mini needs an API key: set the environment variable OPENAI_API_KEY",
        ),
        (
            ["hi", "-m", "openai/x", "--api-base", "http://127.0.0.1:9/v1"],
            "Error: Nothing answers at --api-base http://127.0.0.1:9/v1",
        ),
        (["hi", "--samples", "0"], "Error: samples must be between 1 and 50, got 0."),
        (["hi", "--concurrency", "0"], "Error: concurrency must be at least 1, got 0."),
        (
            ["hi", "--out", "result.xlsx"],
            "Error: Cannot write 'result.xlsx': the extension must be one of .csv, .jsonl, .parquet.",
        ),
    ],
)
def test_bad_input_is_one_clear_line_and_writes_nothing(
    cli: CliRunner, tmp_path: Path, arguments: list[str], message: str
) -> None:
    out = tmp_path / "out.csv"
    extra = [] if "--out" in arguments else ["--out", str(out)]

    result = cli.invoke(main, ["run", *arguments, *extra])

    assert result.exit_code == 2
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert not out.exists()


def test_real_process_bad_input_has_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "VARIATIONS_CACHE_DIR": str(tmp_path)}
    finished = subprocess.run(
        [sys.executable, "-m", "variations", "run", "hi", "--variants", "missing"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )

    assert finished.returncode == 2
    assert finished.stderr.startswith("Error: Unknown variant 'missing'.")
    assert "Traceback" not in finished.stderr


def test_real_process_sweep_against_loopback(
    tmp_path: Path, server: LoopbackServer
) -> None:
    out = tmp_path / "run.csv"
    env = {**os.environ, "VARIATIONS_CACHE_DIR": str(tmp_path / "cache")}
    command = [
        sys.executable,
        "-m",
        "variations",
        "run",
        "Is tea better than coffee?",
        "-m",
        "openai/a",
        "--api-base",
        server.url,
        "--variants",
        "polite,child",
        "--out",
        str(out),
    ]

    finished = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300
    )

    assert finished.returncode == 0, finished.stderr
    assert "child" in finished.stdout
    assert len(read_rows(out)) == 3
    assert all(row["divergence"] not in ("", None) for row in read_rows(out))


def read_rows(path: Path) -> list[dict]:  # type: ignore[type-arg]
    if path.suffix == ".csv":
        with path.open(newline="") as stream:
            return list(csv.DictReader(stream))
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    return pq.read_table(path).to_pylist()


def test_model_written_variants_are_shown_before_they_are_sent(
    cli: CliRunner, tmp_path: Path
) -> None:
    def reply(body: dict) -> str:  # type: ignore[type-arg]
        text = str(body["messages"][-1]["content"])
        if text.startswith("Rewrite it as an angry customer"):
            return "Rewritten text: WHY IS MY COFFEE COLD?!"
        if text.startswith("Say the same thing"):
            return "Bananas are yellow."
        return f"Answer to {text}"

    out = tmp_path / "r.csv"
    with LoopbackServer(reply=reply) as writer:
        result = cli.invoke(
            main,
            [
                "run",
                "Why is my coffee cold?",
                "-m",
                "openai/a",
                "--api-base",
                writer.url,
                "--variants",
                "angry_customer,paraphrase",
                "--rewrite-model",
                "openai/writer",
                "--out",
                str(out),
            ],
        )
        rewrite_calls = [body for body in writer.received if body["model"] == "writer"]

    assert result.exit_code == 0, result.output
    assert len(rewrite_calls) == 2
    assert rewrite_calls[0]["temperature"] == 0.0
    assert "Model-written variants (openai/writer):" in result.stderr
    assert "angry_customer (meaning kept " in result.stderr
    assert "    WHY IS MY COFFEE COLD?!" in result.stderr
    assert "DRIFTED from the prompt's meaning" in result.stderr  # the bananas
    assert "paraphrase (drifted)" in result.stdout
    rows = {row["variant"]: row for row in read_rows(out)}
    assert rows["angry_customer"]["prompt"] == "WHY IS MY COFFEE COLD?!"
    assert rows["angry_customer"]["rewrite_model"] == "openai/writer"
    assert rows["paraphrase"]["drifted"] == "True"


def test_variants_from_a_variant_set_file(
    cli: CliRunner, server: LoopbackServer, tmp_path: Path
) -> None:
    (tmp_path / "mine.yaml").write_text(
        "version: 1\nvariants:\n  - id: pirate\n    label: Pirate\n"
        "    description: Arr.\n    template: 'Arr! {prompt}'\n    intent: keep\n"
    )
    out = tmp_path / "r.jsonl"

    result = cli.invoke(
        main,
        [
            "run",
            "Hello?",
            "-m",
            "openai/a",
            "--api-base",
            server.url,
            "--variants",
            str(tmp_path / "mine.yaml"),
            "--out",
            str(out),
        ],
    )
    missing = cli.invoke(main, ["run", "Hello?", "--variants", "nope.yaml"])

    assert result.exit_code == 0, result.output
    assert [row["prompt"] for row in read_rows(out)] == ["Hello?", "Arr! Hello?"]
    assert missing.exit_code == 2
    assert missing.output.startswith("Error: No variant set at ")
