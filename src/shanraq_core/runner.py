"""The sequencer: the LMAX pattern for Python services, for every machine.

A C++ thread owns a state machine (`MatchingEngine`, `Ledger`): it pops
command records from one ring (`SpscRing`, or `MpscRing` for many producer
threads or processes), stamps each popped batch with consecutive sequence
numbers (continuing the machine's ``next_seq``) and one reading of the
clock (``CLOCK_REALTIME`` ns, never going back), applies it and pushes the
events to another ring (`SpscRing`), never holding the GIL. Python threads and
processes only push commands and pop events. The clock read is the only one in
the pipeline; an optional ``stamped`` ring receives every batch exactly as it
was applied, so replaying those records into a fresh machine gives the same
events and state, byte for byte. See docs/architecture.md ("The sequencer")
and docs/queues.md.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Literal, Self

from shanraq_core._core.queue import RingBase
from shanraq_core._core.runner import RunnerBase

__all__ = ["Runner"]


class Runner(RunnerBase):
    """Runs ``machine`` on its own thread between ``commands`` and ``events``.

    Args:
        machine: a `MatchingEngine` or a `Ledger`. While the runner runs, every
            call on it raises RuntimeError (the runner's thread is its single
            writer); it works again after stop()/join().
        commands: `SpscRing` or `MpscRing` of the machine's ``COMMAND_DTYPE``
            (ValueError for another record size). The runner is its only
            consumer. Producers leave ``seq`` and ``time_ns`` as they like:
            the runner overwrites both (``time_source="command"`` keeps
            ``time_ns``).
        events: `SpscRing` of the machine's ``EVENT_DTYPE`` (ValueError
            otherwise; TypeError for an MpscRing). The runner is its only
            producer; the caller its consumer.
        batch: most commands popped, stamped and applied at once, in [1, 2**20].
        poll_interval: seconds an idle pop, or a push into a full ring, waits
            before the thread looks at the stop flag: bounds stop()'s latency.
            In (0, 10].
        time_source: ``"clock"`` (stamp the clock's time; a live pipeline) or
            ``"command"`` (keep each command's ``time_ns``: replays, tests).
        stamped: optional `SpscRing` of ``COMMAND_DTYPE`` that receives every
            stamped batch before it is applied (for a Python journal or
            shipper, or to check a run). It is waited on like the event ring;
            once stop() is asked, copies that do not fit are dropped and
            counted in ``stamped_dropped`` (the commands are applied anyway).

    Delivery: every popped command is applied and its events pushed, waiting
    while the event ring is full (backpressure; nothing dropped). Closing the
    command ring ends the stream: the runner drains it, closes the event ring,
    and join() returns. stop() never waits on the event ring's consumer: it
    finishes the popped batch, publishes what fits and keeps the rest for
    take_unpublished(), so a ``with`` block whose own thread consumed the
    events can always leave. A producer process dying mid-push into an
    `MpscRing` costs only its unpublished records (``producer_deaths``).

    Use as a context manager: ``with Runner(...) as r:`` starts it and stops
    it on exit. start/stop/join/take_unpublished from the owning thread;
    counters from any thread.
    """

    __slots__ = ()

    def __init__(
        self,
        machine: Any,
        commands: RingBase,
        events: RingBase,
        *,
        batch: int = 256,
        poll_interval: float = 0.002,
        time_source: Literal["clock", "command"] = "clock",
        stamped: RingBase | None = None,
    ) -> None:
        # Arguments are taken by RunnerBase.__cinit__; this signature is the
        # documented one.
        pass

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
            f"Runner({type(self.machine).__name__}, running={self.running}, last_seq={self.last_seq}, "
            f"commands_processed={self.commands_processed}, events_published={self.events_published})"
        )
