"""Type stubs for the Cython engine-runner bindings (shanraq_core._core.runner).

Thread contract: start(), stop() and join() from the thread that owns the
runner; the counters and `running` from any thread. From start() until
stop()/join() returns, the engine refuses every call (RuntimeError: busy), and
nobody else may pop the command ring or push the event ring.
"""

from shanraq_core._core.book import MatchingEngineBase
from shanraq_core._core.queue import RingBase

class EngineRunnerBase:
    def __init__(
        self,
        engine: MatchingEngineBase,
        commands: RingBase,
        events: RingBase,
        *,
        batch: int = 256,
        poll_interval: float = 0.002,
    ) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def join(self) -> None: ...
    @property
    def running(self) -> bool: ...
    @property
    def commands_processed(self) -> int: ...
    @property
    def events_published(self) -> int: ...
    @property
    def batches(self) -> int: ...
    @property
    def producer_deaths(self) -> int: ...
    @property
    def engine(self) -> MatchingEngineBase: ...
    @property
    def commands(self) -> RingBase: ...
    @property
    def events(self) -> RingBase: ...
