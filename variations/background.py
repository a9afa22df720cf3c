"""One asyncio event loop in a daemon thread, for synchronous callers.

A Streamlit script runs in a plain thread and reruns often. Sending every
sweep through one long-lived loop lets connection pools and the local model's
batcher be shared across reruns, instead of tied to a loop that has closed.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_ITEM, _ERROR, _DONE = "item", "error", "done"


class BackgroundLoop:
    """Runs coroutines and async iterators on a loop of its own thread."""

    def __init__(self, name: str = "variations-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=name, daemon=True
        )
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def iterate(self, items: AsyncIterator[T]) -> Iterator[T]:
        """Yield the items of an async iterator here, as the loop produces them.

        Closing the generator early (or an exception in the caller) cancels
        the iteration on the loop, so no work is left running unseen.
        """
        handoff: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        future = asyncio.run_coroutine_threadsafe(_pump(items, handoff), self._loop)
        try:
            while True:
                kind, value = handoff.get()
                if kind == _DONE:
                    return
                if kind == _ERROR:
                    raise value
                yield value
        finally:
            future.cancel()

    def close(self) -> None:
        """Stop the loop; pending work is abandoned."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()


async def _pump(
    items: AsyncIterator[T], handoff: queue.SimpleQueue[tuple[str, Any]]
) -> None:
    try:
        async for item in items:
            handoff.put((_ITEM, item))
    except Exception as exc:  # re-raised in the caller's thread by iterate()
        handoff.put((_ERROR, exc))
    finally:
        handoff.put((_DONE, None))
