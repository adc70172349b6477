"""Type stubs for the Cython sequencer bindings (shanraq_core._core.runner).

Thread contract: start(), stop(), join() and take_unpublished() from the
thread that owns the runner; the counters and `running` from any thread. From
start() until stop()/join() returns, the machine refuses every call
(RuntimeError: busy), and nobody else may pop the command ring or push the
event or stamped rings.
"""

from typing import Any

import numpy as np

from shanraq_core._core.journal import JournalBase
from shanraq_core._core.queue import RingBase

class RunnerBase:
    def __init__(
        self,
        machine: Any,
        commands: RingBase,
        events: RingBase,
        *,
        batch: int = 256,
        poll_interval: float = 0.002,
        time_source: str = "clock",
        stamped: RingBase | None = None,
        journal: JournalBase | None = None,
        snapshot_every: int = 0,
        pipeline_depth: int = 4,
    ) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def join(self) -> None: ...
    def take_unpublished(self) -> np.ndarray[Any, np.dtype[np.void]]: ...
    @property
    def running(self) -> bool: ...
    @property
    def commands_processed(self) -> int: ...
    @property
    def events_published(self) -> int: ...
    @property
    def batches(self) -> int: ...
    @property
    def last_seq(self) -> int: ...
    @property
    def producer_deaths(self) -> int: ...
    @property
    def stamped_dropped(self) -> int: ...
    @property
    def unpublished(self) -> int: ...
    @property
    def machine(self) -> Any: ...
    @property
    def commands(self) -> RingBase: ...
    @property
    def events(self) -> RingBase: ...
    @property
    def stamped(self) -> RingBase | None: ...
    @property
    def journal(self) -> JournalBase | None: ...
