"""The ledger's side of the simulated market: the balance movements an
exchange makes for the matching engine's events, as LEDGER_COMMAND_DTYPE
commands.

Every user has a cash account (ledger 1) and an asset account (ledger 2), both
DEBITS_MUST_NOT_EXCEED_CREDITS, funded from the venue's two bank accounts.
For each order the engine accepts, a hold (two-phase PENDING transfer) reserves
what it may spend: cash for a buy, the asset for a sell. Each trade moves cash
from buyer to seller and the asset from seller to buyer; when an order ends
(filled or cancelled), its hold is voided. Until the exchange does this inside
one state machine, the harness derives the ledger's commands from the engine's
events and measures the ledger on them separately.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from shanraq_core.book import EventType, Side
from shanraq_core.ledger import (
    LEDGER_COMMAND_DTYPE,
    TRANSFER_DTYPE,
    AccountFlags,
    CommandFlags,
    LedgerCommandKind,
    TransferFlags,
)

__all__ = ["accounts_and_deposits", "ledger_commands"]

CASH, ASSET = 1, 2
CASH_DEPOSIT = 10**12
ASSET_DEPOSIT = 10**10
#: The price a market order's hold assumes (ticks), above every simulated price.
MARKET_HOLD_PRICE = 1 << 20
_TRADE_IDS = 1 << 40
_VOID_IDS = 1 << 41
_DEPOSIT_IDS = 1 << 42


def _bank(users: int, ledger: int) -> int:
    return 2 * users + ledger


def accounts_and_deposits(users: int, time_ns: int) -> npt.NDArray[np.void]:
    """CREATE_ACCOUNT for every account, then one deposit per user account."""
    n_acc = 2 * users + 2
    acc = np.zeros(n_acc, dtype=LEDGER_COMMAND_DTYPE)
    acc["kind"] = LedgerCommandKind.CREATE_ACCOUNT
    a = acc["account"]
    a["id"] = np.arange(1, n_acc + 1)
    a["ledger"] = np.where(np.arange(1, n_acc + 1) <= users, CASH, ASSET)
    a["ledger"][-2:] = [CASH, ASSET]
    a["code"] = 1
    a["flags"][: 2 * users] = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    acc["account"] = a
    dep = np.zeros(2 * users, dtype=LEDGER_COMMAND_DTYPE)
    dep["kind"] = LedgerCommandKind.CREATE_TRANSFER
    t = np.zeros(2 * users, dtype=TRANSFER_DTYPE)
    t["id"] = _DEPOSIT_IDS + np.arange(1, 2 * users + 1)
    user_ids = np.arange(1, 2 * users + 1)
    cash = user_ids <= users
    t["debit_account_id"] = np.where(cash, _bank(users, CASH), _bank(users, ASSET))
    t["credit_account_id"] = user_ids
    t["amount"] = np.where(cash, CASH_DEPOSIT, ASSET_DEPOSIT)
    t["ledger"] = np.where(cash, CASH, ASSET)
    t["code"] = 1
    dep["transfer"] = t
    out = np.concatenate([acc, dep]).astype(LEDGER_COMMAND_DTYPE)
    out["time_ns"] = time_ns
    return out


def ledger_commands(events: npt.NDArray[np.void], users: int) -> npt.NDArray[np.void]:
    """The ledger commands for a run of BOOK_EVENT_DTYPE events, in event
    order (holds, trade legs, voids)."""
    typ = events["type"]
    parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.void]]] = []

    def transfers(n: int) -> npt.NDArray[np.void]:
        t = np.zeros(n, dtype=TRANSFER_DTYPE)
        t["code"] = 1
        return t

    acc = events[typ == int(EventType.ACCEPTED)]
    i_acc = np.flatnonzero(typ == int(EventType.ACCEPTED))
    held = acc["order_id"]
    buy = acc["side"] == int(Side.BUY)
    h = transfers(len(acc))
    h["id"] = held
    account = acc["account"].astype(np.uint64)
    h["debit_account_id"] = np.where(buy, account, account + users)
    h["credit_account_id"] = np.where(buy, _bank(users, CASH), _bank(users, ASSET))
    price = np.where(acc["price"] > 0, acc["price"], MARKET_HOLD_PRICE).astype(np.uint64)
    qty = acc["qty"].astype(np.uint64)
    h["amount"] = np.where(buy, price * qty, qty)
    h["ledger"] = np.where(buy, CASH, ASSET)
    h["flags"] = TransferFlags.PENDING
    parts.append((4 * i_acc, h))

    i_tr = np.flatnonzero(typ == int(EventType.TRADE))
    tr = events[i_tr]
    taker_buys = tr["side"] == int(Side.BUY)
    buyer = np.where(taker_buys, tr["account"], tr["other_account"]).astype(np.uint64)
    seller = np.where(taker_buys, tr["other_account"], tr["account"]).astype(np.uint64)
    distinct = buyer != seller
    k = np.flatnonzero(distinct)
    cash = transfers(len(k))
    cash["id"] = _TRADE_IDS + 2 * i_tr[k]
    cash["debit_account_id"] = buyer[k]
    cash["credit_account_id"] = seller[k]
    cash["amount"] = tr["price"][k].astype(np.uint64) * tr["qty"][k].astype(np.uint64)
    cash["ledger"] = CASH
    parts.append((4 * i_tr[k], cash))
    asset = transfers(len(k))
    asset["id"] = _TRADE_IDS + 2 * i_tr[k] + 1
    asset["debit_account_id"] = seller[k] + users
    asset["credit_account_id"] = buyer[k] + users
    asset["amount"] = tr["qty"][k].astype(np.uint64)
    asset["ledger"] = ASSET
    parts.append((4 * i_tr[k] + 1, asset))

    def voids(key: npt.NDArray[np.int64], order_ids: npt.NDArray[np.uint64]) -> None:
        keep = np.isin(order_ids, held)
        v = transfers(int(keep.sum()))
        v["id"] = _VOID_IDS + order_ids[keep]
        v["pending_id"] = order_ids[keep]
        v["flags"] = TransferFlags.VOID_PENDING_TRANSFER
        v["code"] = 0
        parts.append((key[keep], v))

    done_taker = tr["remaining"] == 0
    voids(4 * i_tr[done_taker] + 2, tr["order_id"][done_taker])
    done_maker = tr["other_remaining"] == 0
    voids(4 * i_tr[done_maker] + 3, tr["other_order_id"][done_maker])
    i_c = np.flatnonzero((typ == int(EventType.CANCELLED)) & (events["remaining"] == 0))
    voids(4 * i_c, events["order_id"][i_c])

    keys = np.concatenate([p[0] for p in parts])
    order = np.argsort(keys, kind="stable")
    allt = np.concatenate([p[1] for p in parts])[order]
    cmds = np.zeros(len(allt), dtype=LEDGER_COMMAND_DTYPE)
    cmds["kind"] = LedgerCommandKind.CREATE_TRANSFER
    # Each transfer is a client's request of one, as the per-call API sends
    # it (every per-call command carries LAST_IN_BATCH), so the batch, ring
    # and per-call stages apply the same commands and reach the same state.
    cmds["flags"] = CommandFlags.LAST_IN_BATCH
    cmds["transfer"] = allt
    cmds["time_ns"] = events["time_ns"][keys[order] // 4]
    return cmds
