"""Model-written variants: the rewrite call, cleaning, caching, scoring, the sweep."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import FakeCompletion
from variations.cache import CompletionCache
from variations.embeddings import Embedder
from variations.errors import ConfigurationError
from variations.records import ChatRequest, Reply
from variations.rewrites import (
    DEFAULT_THRESHOLD,
    REWRITER_ROLE,
    Rewrite,
    cached_rewrites,
    clean_rewrite,
    rewrite_request,
    score_rewrites,
    write_rewrites,
)
from variations.sweep import SweepSpec, build_requests
from variations.variant_sets import make_variant
from variations.variants import load_library

PROMPT = "Is it safe to skip breakfast every day?"
ANGRY = make_variant(
    id="angry",
    label="Angry",
    description="d",
    template="",
    intent="keep",
    instruction="Rewrite it as an angry customer would say it.",
)
SCEPTIC = make_variant(
    id="sceptic",
    label="Sceptic",
    description="d",
    template="",
    intent="reframe",
    instruction="Rewrite it as a sceptic would ask it.",
)


def rewriter(request: ChatRequest) -> str:
    if "angry" in request.prompt:
        return "Rewritten text: Is it safe to skip breakfast every day, seriously?"
    return "Bananas grow on tall plants."


def test_the_rewrite_call_is_greedy_seeded_and_carries_the_instruction() -> None:
    request = rewrite_request(PROMPT, ANGRY, "local/smollm2-135m")

    assert request.params.temperature == 0.0
    assert request.params.seed == 0
    assert request.sample_seed == 0
    assert [m.role for m in request.messages] == ["system", "user"]
    assert request.messages[0].content == REWRITER_ROLE
    assert request.prompt == (
        "Rewrite it as an angry customer would say it.\n\nText: " + PROMPT
    )


def test_a_template_variant_is_not_rewritten() -> None:
    polite = make_variant(
        id="p", label="P", description="d", template="Hi. {prompt}", intent="keep"
    )
    with pytest.raises(ConfigurationError, match="has a template, not an instr"):
        rewrite_request(PROMPT, polite, "local/smollm2-135m")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Sure! Here it is: Why, though?", "Why, though?"),
        ('"Why, though?"', "Why, though?"),
        ("Text: Why?\n\nThis keeps the meaning.", "Why?"),
        ("Rewritten text:\n“Why?”", "Why?"),
        ("Why? Because: reasons.", "Why? Because: reasons."),
        ("   ", ""),
    ],
)
def test_clean_rewrite_strips_labels_codas_and_quotes(raw: str, expected: str) -> None:
    assert clean_rewrite(raw, "One paragraph?") == expected


def test_rewrites_are_written_once_cached_and_read_back(tmp_path: Path) -> None:
    complete = FakeCompletion(rewriter)
    cache = CompletionCache(tmp_path)
    jobs = [(PROMPT, ANGRY), (PROMPT, SCEPTIC), (PROMPT, ANGRY)]

    first = asyncio.run(write_rewrites(jobs, complete, cache=cache))
    again = asyncio.run(write_rewrites(jobs, complete, cache=cache))

    assert len(complete.calls) == 2  # the repeated job is one call
    assert [r.variant_id for r in first] == ["angry", "sceptic", "angry"]
    assert first[0].text == "Is it safe to skip breakfast every day, seriously?"
    assert not first[0].cache_hit and all(r.cache_hit for r in again)
    assert cached_rewrites(jobs, cache) == again
    assert cached_rewrites([("Another prompt?", ANGRY)], cache) == [None]


def test_a_failed_rewrite_is_an_error_and_is_not_cached(tmp_path: Path) -> None:
    def broken(request: ChatRequest) -> str:
        raise RuntimeError("the rewriting model is down")

    cache = CompletionCache(tmp_path)
    [failed] = asyncio.run(
        write_rewrites([(PROMPT, ANGRY)], FakeCompletion(broken), cache=cache)
    )
    [empty] = asyncio.run(
        write_rewrites([(PROMPT, ANGRY)], FakeCompletion(lambda r: " "), cache=None)
    )

    assert failed.error == "the rewriting model is down" and not failed.ok
    assert cached_rewrites([(PROMPT, ANGRY)], cache) == [None]
    assert empty.error == (
        "local/smollm2-135m returned no rewritten text; try another rewriting model."
    )


def test_a_rewrite_that_loses_the_meaning_is_flagged_only_if_meant_to_keep_it(
    fake_embedder: Embedder,
) -> None:
    kept = Rewrite(PROMPT, "angry", "m", "Is it safe to skip breakfast every day?!")
    lost = Rewrite(PROMPT, "angry", "m", "Bananas grow on tall plants.")
    reframed = Rewrite(PROMPT, "sceptic", "m", "Bananas grow on tall plants.")
    failed = Rewrite(PROMPT, "angry", "m", "", error="down")

    scored = score_rewrites(
        [kept, lost, reframed, failed], [ANGRY, SCEPTIC], fake_embedder, threshold=0.5
    )

    assert scored[0].similarity is not None and scored[0].similarity > 0.8
    assert not scored[0].drifted
    assert scored[1].similarity is not None and scored[1].similarity < 0.5
    assert scored[1].drifted
    assert not scored[2].drifted  # a reframing variant is meant to move away
    assert scored[3] == failed


def test_a_threshold_outside_cosine_range_is_refused(fake_embedder: Embedder) -> None:
    with pytest.raises(ConfigurationError, match="from -1 to 1, got 1.5"):
        score_rewrites([], [ANGRY], fake_embedder, threshold=1.5)


def test_a_sweep_sends_written_variants_and_leaves_failed_ones_out() -> None:
    written = Rewrite(PROMPT, "angry", "m", "WHY WOULD I EAT BREAKFAST?!")
    failed = Rewrite(PROMPT, "sceptic", "m", "", error="down")

    spec = SweepSpec(
        prompt=PROMPT,
        variants=(ANGRY, SCEPTIC),
        models=("a",),
        rewrites=(written, failed),
    )

    assert [(r.variant_id, r.prompt) for r in build_requests(spec)] == [
        ("original", PROMPT),
        ("angry", "WHY WOULD I EAT BREAKFAST?!"),
    ]


@pytest.mark.model
async def test_the_embedded_model_writes_a_rewrite_that_is_scored_for_real(
    chat_model: object, model_cache_dir: Path, tmp_path: Path
) -> None:
    from variations.local_model import complete_local

    async def local(request: ChatRequest) -> Reply:
        return await complete_local(request, cache_dir=model_cache_dir)

    cache = CompletionCache(tmp_path)
    embedder = Embedder(tmp_path)
    angry = load_library().get("angry_customer")
    jobs = [(PROMPT, angry)]

    [first] = await write_rewrites(jobs, local, cache=cache)
    [again] = await write_rewrites(jobs, local, cache=cache)
    [scored] = score_rewrites([first], [angry], embedder)

    assert first.ok and first.text, first.error
    assert again.cache_hit and again.text == first.text  # greedy: the same text
    assert scored.similarity is not None and -1.0 <= scored.similarity <= 1.0
    assert scored.drifted == (scored.similarity < DEFAULT_THRESHOLD)
    embedder.close()


def test_a_rewrite_that_gives_the_prompt_back_is_called_unchanged() -> None:
    same = Rewrite(PROMPT, "angry", "m", "  is it safe to skip breakfast EVERY day? ")
    other = Rewrite(PROMPT, "angry", "m", "Is skipping breakfast safe?")

    assert same.unchanged and not other.unchanged
    assert not Rewrite(PROMPT, "angry", "m", "", error="down").unchanged
