"""Running a plan into a run folder, reproducibly, and the CLI around it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import FakeCompletion
from variations.cli import main
from variations.embeddings import Embedder
from variations.loopback import LoopbackServer, echo_reply
from variations.records import ChatRequest
from variations.research import PlanOptions, format_report, metrics_of, run_plan
from variations.run_store import RUN_FILES, load_run
from variations.run_view import run_result
from variations.sweep_plan import load_plan, parse_plan

PLAN = """
name: small
prompts:
  - {id: sky, text: Why is the sky blue?}
  - {id: tea, text: Is tea good for you?}
variants: polite,hostile
models: [openai/a, {name: openai/b, max_tokens: 20}]
samples: 5
seed: 11
permutations: 100
bootstraps: 100
"""
WORDS = ["light", "air", "sun", "waves", "blue"]


def scripted(request: ChatRequest) -> str:
    """Baseline-like answers vary by sample; 'hostile' answers differ wholly."""
    noise = WORDS[(request.sample + len(request.model)) % len(WORDS)]
    if request.variant_id == "hostile":
        return f"no rude stop angry {noise}"
    return f"the answer is scattering of {noise}"


def test_a_rerun_with_a_warm_cache_reproduces_the_numbers(
    tmp_path: Path, fake_embedder: Embedder
) -> None:
    resolved = parse_plan(PLAN)
    fake = FakeCompletion(script=scripted)

    first = run_plan(resolved, tmp_path / "one", complete=fake, embedder=fake_embedder)
    calls = len(fake.calls)
    second = run_plan(resolved, tmp_path / "two", complete=fake, embedder=fake_embedder)

    assert calls == 2 * 3 * 2 * 5 and len(fake.calls) == calls
    for name in ("metrics.csv", "models.csv", "variants.csv"):
        one = (tmp_path / "one" / name).read_bytes()
        assert one == (tmp_path / "two" / name).read_bytes(), name
    assert first.manifest["counts"] == {
        "answers": 60,
        "calls": 60,
        "cache_hits": 0,
        "failures": 0,
        "rewrites": 0,
        "rewrite_failures": 0,
        "drifted_rewrites": 0,
    }
    assert second.manifest["counts"]["cache_hits"] == 60
    assert (first.embeddings == second.embeddings).all()


def test_the_run_folder_holds_everything(
    tmp_path: Path, fake_embedder: Embedder
) -> None:
    run = run_plan(
        parse_plan(PLAN),
        tmp_path / "run",
        complete=FakeCompletion(script=scripted),
        embedder=fake_embedder,
    )

    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(RUN_FILES)
    assert [row["row"] for row in run.completions] == list(range(60))
    assert run.completions[0]["prompt_id"] == "sky"
    assert run.embeddings.shape == (60, 384) and run.embeddings.dtype == "float32"
    manifest = run.manifest
    assert manifest["plan"]["variant_ids"] == ["polite", "hostile"]
    assert manifest["versions"]["numpy"] and manifest["embedding_model"]
    assert manifest["started"] <= manifest["ended"]
    assert manifest["analysis"]["permutations"] == 100
    hostile = [r for r in run.metrics if r["variant"] == "hostile"]
    assert all(r["significant"] for r in hostile if r["prompt_id"] == "all")
    assert run.variants[0]["variant"] == "hostile"
    assert metrics_of(run).variants[0]["variant"] == "hostile"


def test_failed_calls_are_counted(tmp_path: Path, fake_embedder: Embedder) -> None:
    def flaky(request: ChatRequest) -> str:
        if request.model == "openai/b" and request.sample == 0:
            raise RuntimeError("boom")
        return scripted(request)

    run = run_plan(
        parse_plan(PLAN),
        tmp_path / "run",
        complete=FakeCompletion(script=flaky),
        embedder=fake_embedder,
    )

    assert run.manifest["counts"]["failures"] == 2 * 3
    assert sum(row["error"] is not None for row in run.completions) == 6


def test_a_non_empty_folder_is_refused_before_any_call(
    tmp_path: Path, fake_embedder: Embedder
) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("mine")
    fake = FakeCompletion()

    with pytest.raises(Exception, match="is not empty.*--force"):
        run_plan(parse_plan(PLAN), tmp_path / "run", complete=fake)

    assert not fake.calls
    run_plan(
        parse_plan(PLAN),
        tmp_path / "run",
        PlanOptions(force=True),
        complete=fake,
        embedder=fake_embedder,
    )
    assert not (tmp_path / "run" / "keep.txt").exists()


def test_report_shows_models_shifts_and_ranking(
    tmp_path: Path, fake_embedder: Embedder
) -> None:
    run = run_plan(
        parse_plan(PLAN),
        tmp_path / "run",
        complete=FakeCompletion(script=scripted),
        embedder=fake_embedder,
    )

    text = format_report(run)

    assert text.startswith("Run small: 2 prompts, 2 variants, 2 models, 5 samples")
    assert "openai/a" in text and "noise floor" in text and "PERMANOVA" in text
    assert "sensitivity" in text and "beyond noise" in text
    assert "hostile" in text.split("Variants ranked")[1].splitlines()[2]


@pytest.fixture
def cli_embeddings(monkeypatch: pytest.MonkeyPatch, fake_encoder) -> None:  # type: ignore[no-untyped-def]
    class InProcess:
        def encode(self, sentences, **kwargs):  # type: ignore[no-untyped-def]
            return fake_encoder.encode(sentences, **kwargs)

        def close(self) -> None:
            pass

    monkeypatch.setattr("variations.embeddings.load_encoder", lambda: fake_encoder)
    monkeypatch.setattr("variations.embeddings.SubprocessEncoder", InProcess)


def sampled_echo(request: dict) -> str:  # type: ignore[type-arg]
    return f"{echo_reply(request)} {WORDS[int(request.get('seed') or 0) % 5]}"


@pytest.mark.usefixtures("cli_embeddings")
def test_cli_sweep_then_report_against_loopback(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    runner = CliRunner()
    with LoopbackServer(reply=sampled_echo) as server:
        models = f"[{{name: openai/a, api_base: '{server.url}'}}]"
        plan.write_text(
            PLAN.replace("[openai/a, {name: openai/b, max_tokens: 20}]", models)
        )
        swept = runner.invoke(main, ["sweep", str(plan), "--out", str(tmp_path / "r")])
        sent, url = server.stats.requests, server.url

    assert swept.exit_code == 0, swept.output
    assert sent == 2 * 3 * 5
    assert "Variants ranked" in swept.stdout
    reported = runner.invoke(main, ["report", str(tmp_path / "r")])
    assert reported.exit_code == 0, reported.output
    assert reported.stdout == swept.stdout
    assert load_run(tmp_path / "r").manifest["models"][0]["api_base"] == url


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "{tmp}"], "Error: '{tmp}' is not a run: it has no manifest.json."),
        (["sweep", "{tmp}/none.yaml", "--out", "{tmp}/r"], "Error: No sweep plan at"),
        (
            ["sweep", "{tmp}/typo.yaml", "--out", "{tmp}/r"],
            "Error: {tmp}/typo.yaml: field nmae: unknown field",
        ),
    ],
)
def test_cli_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "typo.yaml").write_text(PLAN.replace("name: small", "nmae: small"))

    result = CliRunner().invoke(main, [a.format(tmp=tmp_path) for a in args])

    assert result.exit_code == 2
    assert result.output.startswith(message.format(tmp=tmp_path))
    assert len(result.output.strip().splitlines()) == 1


def test_report_imports_neither_torch_nor_litellm(
    tmp_path: Path, fake_embedder: Embedder
) -> None:
    run_plan(
        parse_plan(PLAN),
        tmp_path / "run",
        complete=FakeCompletion(script=scripted),
        embedder=fake_embedder,
    )
    code = (
        "import sys; from pathlib import Path; from variations.cli import main\n"
        "try:\n    main([ 'report', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
        "print('heavy', 'torch' in sys.modules or 'litellm' in sys.modules)"
    )

    finished = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert "Variants ranked" in finished.stdout, finished.stderr
    assert finished.stdout.strip().endswith("heavy False")


REWRITE_SET = """
version: 1
variants:
  - id: polite
    label: Polite
    category: tone
    description: Wraps the prompt in a friendly greeting and warm thanks.
    template: "Hi! I hope you're having a good day. Could you help me with something?\\n\\n{prompt}\\n\\nThank you so much, I really appreciate it."
    intent: keep
  - id: shouty
    label: Shouty
    description: A model rewrites it in capitals.
    instruction: Rewrite it in capitals.
    intent: keep
  - id: lost
    label: Lost
    description: A model that loses the thread.
    instruction: Rewrite it as a pirate would.
    intent: keep
