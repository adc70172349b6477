"""The engine runner: the LMAX pattern for Python services.

A C++ thread owns a `MatchingEngine`: it pops ``BOOK_COMMAND_DTYPE`` records from
one ring (`SpscRing` or `MpscRing`), applies them in order and pushes the
``BOOK_EVENT_DTYPE`` records they produce to another (`SpscRing`), never holding
the GIL. Python threads and processes only push commands and pop events. The
events are exactly those `MatchingEngine.process` returns for the same
commands in ring order. See docs/queues.md ("Engine runner").
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from shanraq_core._core.runner import EngineRunnerBase

__all__ = ["EngineRunner"]


class EngineRunner(EngineRunnerBase):
    """Runs ``engine`` on its own thread between ``commands`` and ``events``.

    Args:
        engine: the `MatchingEngine` to drive. While the runner runs, every
            call on it raises RuntimeError (it is busy: the runner's thread is
            its single writer); queries work again after stop()/join().
        commands: `SpscRing` or `MpscRing` of ``BOOK_COMMAND_DTYPE`` records (88
            bytes; ValueError otherwise). The runner is its only consumer.
        events: `SpscRing` of ``BOOK_EVENT_DTYPE`` records (ValueError otherwise;
            TypeError for an MpscRing). The runner is its only producer; the
            caller its consumer.
        batch: most commands popped and applied per batch, in [1, 2**20].
        poll_interval: seconds an idle pop waits (with the command ring's wait
            strategy) before the thread looks at the stop flag: bounds stop()'s
            latency and the idle thread's wake-ups. In (0, 10].

    Delivery: every popped command is applied and every event pushed,
    waiting while the event ring is full (backpressure, nothing dropped).
    stop() finishes the popped batch; commands not popped stay in the ring.
    Closing the command ring ends the stream: the runner drains it, then
    closes the event ring, and join() returns. Closing the event ring under
    a pending push makes stop()/join() raise `Closed`. A producer process
    dying mid-push into an `MpscRing` costs only its unpublished records
    (counted in ``producer_deaths``); if the ring cannot discard them (no pid
    proves the claimer dead) the runner ends and stop()/join() raise
    `ProducerDied`.

    Use as a context manager: ``with EngineRunner(...) as r:`` starts it and
    stops it on exit. start/stop/join from the owning thread; counters from
    any thread.
    """

    __slots__ = ()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"EngineRunner(running={self.running}, commands_processed={self.commands_processed}, "
            f"events_published={self.events_published})"
        )
