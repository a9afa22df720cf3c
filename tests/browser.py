"""Serving the app with `streamlit run` on loopback and driving it in Chromium.

Shared by the browser tests and benchmarks/bench_app.py. Playwright's own
browser download cannot work here, so Debian's Chromium is launched instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Where the converted local model lives; shared so it is converted only once.
SHARED_MODELS = ROOT / "cache" / "models"


@dataclass
class AppServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    started_s: float  # time.monotonic() when /_stcore/health first answered

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cache_dir_sharing_models(folder: Path) -> Path:
    """A fresh cache folder whose models/ is the project's converted weights."""
    folder.mkdir(parents=True, exist_ok=True)
    SHARED_MODELS.mkdir(parents=True, exist_ok=True)
    (folder / "models").symlink_to(SHARED_MODELS, target_is_directory=True)
    return folder


@contextmanager
def serve_app(
    cache_dir: Path, env: Mapping[str, str] | None = None, *, timeout_s: float = 90
) -> Iterator[AppServer]:
    """Run app.py on a free loopback port until the block ends."""
    port = free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("VARIATIONS_")
    }
    environment.update(
        VARIATIONS_CACHE_DIR=str(cache_dir),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        **(env or {}),
    )
    log = cache_dir.parent / f"streamlit-{port}.log"
    command = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.headless", "true",
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=output, stderr=output
        )
    server = AppServer(f"http://127.0.0.1:{port}", process, log, 0.0)
    try:
        server.started_s = _wait_healthy(server, timeout_s)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def launch_chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def chart_count(page: Any) -> int:
    """How many Vega charts have drawn (an SVG or canvas inside vega-embed)."""
    return int(
        page.evaluate(
            "document.querySelectorAll('.vega-embed svg, .vega-embed canvas').length"
        )
    )


def _wait_healthy(server: AppServer, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{server.log_text()}")
        try:
            if httpx.get(f"{server.url}/_stcore/health", timeout=1).status_code == 200:
                return time.monotonic()
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(
        f"streamlit did not answer in {timeout_s} s:\n{server.log_text()}"
    )


def full_screenshot(page: Any, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its main view, so grow the window."""
    size = page.viewport_size
    height = page.evaluate(
        "Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": size["width"], "height": min(height, 16000)})
    page.wait_for_timeout(1500)  # charts redraw at the new size
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def wait_idle(page: Any, *, timeout_ms: float = 60_000) -> None:
    """Wait until the app's script run triggered by the last action has ended."""
    page.wait_for_timeout(150)  # let the rerun start
    page.wait_for_function(
        "document.querySelector('[data-testid=\"stApp\"]')"
        "?.getAttribute('data-test-script-state') === 'notRunning'",
        timeout=timeout_ms,
    )