"""


def rewriting(request: ChatRequest) -> str:
    """Rewrites keep the sky question or lose it; answers echo the prompt."""
    if request.category == "rewriting":
        question = request.prompt.rsplit("Text: ", 1)[1]
        return question.upper() if "capitals" in request.prompt else "Arr, bananas."
    return f"the answer to {request.prompt.lower()}"


def test_a_plan_with_model_written_variants_records_and_flags_them(
    tmp_path: Path, fake_embedder: Embedder
) -> None:
    (tmp_path / "set.yaml").write_text(REWRITE_SET)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        PLAN.replace("variants: polite,hostile", "variants: set.yaml")
        .replace("samples: 5", "samples: 2")
        .replace("models: [openai/a, {name: openai/b, max_tokens: 20}]", "models: [a]")
        + "rewrite_model: writer\nmeaning_threshold: 0.6\n"
    )
    fake = FakeCompletion(script=rewriting)

    run = run_plan(
        load_plan(plan), tmp_path / "run", complete=fake, embedder=fake_embedder
    )
    run_plan(load_plan(plan), tmp_path / "again", complete=fake, embedder=fake_embedder)

    rewrites = {(r["prompt_id"], r["variant"]): r for r in run.manifest["rewrites"]}
    assert rewrites[("sky", "shouty")]["text"] == "WHY IS THE SKY BLUE?"
    assert rewrites[("sky", "shouty")]["model"] == "writer"
    assert rewrites[("sky", "lost")]["drifted"] is True
    assert rewrites[("sky", "shouty")]["drifted"] is False
    assert run.manifest["counts"]["rewrites"] == 4
    assert [c.model for c in fake.calls].count("writer") == 4  # once; then cached
    sent = {row["prompt"] for row in run.completions if row["variant"] == "shouty"}
    assert sent == {"WHY IS THE SKY BLUE?", "IS TEA GOOD FOR YOU?"}
    drifted = {row["variant"] for row in run.completions if row["drifted"]}
    assert drifted == {"lost"}
    assert run_result(run, "sky").drifted == {"lost"}  # as the Runs page shows it
    report = format_report(run)
    assert "  sky/shouty                   1.00  WHY IS THE SKY BLUE?" in report
    assert "  sky/lost                     0.00 DRIFTED  Arr, bananas." in report
    flagged = {(r["prompt_id"], r["variant"]) for r in run.metrics if r["drifted"]}
    assert flagged == {("sky", "lost"), ("tea", "lost"), ("all", "lost")}
    assert (tmp_path / "run" / "metrics.csv").read_bytes() == (
        tmp_path / "again" / "metrics.csv"
    ).read_bytes()
