"""The backend's hot-path encodings agree with their plain numpy references."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shanraq_core.exchange import EXCHANGE_COMMAND_DTYPE, Exchange
from shanraq_core.service import protocol as p
from shanraq_core.service.backend import command_bytes, report_from_events, report_from_rows, to_command

from .test_protocol import messages


@given(messages().filter(lambda m: m.KIND in p.COMMANDS))
def test_command_bytes_are_the_records_to_command_writes(msg: p.Message) -> None:
    rec = np.zeros(1, dtype=EXCHANGE_COMMAND_DTYPE)
    try:
        to_command(msg, rec[0])
    except (OverflowError, ValueError):
        return  # a value no record holds (e.g. a negative amount into u64 aliases) is refused either way
    assert command_bytes(msg) == rec.tobytes()


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([1, 2]), st.integers(1, 2), st.integers(95, 105), st.integers(1, 5)),
        min_size=1,
        max_size=60,
    )
)
def test_reports_from_rows_equal_reports_from_events(orders: list[tuple[int, int, int, int]]) -> None:
    ex = Exchange(max_orders=1 << 10, max_levels=1 << 8, id_history=1 << 10)
    ex.add_asset(1)
    ex.add_asset(2)
    for u in (1, 2):
        ex.add_user(u)
        for a in (1, 2):
            ex.deposit(u, a, 10 * u + a, 10**12)
    ex.add_symbol(1, 1, 2)
    msgs: list[p.Message] = []
    for i, (user, side, price, qty) in enumerate(orders):
        tif = 2 if i % 3 == 0 else 1
        msgs.append(p.Place(i, user, 100 + i, 1, side, 1, tif, 0, 0, price, qty, 0, 0, 0))
        if i % 4 == 3:
            msgs.append(p.Cancel(1000 + i, user, 100 + i - 1))
        if i % 5 == 4:
            msgs.append(p.Amend(2000 + i, user, 100 + i, price, qty + 1, 0))
    msgs.append(p.MassCancel(9, 1, 0, 0))
    msgs.append(p.Deposit(10, 2, 1, 999, 5))
    recs = np.frombuffer(bytearray(b"".join(command_bytes(m) for m in msgs)), dtype=EXCHANGE_COMMAND_DTYPE)
    first = ex.next_seq
    events = ex.process(recs)
    rows = events.tolist()
    for k, m in enumerate(msgs):
        seq = first + k
        mask = events["seq"] == seq
        want = report_from_events(m, seq, events[mask])
        got = report_from_rows(m, seq, [r for r in rows if r[0] == seq])
        assert got == want
