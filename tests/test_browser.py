"""The whole app in a real browser: `streamlit run` on loopback, driven in Chromium.

One test runs the embedded local model with few tokens, as a visitor would; one
runs against a loopback server that answers with hostile text, to check in the
real renderer that model text is shown, never executed or formatted.
Screenshots go to $VARIATIONS_SCREENSHOT_DIR (default: the test's tmp folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from variations.loopback import LoopbackServer
from variations.variants import load_library

from .browser import (
    CHROMIUM,
    AppServer,
    cache_dir_sharing_models,
    chart_count,
    full_screenshot,
    launch_chromium,
    serve_app,
    wait_idle,
)

pytestmark = pytest.mark.browser

HOSTILE_ANSWER = (
    "<script>alert(1)</script> **bold** [click](javascript:alert(1)) "
    "<img src=x onerror=alert(2)> $x^2$ :red[red] https://evil.example"
)
SLOW_S = 240_000  # ms: the first local-model sweep loads torch and two models


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install it with `bash .ci/setup --test`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("VARIATIONS_SCREENSHOT_DIR") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def local_app(tmp_path: Path) -> Iterator[AppServer]:
    with serve_app(cache_dir_sharing_models(tmp_path / "cache")) as server:
        yield server


@pytest.fixture
def hostile_app(tmp_path: Path) -> Iterator[tuple[AppServer, LoopbackServer]]:
    def reply(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        if prompt.startswith("Hi! I hope"):  # the polite variant fails
            raise RuntimeError("polite requests are refused today")
        return f"{HOSTILE_ANSWER} ({len(prompt)} characters asked)"

    with LoopbackServer(reply=reply) as models:
        env = {
            "VARIATIONS_MODELS": "openai/loopback",
            "VARIATIONS_API_BASE": models.url,
        }
        with serve_app(cache_dir_sharing_models(tmp_path / "cache"), env) as server:
            yield server, models


def test_a_visitor_runs_the_local_model_and_sees_every_result(
    browser: Any, local_app: AppServer, screenshots: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(local_app.url)
    page.get_by_text("How does the way you ask change the answer?").wait_for()

    page.get_by_label("Your prompt").fill("Is it healthy to drink coffee every day?")
    page.get_by_label("Your prompt").press("Tab")
    wait_idle(page)
    choose_two_variants(page)
    page.get_by_text("Advanced settings").click()
    page.get_by_label("Max tokens per answer", exact=True).fill("8")
    page.get_by_label("Max tokens per answer", exact=True).press("Enter")
    wait_idle(page)
    page.get_by_text("Sends 3 requests").wait_for()

    page.get_by_role("button", name="Run", exact=True).click()

    page.get_by_text("version moved local/smollm2-135m's answer the most").wait_for(
        timeout=SLOW_S
    )
    page.wait_for_function(
        "document.querySelectorAll('.vega-embed svg, .vega-embed canvas').length >= 3"
    )
    page.get_by_text("Your prompt as typed", exact=True).wait_for()
    page.get_by_text("All answers").wait_for()
    assert (
        "variants=polite%2Cchild" in page.url or "variants=child%2Cpolite" in page.url
    )
    page.screenshot(path=str(screenshots / "results-1280x720.png"))
    full_screenshot(page, screenshots / "results-1280-full.png")

    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(page.url)  # the share link: results at once, from the cache
    phone.get_by_text("version moved local/smollm2-135m").wait_for()
    phone.wait_for_function(
        "document.querySelectorAll('.vega-embed svg, .vega-embed canvas').length >= 3"
    )
    assert_columns_stack(phone)
    full_screenshot(phone, screenshots / "results-390-full.png")
    phone.close()
    page.close()


def test_hostile_model_text_is_shown_as_text(
    browser: Any, hostile_app: tuple[AppServer, LoopbackServer], screenshots: Path
) -> None:
    server, _ = hostile_app
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(server.url)
    page.get_by_text("How does the way you ask change the answer?").wait_for()

    page.get_by_role("button", name="Run", exact=True).click()

    page.get_by_text("1 of 7 requests failed").wait_for(timeout=60_000)
    page.wait_for_function(
        "document.querySelectorAll('.vega-embed svg, .vega-embed canvas').length >= 3"
    )
    assert chart_count(page) == 3
    main = page.locator('[data-testid="stMain"]')
    assert main.get_by_text("<script>alert(1)</script> **bold**").count() >= 1
    assert main.locator("a[href^='javascript']").count() == 0
    assert main.locator("img[src='x']").count() == 0
    assert main.locator("script").count() == 0
    assert main.locator("strong", has_text="bold").count() == 0
    assert main.locator("a[href*='evil.example']").count() == 0
    choose(page, "Compare the original with", "Polite")
    error = page.get_by_test_id("stAlertContentError")
    error.get_by_text("polite requests are refused today").wait_for()
    page.wait_for_timeout(500)
    assert dialogs == []
    full_screenshot(page, screenshots / "hostile-1280-full.png")
    page.close()


def choose_two_variants(page: Any) -> None:
    """Clear the default choice, then pick Polite and Child."""
    for category in ("Framing", "Persona", "Tone"):
        expander = page.locator('[data-testid="stExpander"]', has_text=category).first
        expander.locator("summary").click()
        for _ in range(3):  # a click that lands during a redraw is lost
            expander.get_by_role("button", name="Clear").click()
            wait_idle(page)
            if expander.locator("summary", has_text="(0 of").count():
                break
    checkbox(page, "Polite").click()
    wait_idle(page)
    checkbox(page, "Child").click()
    wait_idle(page)
    total = len(load_library().variants)
    page.get_by_text(f"2 of {total} selected").wait_for()


def choose(page: Any, label: str, option: str) -> None:
    """Pick an option of a selectbox by typing it, as a keyboard user would."""
    combobox = page.get_by_label(label, exact=True)
    combobox.click()
    combobox.fill(option)
    combobox.press("Enter")
    wait_idle(page)


def checkbox(page: Any, label: str) -> Any:
    return page.locator('[data-testid="stCheckbox"]', has_text=label).first


def assert_columns_stack(page: Any) -> None:
    """At phone width the side-by-side answers sit one above the other."""
    left = page.get_by_text("Your prompt as typed", exact=True).bounding_box()
    right = page.get_by_text("words added (bold, blue)")
    right_box = right.bounding_box()
    assert abs(left["x"] - right_box["x"]) < 5
    assert right_box["y"] > left["y"]
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 390 + 1


def test_model_written_variants_are_read_before_they_are_sent(
    browser: Any, tmp_path: Path, screenshots: Path
) -> None:
    def reply(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        if prompt.startswith("Rewrite it as an angry customer"):
            return (
                "Rewritten text: SHOULD I QUIT MY STABLE JOB TO START MY OWN BUSINESS?!"
            )
        return f"An answer of {len(prompt)} characters."

    with LoopbackServer(reply=reply) as models:
        env = {
            "VARIATIONS_MODELS": "openai/loopback",
            "VARIATIONS_API_BASE": models.url,
            "VARIATIONS_REWRITE_MODEL": "openai/loopback",
        }
        with serve_app(cache_dir_sharing_models(tmp_path / "cache"), env) as server:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(server.url)
            page.get_by_text("How does the way you ask change the answer?").wait_for()
            expander = page.locator(
                '[data-testid="stExpander"]', has_text="Written by a model"
            ).first
            expander.locator("summary").click()
            checkbox(page, "Angry customer").click()
            wait_idle(page)
            page.get_by_text("Written by openai/loopback when you press Run").wait_for()

            page.get_by_role("button", name="Run", exact=True).click()

            page.get_by_text("The model-written versions are ready").wait_for(
                timeout=60_000
            )
            main = page.locator('[data-testid="stMain"]')
            rewrite = "SHOULD I QUIT MY STABLE JOB TO START MY OWN BUSINESS?!"
            # The whole page at its full height: the preview sits below the fold.
            full_screenshot(page, screenshots / "rewrites-written-1280-full.png")
            # Code blocks split their text into spans: match the whole block.
            main.locator("pre", has_text=rewrite).first.wait_for()
            main.get_by_text("keeps the meaning (similarity").wait_for()
            asked = [
                b for b in models.received if b["messages"][-1]["content"] == rewrite
            ]
            assert asked == []  # shown, not sent yet

            page.get_by_role("button", name="Run", exact=True).click()

            page.get_by_text("answer the most").wait_for(timeout=60_000)
            asked = [
                b for b in models.received if b["messages"][-1]["content"] == rewrite
            ]
            assert len(asked) == 1
            full_screenshot(page, screenshots / "rewrites-results-1280-full.png")
            page.close()
