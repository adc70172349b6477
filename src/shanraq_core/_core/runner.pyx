# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: language = c++
"""Bindings of the engine runner core. Translation only: argument checks, GIL
handling and error mapping; behaviour lives in C++ (shanraq::runner) and the
thin Python layer (shanraq_core.runner)."""

from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport int64_t
from libcpp.string cimport string

from shanraq_core._core.book cimport MatchingEngineBase
from shanraq_core._core.queue cimport RingBase

from shanraq_core._core import queue as _queue


cdef extern from *:
    """
    #include <new>
    #include <stdexcept>
    #include <string>
    #include "shanraq/runner/engine_runner.hpp"
    namespace shanraq_runner_bind {
    // Joins (asking the thread to stop first when ask_stop) and turns the
    // thread's exception into a code the binding maps to a Python class:
    // 0 none, 1 Closed, 2 ProducerDied, 3 PeerDead, 4 other QueueError,
    // 5 MemoryError, 6 RuntimeError.
    inline int finish(shanraq::runner::EngineRunner* r, bool ask_stop, std::string* msg) noexcept {
      try {
        if (ask_stop) r->stop(); else r->join();
        return 0;
      } catch (const shanraq::queue::Closed& e) { *msg = e.what(); return 1;
      } catch (const shanraq::queue::ProducerDied& e) { *msg = e.what(); return 2;
      } catch (const shanraq::queue::PeerDead& e) { *msg = e.what(); return 3;
      } catch (const shanraq::queue::QueueError& e) { *msg = e.what(); return 4;
      } catch (const std::bad_alloc&) { *msg = "out of memory on the runner thread"; return 5;
      } catch (const std::exception& e) { *msg = e.what(); return 6;
      } catch (...) { *msg = "unknown error on the runner thread"; return 6; }
    }
    }  // namespace shanraq_runner_bind
    """
    int b_finish "shanraq_runner_bind::finish"(EngineRunner*, cbool, string*) noexcept nogil


# Slices in which a join waits with the GIL released, checking for signals
# (Ctrl-C) in between.
cdef int64_t _JOIN_SLICE_NS = 50_000_000


cdef class EngineRunnerBase:
    """Runs a MatchingEngine on its own C++ thread between two rings.

    Commands (BOOK_COMMAND_DTYPE records) are popped from ``commands`` (SpscRing or
    MpscRing), applied in order, and their events (BOOK_EVENT_DTYPE records) pushed
    to ``events`` (SpscRing), the GIL released throughout. See
    shanraq_core.runner.EngineRunner.
    """

    def __cinit__(self, MatchingEngineBase engine not None, RingBase commands not None,
                  RingBase events not None, *, int batch=256, double poll_interval=0.002):
        engine._check()
        commands._check()
        events._check()
        if events.s == NULL:
            raise TypeError("events must be an SpscRing (the runner is its only producer)")
        if commands is events:
            raise ValueError("commands and events must be different rings")
        if batch < 1 or batch > (1 << 20):
            raise ValueError(f"batch must be in [1, 2**20], got {batch}")
        if not (poll_interval > 0.0 and poll_interval <= 10.0):
            raise ValueError(f"poll_interval must be in (0, 10] seconds, got {poll_interval}")
        cdef RunnerConfig cfg
        cfg.batch = <size_t>batch
        cfg.poll_interval = rnanoseconds(<int64_t>(poll_interval * 1e9) or 1)
        if commands.s != NULL:
            self.r = new EngineRunner(engine.eng[0], commands.s[0], events.s[0], cfg)
        else:
            self.r = new EngineRunner(engine.eng[0], commands.m[0], events.s[0], cfg)
        self._engine = engine
        self._commands = commands
        self._events = events

    def __dealloc__(self):
        cdef string msg
        if self.r != NULL:
            # Errors cannot be reported from here; stop() first to see them.
            with nogil:
                b_finish(self.r, True, &msg)
            del self.r
            self.r = NULL
        if self._holds_engine and self._engine is not None:
            self._engine._busy = False

    cdef int _check(self) except -1:
        if self.r == NULL:
            raise RuntimeError("EngineRunner is not initialised")
        return 0

    def start(self) -> None:
        """Launches the runner thread. From now until stop()/join() returns,
        the engine refuses every call (it is busy), and the command ring's
        consumer side and the event ring's producer side belong to the
        runner. RuntimeError if already started or the engine is busy."""
        self._check()
        self._engine._check()  # not busy in process() or another runner
        if self.r.running() or self._holds_engine:
            raise RuntimeError("EngineRunner is already running")
        self._engine._busy = True
        self._holds_engine = True
        try:
            self.r.start()
        except Exception:
            self._engine._busy = False
            self._holds_engine = False
            raise

    cdef int _finish(self, bint ask_stop) except -1:
        cdef string msg
        cdef int code
        cdef bint done = False
        self._check()
        if ask_stop:
            self.r.request_stop()
        # Wait in slices with the GIL released so Ctrl-C is honoured (the
        # KeyboardInterrupt propagates; the runner keeps going, or stops if
        # asked: call stop() again to collect it).
        while not done:
            with nogil:
                done = self.r.wait_for(rnanoseconds(_JOIN_SLICE_NS))
            if not done:
                PyErr_CheckSignals()
        with nogil:
            code = b_finish(self.r, ask_stop, &msg)
        if self._holds_engine:
            self._engine._busy = False
            self._holds_engine = False
        if code == 0:
            return 0
        text = msg.decode("utf-8", "replace")
        if code == 1:
            raise _queue.Closed(text)
        if code == 2:
            raise _queue.ProducerDied(text)
        if code == 3:
            raise _queue.PeerDead(text)
        if code == 4:
            raise _queue.QueueError(text)
        if code == 5:
            raise MemoryError(text)
        raise RuntimeError(text)

    def stop(self) -> None:
        """Asks the thread to finish the batch it popped, and joins it (GIL
        released). Idempotent. Rethrows, once, what ended the thread: Closed
        if the event ring was closed while events were pending, PeerDead,
        ProducerDied if the MpscRing of commands is stuck on a slot it cannot
        discard (claimed, never published, no pid to prove its claimer
        dead), MemoryError."""
        self._finish(True)

    def join(self) -> None:
        """Waits (GIL released, Ctrl-C honoured) for the thread to end by
        itself: the command ring closed and drained, or an error, which it
        raises like stop()."""
        self._finish(False)

    @property
    def running(self) -> bool:
        """True from start() until the thread has ended."""
        self._check()
        return self.r.running()

    @property
    def commands_processed(self) -> int:
        """Commands applied to the engine so far."""
        self._check()
        return self.r.commands_processed()

    @property
    def events_published(self) -> int:
        """Events pushed to the event ring so far."""
        self._check()
        return self.r.events_published()

    @property
    def batches(self) -> int:
        """Batches of commands popped so far."""
        self._check()
        return self.r.batches()

    @property
    def producer_deaths(self) -> int:
        """Command records an MpscRing discarded because their producer
        process died mid-push (the runner goes on); the change of the ring's
        ``lost`` while the runner consumed it."""
        self._check()
        return self.r.producer_deaths()

    @property
    def engine(self) -> MatchingEngineBase:
        return self._engine

    @property
    def commands(self) -> RingBase:
        return self._commands

    @property
    def events(self) -> RingBase:
        return self._events
