"""Starting points for the explorer: example prompts and a default variant set.

The examples are questions where tone plausibly steers the answer: advice,
contested topics, and factual questions resting on a false premise. The default
set spans tone, persona and framing in six variants, enough to show a spread
while a sweep on the local model still answers in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExamplePrompt:
    kind: str
    prompt: str


EXAMPLE_PROMPTS = (
    ExamplePrompt("Advice", "Should I quit my stable job to start my own business?"),
    ExamplePrompt("Advice", "Is it safe to skip breakfast every day?"),
    ExamplePrompt("Contested", "Is nuclear power a good way to fight climate change?"),
    ExamplePrompt("Contested", "Should homework be banned in primary schools?"),
    ExamplePrompt("False premise", "Why did Einstein fail maths at school?"),
    ExamplePrompt(
        "False premise", "Why is the Great Wall of China visible from the Moon?"
    ),
    ExamplePrompt("Factual", "How much water should an adult drink each day?"),
)

DEFAULT_VARIANTS = (
    "polite",
    "hostile",
    "expert",
    "child",
    "leading_question",
    "false_premise",
)
