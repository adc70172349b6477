# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: language = c++
"""Bindings of the sequencer. Translation only: argument checks, GIL
handling, choosing the C++ instantiation for the machine; behaviour lives in
C++ (shanraq::runner::Runner<M>) and the thin Python layer
(shanraq_core.runner)."""

from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport int64_t, uint8_t

from shanraq_core._core.book cimport MatchingEngine, MatchingEngineBase
from shanraq_core._core.glue cimport check_idle
from shanraq_core._core.ledger cimport LedgerBase, LedgerMachine

import numpy as np

# Slices in which a join waits with the GIL released, checking for signals
# (Ctrl-C) in between.
cdef int64_t _JOIN_SLICE_NS = 50_000_000


cdef class RunnerBase:
    """Runs a machine on its own C++ thread between two rings; use
    shanraq_core.Runner."""

    def __cinit__(self, machine, RingBase commands not None, RingBase events not None, *, int batch=256,
                  double poll_interval=0.002, str time_source="clock", RingBase stamped=None):
        commands._check()
        events._check()
        if events.s == NULL:
            raise TypeError("events must be an SpscRing (the runner is its only producer)")
        if commands is events or stamped is commands or stamped is events:
            raise ValueError("commands, events and stamped must be different rings")
        if stamped is not None:
            stamped._check()
            if stamped.s == NULL:
                raise TypeError("stamped must be an SpscRing (the runner is its only producer)")
        if batch < 1 or batch > (1 << 20):
            raise ValueError(f"batch must be in [1, 2**20], got {batch}")
        if not (poll_interval > 0.0 and poll_interval <= 10.0):
            raise ValueError(f"poll_interval must be in (0, 10] seconds, got {poll_interval}")
        cdef RunnerConfig cfg
        cfg.batch = <size_t>batch
        cfg.poll_interval = rnanoseconds(<int64_t>(poll_interval * 1e9) or 1)
        if time_source == "clock":
            cfg.time_source = TimeSource.kClock
        elif time_source == "command":
            cfg.time_source = TimeSource.kCommand
        else:
            raise ValueError(f"time_source must be 'clock' or 'command', got {time_source!r}")
        cdef SpscRing* tap = stamped.s if stamped is not None else NULL
        cdef MatchingEngineBase book
        cdef LedgerBase led
        if isinstance(machine, MatchingEngineBase):
            book = <MatchingEngineBase>machine
            book._check()
            self.r = new_runner[MatchingEngine](book.eng[0], commands.s, commands.m, events.s[0], cfg, tap)
            self._busy = &book._busy
        elif isinstance(machine, LedgerBase):
            led = <LedgerBase>machine
            led._enter()
            self.r = new_runner[LedgerMachine](led.m[0], commands.s, commands.m, events.s[0], cfg, tap)
            self._busy = &led._busy
        else:
            raise TypeError(f"machine must be a MatchingEngine or a Ledger, not {type(machine).__name__}")
        self._machine = machine
        self._commands = commands
        self._events = events
        self._stamped = stamped

    def __dealloc__(self):
        if self.r != NULL:
            # Never blocks on a consumer (the C++ stop() does not wait on the
            # event ring); errors cannot be reported from here.
            with nogil:
                self.r.request_stop()
            try:
                with nogil:
                    self.r.finish(True)
            except BaseException:
                pass
            del self.r
            self.r = NULL
        if self._holds_machine:
            self._busy[0] = False

    cdef int _check(self) except -1:
        if self.r == NULL:
            raise RuntimeError("Runner is not initialised")
        return 0

    def start(self) -> None:
        """Launches the runner thread, which continues the machine's sequence
        (next_seq). From now until stop()/join() returns, the machine refuses
        every call (RuntimeError), and the command ring's consumer side and
        the event ring's producer side belong to the runner. RuntimeError if
        already started or the machine is busy."""
        self._check()
        if self.r.running() or self._holds_machine:
            raise RuntimeError("Runner is already running")
        check_idle(self._busy[0], type(self._machine).__name__.encode())
        self._busy[0] = True
        self._holds_machine = True
        try:
            self.r.start()
        except BaseException:
            self._busy[0] = False
            self._holds_machine = False
            raise

    cdef int _finish(self, cbool ask_stop) except -1:
        cdef cbool done = False
        self._check()
        if ask_stop:
            self.r.request_stop()
        # Wait in slices with the GIL released so Ctrl-C is honoured (the
        # KeyboardInterrupt propagates; call stop() again to collect).
        while not done:
            with nogil:
                done = self.r.wait_for(rnanoseconds(_JOIN_SLICE_NS))
            if not done:
                PyErr_CheckSignals()
        try:
            with nogil:
                self.r.finish(ask_stop)
        finally:
            if self._holds_machine:
                self._busy[0] = False
                self._holds_machine = False
        return 0

    def stop(self) -> None:
        self._finish(True)

    def join(self) -> None:
        self._finish(False)

    def take_unpublished(self):
        """Events the runner applied but could not publish (stop() while the
        event ring was full, or a durability error), oldest first, as an
        array of the machine's EVENT_DTYPE; they are handed over once."""
        self._check()
        if self.r.running():
            raise RuntimeError("take_unpublished() needs the runner stopped")
        cdef size_t n = self.r.unpublished_count()
        out = np.zeros(n, dtype=type(self._machine).EVENT_DTYPE)
        cdef unsigned char[::1] raw
        if n:
            raw = out.view(np.uint8)
            self.r.take_unpublished(&raw[0])
        return out

    @property
    def running(self) -> bool:
        self._check()
        return self.r.running()

    @property
    def commands_processed(self) -> int:
        self._check()
        return self.r.commands_processed()

    @property
    def events_published(self) -> int:
        self._check()
        return self.r.events_published()

    @property
    def batches(self) -> int:
        self._check()
        return self.r.batches()

    @property
    def last_seq(self) -> int:
        self._check()
        return self.r.last_seq()

    @property
    def producer_deaths(self) -> int:
        self._check()
        return self.r.producer_deaths()

    @property
    def stamped_dropped(self) -> int:
        self._check()
        return self.r.tap_dropped()

    @property
    def unpublished(self) -> int:
        self._check()
        return self.r.unpublished_count()

    @property
    def machine(self):
        return self._machine

    @property
    def commands(self):
        return self._commands

    @property
    def events(self):
        return self._events

    @property
    def stamped(self):
        return self._stamped
