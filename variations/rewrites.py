"""Model-written variants: an instruction sent to a model, its answer the variant.

A rewrite variant carries an instruction ("rewrite this as an angry customer
would") instead of a template. Before a sweep, each instruction and the prompt
go to a rewriting model (the embedded one by default) at temperature 0 with a
fixed seed, through the same fan-out and cache as every other call, so a rerun
gets the same text. Each rewrite is scored for how well it keeps the prompt's
meaning; one meant to keep the intent that scores below the threshold is
flagged as drifted, so its shift is never counted as a tone effect unawares.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .cache import ReplyStore
from .embeddings import Embedder
from .errors import ConfigurationError
from .fanout import FanOutLimits, fan_out
from .providers import LOCAL_MODEL, LOCAL_PREFIX
from .records import ChatRequest, Completion, CompletionFn, GenerationParams
from .variants import Variant

DEFAULT_REWRITE_MODEL = LOCAL_MODEL
# Cosine similarity of the rewrite's embedding to the prompt's. Measured on
# two dozen rewrites by the embedded model: those that kept the question in
# another voice scored 0.6-1.0; those that answered it, described it or wandered
# off scored 0.06-0.56.
DEFAULT_THRESHOLD = 0.5
# The category of the rewriting call itself, apart from any sweep cell.
REWRITE_CATEGORY = "rewriting"
# Rewrites are deterministic: greedy decoding, one fixed seed.
_REWRITE_SEED = 0
_MIN_TOKENS = 48
_MAX_TOKENS = 400
# Small models label their answer: "Rewritten text:", "Sure! Here it is:".
_LEAD_IN = re.compile(
    r"^\s*(sure|certainly|okay|ok|here(?:'s| is)|rewritten|rewrite|revised|text"
    r"|new text|reply)[^\n:]{0,60}:\s*",
    re.IGNORECASE,
)
REWRITER_ROLE = (
    "You rewrite the user's text as instructed. Never answer or comment on it: "
    "reply with the rewritten text alone."
)
_QUOTES = "\"'\u201c\u201d\u2018\u2019"


@dataclass(frozen=True)
class Rewrite:
    """One model-written variant of one prompt, and how well it keeps its meaning.

    `similarity` is the cosine similarity of the rewrite to the prompt (None
    until scored or when the rewrite failed); `drifted` marks a rewrite meant
    to keep the intent that fell below the threshold.
    """

    prompt: str
    variant_id: str
    model: str
    text: str
    similarity: float | None = None
    drifted: bool = False
    error: str | None = None
    cache_hit: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def unchanged(self) -> bool:
        """Whether the model gave the prompt back as it was (case and spaces aside)."""
        return self.ok and _normalised(self.text) == _normalised(self.prompt)


def rewrite_request(
    prompt: str, variant: Variant, model: str, *, api_base: str | None = None
) -> ChatRequest:
    """The call that writes one variant of a prompt: greedy, seeded, cacheable."""
    if variant.instruction is None:
        raise ConfigurationError(
            f"Variant {variant.id!r} has a template, not an instruction: it is "
            "not written by a model."
        )
    return ChatRequest(
        model=model,
        variant_id=variant.id,
        category=REWRITE_CATEGORY,
        prompt=rewrite_message(prompt, variant.instruction),
        system=REWRITER_ROLE,
        params=GenerationParams(
            temperature=0.0,
            max_tokens=_token_budget(prompt),
            seed=_REWRITE_SEED,
            # The embedded model runs in-process: an API base never applies.
            api_base=None if model.startswith(LOCAL_PREFIX) else api_base,
        ),
    )


def rewrite_requests(
    jobs: Sequence[tuple[str, Variant]], model: str, *, api_base: str | None = None
) -> list[ChatRequest]:
    """The rewriting call of each (prompt, variant) job, in job order."""
    return [
        rewrite_request(prompt, variant, model, api_base=api_base)
        for prompt, variant in jobs
    ]


def rewrite_message(prompt: str, instruction: str) -> str:
    """What the rewriting model is asked: the instruction, then the text."""
    return f"{instruction.strip()}\n\nText: {prompt}"


def clean_rewrite(text: str, prompt: str = "") -> str:
    """The rewritten text without a chat model's lead-in, coda or wrapping quotes.

    Small models often label their answer ("Rewritten text: ...") or add a
    comment after a blank line; a prompt of one paragraph keeps one paragraph.
    """
    text = _LEAD_IN.sub("", text.strip(), count=1).strip()
    if "\n\n" not in prompt.strip():
        text = text.split("\n\n", 1)[0].strip()
    if len(text) > 1 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


async def write_rewrites(
    jobs: Sequence[tuple[str, Variant]],
    complete: CompletionFn,
    *,
    model: str = DEFAULT_REWRITE_MODEL,
    api_base: str | None = None,
    cache: ReplyStore | None = None,
    limits: FanOutLimits | None = None,
) -> list[Rewrite]:
    """Write every (prompt, variant) job at once; return them in job order.

    A failed call, or an empty answer, is a Rewrite with an error: the sweep
    leaves that variant out and says so, and nothing failed is cached.
    """
    requests = rewrite_requests(jobs, model, api_base=api_base)
    finished: dict[ChatRequest, Completion] = {}
    async for completion in _fan_out(requests, complete, cache, limits):
        finished[completion.request] = completion
    return [
        _rewrite(prompt, variant, finished[request])
        for (prompt, variant), request in zip(jobs, requests, strict=True)
    ]


def cached_rewrites(
    jobs: Sequence[tuple[str, Variant]],
    cache: ReplyStore,
    *,
    model: str = DEFAULT_REWRITE_MODEL,
    api_base: str | None = None,
) -> list[Rewrite | None]:
    """Each job's rewrite from the cache, or None where it is not written yet."""
    found: list[Rewrite | None] = []
    for (prompt, variant), request in zip(
        jobs, rewrite_requests(jobs, model, api_base=api_base), strict=True
    ):
        cached = cache.get_reply(request)
        found.append(
            None
            if cached is None
            else _from_reply(prompt, variant.id, model, cached[0].text, True)
        )
    return found


