from __future__ import annotations

from pathlib import Path

import pytest

from variations.embeddings import Embedder
from variations.errors import ConfigurationError
from variations.research import run_plan
from variations.run_store import load_run
from variations.run_view import (
    list_runs,
    resolve_run,
    run_prompt_ids,
    run_result,
    runs_dir,
)
from variations.sweep_plan import parse_plan

from .conftest import FakeCompletion

PLAN = """
name: small
prompts:
  - {id: sky, text: Why is the sky blue?}
  - {id: tea, text: Is tea good for you?}
variants: polite,hostile
models: [openai/a]
samples: 2
permutations: 50
bootstraps: 50
"""


def write_run(folder: Path, embedder: Embedder) -> Path:
    fake = FakeCompletion(lambda r: f"{r.variant_id} says {r.sample}")
    run_plan(parse_plan(PLAN), folder, complete=fake, embedder=embedder)
    return folder


def test_a_prompt_of_a_run_becomes_a_sweep_with_its_own_vectors(
    tmp_path: Path, fake_embedder: Embedder
) -> None:
    run = load_run(write_run(tmp_path / "run-1", fake_embedder))

    result = run_result(run, "tea")

    assert run_prompt_ids(run) == ["sky", "tea"]
    assert result.spec.prompt == "Is tea good for you?"
    assert [v.id for v in result.spec.variants] == ["polite", "hostile"]
    assert result.spec.samples == 2
    assert len(result.completions) == len(result.vectors) == 3 * 2
    assert result.completions[0].text == "original says 0"
    with pytest.raises(ConfigurationError, match="has no prompt 'nope'"):
        run_result(run, "nope")


def test_runs_are_opened_only_inside_the_runs_folder(
    tmp_path: Path, fake_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VARIATIONS_RUNS_DIR", str(tmp_path / "runs"))
    (tmp_path / "runs").mkdir()
    write_run(tmp_path / "runs" / "first", fake_embedder)
    (tmp_path / "runs" / "not-a-run").mkdir()

    assert list_runs(runs_dir()) == ["first"]
    assert resolve_run(runs_dir(), "first") == (tmp_path / "runs" / "first").resolve()
    write_run(tmp_path / "outside", fake_embedder)
    (tmp_path / "runs" / "link").symlink_to(tmp_path / "outside")
    for name in ("../runs/first", "../outside", "/etc", "..", "missing", "link"):
        with pytest.raises(ConfigurationError, match="No run named"):
            resolve_run(runs_dir(), name)
