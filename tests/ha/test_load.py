"""The failover load drives its machine for real: setup accepted, orders
that trade, and a new leader's repeated setup changes only the money."""

from __future__ import annotations

import numpy as np
import pytest

from shanraq_core.exchange import ExchangeEventType, ExchangeRejectReason
from shanraq_core.replication.load import BookLoad, ExchangeLoad, make_load
from shanraq_core.replication.node import make_machine

ET = ExchangeEventType
R = ExchangeRejectReason


def _stamp(machine: object, commands: np.ndarray) -> np.ndarray:
    first = machine.next_seq  # type: ignore[attr-defined]
    commands["seq"] = np.arange(first, first + len(commands), dtype=np.uint64)
    return commands


def test_the_exchange_load_trades_and_holds_its_invariants() -> None:
    x = make_machine("exchange")
    load = ExchangeLoad(epoch=7)
    setup_events = x.process(_stamp(x, load.setup()))
    assert not np.any(setup_events["type"] == ET.REJECTED)
    events = x.process(_stamp(x, load.orders(5000)))
    assert np.count_nonzero(events["type"] == ET.TRADE) > 100
    assert np.count_nonzero(events["type"] == ET.REJECTED) == 0
    assert x.check_invariants(), x.check_invariants().message
    # The next leader's setup: assets, symbol and users are duplicates; its
    # deposits (fresh ids) are accepted.
    again = ExchangeLoad(epoch=8)
    events = x.process(_stamp(x, again.setup()))
    rejected = events[events["type"] == ET.REJECTED]
    assert set(rejected["reason"].tolist()) == {R.DUPLICATE_ASSET, R.DUPLICATE_SYMBOL, R.DUPLICATE_USER}
    assert np.count_nonzero(events["type"] == ET.DEPOSITED) == 2 * ExchangeLoad.USERS
    x.process(_stamp(x, again.orders(1000)))
    assert x.check_invariants(), x.check_invariants().message


def test_make_load() -> None:
    assert isinstance(make_load("book", 1), BookLoad)
    assert isinstance(make_load("exchange", 1), ExchangeLoad)
    with pytest.raises(ValueError, match="no load for machine 'ledger'"):
        make_load("ledger", 1)