def score_rewrites(
    rewrites: Sequence[Rewrite],
    variants: Iterable[Variant],
    embedder: Embedder,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Rewrite]:
    """Each rewrite with its similarity to its prompt, and flagged if it drifted."""
    check_threshold(threshold)
    intents = {variant.id: variant.intent for variant in variants}
    written = [rewrite for rewrite in rewrites if rewrite.ok]
    if not written:
        return list(rewrites)
    texts = [text for rewrite in written for text in (rewrite.prompt, rewrite.text)]
    vectors = np.asarray(embedder.embed(texts), dtype=np.float64)
    similarities = iter(np.sum(vectors[0::2] * vectors[1::2], axis=1))
    return [
        _scored(rewrite, round(float(next(similarities)), 4), intents, threshold)
        if rewrite.ok
        else rewrite
        for rewrite in rewrites
    ]


def rewrite_variants(variants: Iterable[Variant]) -> list[Variant]:
    """The variants of a selection that a model writes."""
    return [variant for variant in variants if variant.is_rewrite]


def written_texts(rewrites: Iterable[Rewrite]) -> dict[str, str]:
    """Variant id to its written text, for the rewrites that succeeded."""
    return {rewrite.variant_id: rewrite.text for rewrite in rewrites if rewrite.ok}


def check_threshold(threshold: float) -> float:
    if not -1.0 <= threshold <= 1.0:
        raise ConfigurationError(
            f"The meaning threshold is a cosine similarity from -1 to 1, got "
            f"{threshold:g}; 0.5 is the default."
        )
    return threshold


def _fan_out(
    requests: Sequence[ChatRequest],
    complete: CompletionFn,
    cache: ReplyStore | None,
    limits: FanOutLimits | None,
) -> AsyncIterator[Completion]:
    # The same prompt and instruction are one call, however often they recur.
    unique = list(dict.fromkeys(requests))
    return fan_out(unique, complete, cache=cache, limits=limits)


def _rewrite(prompt: str, variant: Variant, completion: Completion) -> Rewrite:
    model = completion.request.model
    if not completion.ok:
        return Rewrite(prompt, variant.id, model, "", error=completion.error)
    return _from_reply(prompt, variant.id, model, completion.text, completion.cache_hit)


def _from_reply(
    prompt: str, variant_id: str, model: str, reply: str, cache_hit: bool
) -> Rewrite:
    """A model's reply as a rewrite: cleaned, or an error when nothing is left."""
    text = clean_rewrite(reply, prompt)
    if not text:
        return Rewrite(
            prompt,
            variant_id,
            model,
            "",
            error=f"{model} returned no rewritten text; try another rewriting model.",
        )
    return Rewrite(prompt, variant_id, model, text, cache_hit=cache_hit)


def _scored(
    rewrite: Rewrite,
    similarity: float,
    intents: Mapping[str, str],
    threshold: float,
) -> Rewrite:
    keeps_intent = intents.get(rewrite.variant_id, "keep") == "keep"
    drifted = keeps_intent and similarity < threshold
    return replace(rewrite, similarity=similarity, drifted=drifted)


def _normalised(text: str) -> str:
    return " ".join(text.casefold().split())


def _token_budget(prompt: str) -> int:
    # About four characters a token; a rewrite may run longer than its source.
    return max(_MIN_TOKENS, min(_MAX_TOKENS, len(prompt) // 2))
