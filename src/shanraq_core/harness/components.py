"""What this build has, found by feature checks rather than versions, and the
machines the harness drives.

A stage asks for the components it needs; one this build lacks is reported as
"not available in this build" instead of failing (a build without the
journal, say, still runs every other stage).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

import shanraq_core

__all__ = ["BookMachine", "Components", "ExchangeMachine", "LedgerMachine", "detect"]


@dataclass(frozen=True)
class Components:
    engine: bool
    ledger: bool
    runner: bool
    exchange: bool
    journal: bool
    runner_journal: bool

    def as_dict(self) -> dict[str, bool]:
        return {
            "matching_engine": self.engine,
            "ledger": self.ledger,
            "runner": self.runner,
            "exchange": self.exchange,
            "journal": self.journal,
            "runner_journal": self.runner_journal,
        }


def detect(module: Any = shanraq_core) -> Components:
    """The components ``module`` (shanraq_core) provides."""
    runner = getattr(module, "Runner", None)
    runner_journal = False
    if runner is not None:
        try:
            runner_journal = "journal" in inspect.signature(runner.__init__).parameters
        except (TypeError, ValueError):
            runner_journal = False
    exchange = getattr(module, "Exchange", None)
    return Components(
        engine=hasattr(module, "MatchingEngine"),
        ledger=hasattr(module, "Ledger"),
        runner=runner is not None,
        exchange=exchange is not None and callable(getattr(exchange, "process", None)),
        journal=hasattr(module, "Journal"),
        runner_journal=runner_journal,
    )


@dataclass(frozen=True)
class BookMachine:
    """The matching engine, sized for ``orders`` commands, with the market's
    symbols defined (the setup commands are applied by `new`). Picklable, so
    a runner process can build its own."""

    orders: int
    symbols: int

    name = "matching engine"

    def new(self, setup: npt.NDArray[np.void]) -> Any:
        cap = 1 << max(16, (self.orders + 1).bit_length())
        engine = shanraq_core.MatchingEngine(
            max_orders=min(cap, (1 << 30) - 1),
            max_symbols=max(self.symbols, 1),
            max_levels=min(cap, (1 << 31) - 1),
            id_history=min(cap, (1 << 30) - 1),
        )
        events = engine.process(setup)
        if (events["type"] == int(shanraq_core.EventType.REJECTED)).any():
            raise RuntimeError("the market's symbols were rejected by the engine")
        return engine

    @staticmethod
    def restore(data: bytes) -> Any:
        return shanraq_core.MatchingEngine.restore(data)


@dataclass(frozen=True)
class LedgerMachine:
    """The ledger, sized for ``transfers`` transfer commands; the setup
    (accounts and deposits) is applied by `new`."""

    accounts: int
    transfers: int

    name = "ledger"

    def new(self, setup: npt.NDArray[np.void]) -> Any:
        ledger = shanraq_core.Ledger(
            max_accounts=max(self.accounts, 1),
            max_transfers=max(self.transfers + len(setup), 1),
            max_history=1,
        )
        events = ledger.process(setup)
        if (events["result"] != int(shanraq_core.CreateTransferResult.CREATED)).any():
            raise RuntimeError("the ledger refused the market's accounts or deposits")
        return ledger

    @staticmethod
    def restore(data: bytes) -> Any:
        return shanraq_core.Ledger.restore(data)


@dataclass(frozen=True)
class ExchangeMachine:
    """The exchange (balance holds wired into matching), sized for
    ``orders`` timed commands over ``users`` users and ``symbols`` symbols
    with one base asset each plus the quote asset; the setup (assets,
    symbols, users, deposits: exchange_flow.exchange_setup) is applied by
    `new`, as commands."""

    users: int
    symbols: int
    orders: int

    name = "exchange"

    def new(self, setup: npt.NDArray[np.void]) -> Any:
        cap = 1 << max(16, (self.orders + 1).bit_length())
        assets = self.symbols + 1
        x = shanraq_core.Exchange(
            max_users=max(self.users, 1),
            max_assets=assets,
            max_symbols=max(self.symbols, 1),
            max_orders=min(cap, (1 << 30) - 1),
            max_levels=min(cap, (1 << 31) - 1),
            id_history=min(cap, (1 << 30) - 1),
            # One account per user and asset, three per asset (fee, external, escrow).
            max_accounts=(self.users + 3) * assets,
            max_transfers=max(len(setup), 1),
        )
        events = x.process(setup)
        if (events["type"] == int(shanraq_core.ExchangeEventType.REJECTED)).any():
            raise RuntimeError("the exchange refused the market's assets, symbols, users or deposits")
        return x

    @staticmethod
    def restore(data: bytes) -> Any:
        return shanraq_core.Exchange.restore(data)
