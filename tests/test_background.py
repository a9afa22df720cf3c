from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from variations.background import BackgroundLoop


@pytest.fixture
def loop() -> Iterator[BackgroundLoop]:
    background = BackgroundLoop()
    yield background
    background.close()


async def count(limit: int, delay_s: float = 0.0) -> AsyncIterator[int]:
    for number in range(limit):
        await asyncio.sleep(delay_s)
        yield number


def test_items_arrive_in_the_calling_thread(loop: BackgroundLoop) -> None:
    assert list(loop.iterate(count(5))) == [0, 1, 2, 3, 4]


def test_run_returns_a_coroutines_result_from_the_loop_thread(
    loop: BackgroundLoop,
) -> None:
    async def thread_name() -> str:
        return threading.current_thread().name

    assert loop.run(thread_name()) == "variations-loop"


def test_an_error_is_raised_in_the_caller(loop: BackgroundLoop) -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise ValueError("broken stream")

    items = loop.iterate(failing())

    assert next(items) == 1
    with pytest.raises(ValueError, match="broken stream"):
        next(items)


def test_closing_early_cancels_the_work_on_the_loop(loop: BackgroundLoop) -> None:
    cancelled = threading.Event()

    async def endless() -> AsyncIterator[int]:
        try:
            while True:
                await asyncio.sleep(0.01)
                yield 1
        finally:
            cancelled.set()

    items = loop.iterate(endless())
    assert next(items) == 1
    items.close()

    assert cancelled.wait(timeout=5)


def test_one_loop_serves_many_iterations(loop: BackgroundLoop) -> None:
    for _ in range(3):
        assert sum(loop.iterate(count(10, delay_s=0.001))) == 45
