"""The About page: what the explorer shows and how its numbers are made."""

from __future__ import annotations

import streamlit as st

from variations.embeddings import EMBEDDING_MODEL
from variations.ui import resources

_WHAT = """
Language models are sensitive to *how* they are asked. A polite request, a
rude one, a leading question or a false premise can change not only the tone of
an answer but what it says. The explorer makes that visible: it rewrites your
prompt in many ways, asks every model every version, and measures how far each
version moved each model's answer away from its answer to your prompt as typed.
"""

_READING = """
- **Shift** is a distance between two answers' meanings: 0 means they say the
  same thing; around 0.1 they are paraphrases; above about 0.3 they say clearly
  different things.
- **The bar chart** shows, for each version of the prompt, the shift between a
  model's answer to it and the model's answer to the original prompt.
- **The noise floor** is how far a model's answer moves when the very same
  prompt is simply asked again. Models sample their words with some chance, so
  a shift only means something when it stands clear of this. Ask for 2 or more
  samples per variant (under *Advanced settings*) to measure it. It is drawn
  as a shaded band; with 4 or more samples, bars that stand clear of it in a
  permutation test are outlined.
- **The heatmap** compares every answer of one model with every other.
- **The map** places all answers so that similar ones sit close together.
"""

_METHOD = f"""
1. **Variants.** Each variant is a template that wraps or alters your prompt
   (tone, persona, emotion, framing, format, small perturbations such as
   typos). The exact text sent is shown in the preview before anything runs.
2. **Answers.** Every version goes to every model you picked, through
   [litellm](https://github.com/BerriAI/litellm); answers are cached on the
   server, so a repeated sweep replays at once. Sample *i* is sent with seed
   *i*, which makes runs reproducible where the model honours seeds.
3. **Embeddings.** Each answer is turned into a vector by the sentence
   embedding model `{EMBEDDING_MODEL}` (384 dimensions, normalised); answers
   with similar meaning get vectors pointing the same way.
4. **Distance.** The divergence of two answers is 1 minus the cosine
   similarity of their vectors. A variant's shift is the mean divergence over
   every pair of (variant answer, original answer) samples.
5. **Noise floor.** The mean divergence between repeated samples of the same
   prompt, pooled over all of a model's cells. A variant's shift counts as
   real when a permutation test (samples shuffled between the variant and the
   original, fixed seed) gives p < 0.05 after a Benjamini-Hochberg correction
   for testing every variant at once.
6. **Map.** The first two principal components of all answer vectors.

Limits: the embedding model reads meaning, not truth. Two answers can be close
in meaning and one of them wrong, and it only reads the first 256 word pieces of
an answer. Differences in format (a list against a paragraph) count as small
shifts when the content is the same.
"""


def show() -> None:
    st.title("About the explorer")
    st.markdown(_WHAT)
    st.subheader("How to read the results")
    st.markdown(_READING)
    st.subheader("The method, for those who want it")
    st.markdown(_METHOD)
    st.subheader("On this server")
    settings = resources.get_settings()
    st.markdown(
        "Models you can pick here: "
        + ", ".join(f"`{model}`" for model in settings.models)
        + ". The local model (SmolLM2-135M-Instruct) runs on the server itself: "
        "small and fast, fluent but often wrong on facts, which is enough to see "
        "tone at work. Nothing you type is sent anywhere but to these models."
    )
