"""The headline of a sweep: one plain sentence on which variant moved what most.

Shift is a distance between meanings (0 is the same meaning); the words for its
size are rough bands read off all-MiniLM-L6-v2, where two paraphrases of one
answer usually sit below 0.1 and answers on different subjects above 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from .metrics import Shift
from .records import BASELINE_ID
from .significance import can_decide, significant_rows
from .stats import ModelAnalysis
from .sweep import SweepResult

# (upper bound, words): the first band whose bound exceeds the shift.
_SIZE_WORDS = (
    (0.05, "barely a change"),
    (0.15, "a slight change"),
    (0.30, "a clear change"),
    (math.inf, "a strong change"),
)
# Below this, repeated answers are the same text: float error, not noise.
_NO_NOISE = 1e-6
SAMPLES_NOTE = (
    "With 2 or more samples (Advanced settings) each shift is compared with "
    "how much an answer moves when the same prompt is simply asked again."
)
FEW_SAMPLES_NOTE = (
    "With {samples} samples per version no shift can be told apart from chance "
    "with confidence; 4 or more samples allow a significance test."
)


@dataclass(frozen=True)
class Headline:
    """The sentence, and the numbers it is made of (for tests and captions).

    `note` is a second, optional sentence of advice.
    """

    text: str
    note: str | None = None
    model: str | None = None
    variant_id: str | None = None
    shift: float | None = None
    noise_floor: float | None = None


def describe_shift(shift: float) -> str:
    """Plain words for the size of a shift."""
    return next(words for bound, words in _SIZE_WORDS if shift < bound)


def variant_labels(result: SweepResult) -> dict[str, str]:
    """Variant id to its label, the original prompt included.

    A model-written variant that drifted from the prompt's meaning says so in
    its label, so every chart and table that names it carries the flag.
    """
    labels = {
        variant.id: f"{variant.label} (drifted)"
        if variant.id in result.drifted
        else variant.label
        for variant in result.spec.variants
    }
    return {BASELINE_ID: "Original", **labels}


def headline(
    result: SweepResult, analyses: Mapping[str, ModelAnalysis] | None = None
) -> Headline:
    """Which variant moved which model's answer most, and against what noise.

    With `analyses` (variations.significance) and enough samples to decide,
    only shifts that stand clear of the noise are named; when none does, the
    headline says so plainly. Model-written variants that drifted from the
    prompt's meaning are never named: the note says they were left out.
    """
    kept = [shift for shift in result.shifts if shift.variant_id not in result.drifted]
    sentence = _headline(result, analyses, kept)
    if not result.drifted:
        return sentence
    labels = variant_labels(result)
    names = ", ".join(f"“{labels[v]}”" for v in sorted(result.drifted))
    drift = f"Left out as drifted from the prompt's meaning (model-written): {names}."
    note = f"{sentence.note} {drift}" if sentence.note else drift
    return replace(sentence, note=note)


def _headline(
    result: SweepResult,
    analyses: Mapping[str, ModelAnalysis] | None,
    shifts: list[Shift],
) -> Headline:
    if not any(completion.ok for completion in result.completions):
        return Headline(
            "No model answered, so nothing could be compared: see the errors below."
        )
    top = _largest_shift(shifts)
    if top is None and _largest_shift(result.shifts) is not None:
        return Headline(
            "Every version that got a measured shift was written by a model and "
            "drifted from the prompt's meaning, so none is named here."
        )
    if top is None:
        return Headline(
            "The original prompt got no answer from any model, so no variant's "
            "shift could be measured: see the errors below."
        )

    decisive = analyses is not None and can_decide(result.spec.samples)
    if decisive and analyses is not None:
        clear = _largest_significant(shifts, analyses)
        if clear is None:
            return _no_signal(result, top)
        top = clear

    label = variant_labels(result).get(top.variant_id, top.variant_id)
    opening = (
        f"The “{label}” version moved {top.model}'s answer the most: "
        f"{describe_shift(top.shift)}, a shift of {top.shift:.2f} where 0 is the "
        "same meaning"
    )
    unmeasured = Headline(
        opening + ".",
        note=SAMPLES_NOTE,
        model=top.model,
        variant_id=top.variant_id,
        shift=top.shift,
    )
    floor = result.noise_floors.get(top.model)
    if result.spec.samples < 2 or floor is None:
        return unmeasured
    clause = _noise_clause(top.shift, floor)
    note = None
    if decisive and analyses is not None:
        note = _clear_note(analyses)
    elif analyses is not None:
        note = FEW_SAMPLES_NOTE.format(samples=result.spec.samples)
    return replace(unmeasured, text=opening + clause, note=note, noise_floor=floor)


def _no_signal(result: SweepResult, top: Shift) -> Headline:
    models = [model for model in result.spec.models if model in result.noise_floors]
    owners = " or ".join(f"{model}'s" for model in models) or f"{top.model}'s"
    label = variant_labels(result).get(top.variant_id, top.variant_id)
    floor = result.noise_floors.get(top.model)
    against = f", against {floor:.2f} from re-asking" if floor is not None else ""
    return Headline(
        f"None of the variants moved {owners} answer more than re-asking the "
        "same prompt does.",
        note=f"The largest shift was the “{label}” version's on {top.model}: "
        f"{top.shift:.2f}{against}.",
        model=top.model,
        variant_id=top.variant_id,
        shift=top.shift,
        noise_floor=floor,
    )


def _largest_significant(
    shifts: list[Shift], analyses: Mapping[str, ModelAnalysis]
) -> Shift | None:
    clear = {(model, row.variant) for model, row in significant_rows(analyses)}
    return _largest_shift(
        [shift for shift in shifts if (shift.model, shift.variant_id) in clear]
    )


def _clear_note(analyses: Mapping[str, ModelAnalysis]) -> str:
    tested = sum(
        row.p_value is not None
        for analysis in analyses.values()
        for row in analysis.variants
    )
    clear = len(significant_rows(analyses))
    return (
        f"{clear} of {tested} shifts stand clear of the noise in a permutation "
        "test (p < 0.05, corrected for testing many variants at once)."
    )


def _noise_clause(shift: float, floor: float) -> str:
    if shift <= floor:
        return (
            f"; but simply re-asking the same prompt moves it as much ({floor:.2f}), "
            "so this is within the noise."
        )
    if floor < _NO_NOISE:
        return "; re-asking the same prompt gave the same answer every time."
    return (
        f", {shift / floor:.1f} times what simply re-asking the same prompt moves "
        f"it ({floor:.2f})."
    )


def _largest_shift(shifts: list[Shift]) -> Shift | None:
    measured = [
        shift
        for shift in shifts
        if shift.variant_id != BASELINE_ID and not math.isnan(shift.shift)
    ]
    return max(measured, key=lambda shift: shift.shift, default=None)
