"""A pure-Python reference exchange: the semantics of shanraq_core.Exchange
(docs/exchange.md) written plainly, composing the reference matching engine
(tests/book_reference.py) for matching and the reference ledger
(tests/ledger_reference.py) for accounts, deposits and withdrawals. The
balance-only holds and settlement moves of the C++ ledger are written here as
what they are: double-entry changes of the accounts' pending and posted
balances. Capacities and turnover rebasing are not modelled.

``apply(command) -> events``: a command is a dict of EXCHANGE_COMMAND_DTYPE's
base fields, an event a dict of EXCHANGE_EVENT_DTYPE's fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shanraq_core.exchange import ExchangeCommandKind as K
from shanraq_core.exchange import ExchangeEventType as E
from shanraq_core.exchange import ExchangeRejectReason as R
from shanraq_core.ledger import AccountFlags, CreateTransferResult
from tests import book_reference as br
from tests.ledger_reference import ReferenceLedger

MAX_AMOUNT = 1 << 62
MAX_TIME = 1 << 62
MAX_FEE_BPS = 10000
DEBIT_LIMITED = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
CODE_FEE, CODE_EXTERNAL, CODE_ESCROW, CODE_USER = 1, 2, 3, 10

BOOK_TO_EXCHANGE = {
    br.ACCEPTED: E.ACCEPTED,
    br.REJECTED: E.REJECTED,
    br.TRADE: E.TRADE,
    br.CANCELLED: E.CANCELLED,
    br.AMENDED: E.AMENDED,
    br.TRIGGERED: E.TRIGGERED,
    br.MASS_CANCELLED: E.MASS_CANCELLED,
    br.TIME_ADVANCED: E.TIME_ADVANCED,
    br.SYMBOL_ADDED: E.SYMBOL_ADDED,
    br.SYMBOL_HALTED: E.SYMBOL_HALTED,
    br.SYMBOL_RESUMED: E.SYMBOL_RESUMED,
}


@dataclass
class Sym:
    id: int
    base: int  # asset index
    quote: int
    base_scale: int
    quote_scale: int
    maker_bps: int
    taker_bps: int


@dataclass
class Ord:
    id: int
    user: int  # user index
    sym: Sym
    side: int
    type: int
    price: int
    remaining: int
    hold: int
    account: int  # ledger account id held
    escrow: int
    recv: int
    holding: tuple[int, int]  # (user index, base asset index)
    bps: int


def cost(s: Sym, side: int, price: int, open_qty: int, bps: int) -> int | None:
    """What an order could still spend (None above MAX_AMOUNT)."""
    if side == br.SELL:
        b = open_qty * s.base_scale
        return b if b <= MAX_AMOUNT else None
    n = price * open_qty
    if n > MAX_AMOUNT:
        return None
    q = n * s.quote_scale
    if q > MAX_AMOUNT:
        return None
    total = q + q * bps // 10000
    return total if total <= MAX_AMOUNT else None


def holding_id(user: int, asset: int) -> int:
    return ((user + 1) << 32) | asset


def system_id(asset: int, code: int) -> int:
    return (asset << 2) | code


class ReferenceExchange:
    def __init__(self) -> None:
        self.book = br.ReferenceEngine()
        self.ledger = ReferenceLedger()
        self.assets: dict[int, int] = {}  # asset id -> index
        self.asset_ids: list[int] = []
        self.symbols: dict[int, Sym] = {}
        self.users: dict[int, int] = {}  # user id -> index
        self.user_ids: list[int] = []
        self.open_count: list[int] = []
        self.limits: list[tuple[int, int]] = []  # (max_open_orders, max_notional)
        self.max_position: dict[tuple[int, int], int] = {}
        self.incoming: dict[tuple[int, int], int] = {}
        self.orders: dict[int, Ord] = {}
        self.seq = 1
        self.clock = 0
        self.faults = 0

    # ---- the ledger, balance-only -------------------------------------------------------
    def acct(self, aid: int) -> Any:
        a = self.ledger.lookup_account(aid)
        assert a is not None
        return a

    def hold(self, debit: int, credit: int, amount: int) -> bool:
        d, c = self.acct(debit), self.acct(credit)
        if d.flags & DEBIT_LIMITED and d.credits_posted - d.debits_posted - d.debits_pending < amount:
            return False
        d.debits_pending += amount
        c.credits_pending += amount
        return True

    def release(self, debit: int, credit: int, amount: int) -> None:
        d, c = self.acct(debit), self.acct(credit)
        assert d.debits_pending >= amount
        assert c.credits_pending >= amount
        d.debits_pending -= amount
        c.credits_pending -= amount

    def post(self, debit: int, credit: int, to: int, amount: int) -> None:
        d, c, t = self.acct(debit), self.acct(credit), self.acct(to)
        assert d.debits_pending >= amount
        assert c.credits_pending >= amount
        d.debits_pending -= amount
        d.debits_posted += amount
        c.credits_pending -= amount
        t.credits_posted += amount

    def move(self, debit: int, credit: int, amount: int) -> None:
        d, c = self.acct(debit), self.acct(credit)
        assert d.credits_posted - d.debits_posted - d.debits_pending >= amount
        d.debits_posted += amount
        c.credits_posted += amount

    # ---- queries ----------------------------------------------------------------------------------
    def balance(self, user: int, asset: int) -> tuple[int, int, int]:
        a = self.acct(holding_id(self.users[user], self.assets[asset]))
        total = a.credits_posted - a.debits_posted
        return total, a.debits_pending, total - a.debits_pending

    # ---- events -----------------------------------------------------------------------------------
    def emit(self, c: dict[str, int], type_: int, **fields: int) -> dict[str, int]:
        e = {
            "seq": self.cur,
            "time_ns": self.t,
            "type": int(type_),
            "command": c["kind"],
            "side": c["side"],
            "order_type": c["order_type"],
            "tif": c["tif"],
            "symbol": c["symbol"],
            "asset": c["asset"],
            "order_id": c["order_id"],
            "user": c["user"],
            "price": c["price"],
            "qty": c["qty"],
            "reason": 0,
            "amount": 0,
            "fee": 0,
            "other_fee": 0,
            "hold": 0,
            "other_hold": 0,
            "other_order_id": 0,
            "other_user": 0,
            "remaining": 0,
            "other_remaining": 0,
        }
        e.update(fields)
        self.out.append(e)
        return e

    def reject(self, c: dict[str, int], reason: int, amount: int = 0) -> None:
        self.emit(c, E.REJECTED, reason=int(reason), amount=amount)

    # ---- orders -------------------------------------------------------------------------------------
    def set_remaining(self, o: Ord, r: int) -> None:
        if o.side == br.BUY:
            self.incoming[o.holding] += (r - o.remaining) * o.sym.base_scale
        o.remaining = r

    def reconcile(self, o: Ord) -> None:
        target = cost(o.sym, o.side, o.price, o.remaining, o.bps)
        if target is None or target > o.hold:
            self.faults += 1
            return
        if target < o.hold:
            self.release(o.account, o.escrow, o.hold - target)
            o.hold = target

    def finish_if_done(self, oid: int) -> None:
        o = self.orders.get(oid)
        if o is None or o.remaining != 0:
            return
        assert o.hold == 0
        self.open_count[o.user] -= 1
        del self.orders[oid]

    def drop(self, o: Ord) -> None:
        self.release(o.account, o.escrow, o.hold)
        o.hold = 0
        self.set_remaining(o, 0)
        self.finish_if_done(o.id)

    def settle(self, be: dict[str, int], e: dict[str, int]) -> None:
        tk, mk = self.orders[be["order_id"]], self.orders[be["other_order_id"]]
        buyer, seller = (tk, mk) if be["side"] == br.BUY else (mk, tk)
        s = tk.sym
        base = be["qty"] * s.base_scale
        n = be["price"] * be["qty"] * s.quote_scale
        taker_fee = n * s.taker_bps // 10000
        maker_fee = n * s.maker_bps // 10000
        fee_b, fee_s = (taker_fee, maker_fee) if buyer is tk else (maker_fee, taker_fee)
        fee_acct = system_id(s.quote, CODE_FEE)
        self.post(seller.account, seller.escrow, buyer.recv, base)
        self.post(buyer.account, buyer.escrow, seller.recv, n)
        if fee_b:
            self.post(buyer.account, buyer.escrow, fee_acct, fee_b)
        if fee_s:
            self.move(seller.recv, fee_acct, fee_s)
        seller.hold -= base
        buyer.hold -= n + fee_b
        self.set_remaining(tk, be["remaining"])
        self.set_remaining(mk, be["other_remaining"])
        self.reconcile(buyer)
        self.reconcile(seller)
        e.update(amount=n, fee=taker_fee, other_fee=maker_fee, hold=tk.hold, other_hold=mk.hold)

    def run_book(self, c: dict[str, int], b: dict[str, int]) -> None:
        bc = dict.fromkeys(br.COMMAND_FIELDS, 0)
        bc.update(b)
        bc["time_ns"] = self.t
        for be in self.book.apply(bc):
            type_ = BOOK_TO_EXCHANGE.get(be["type"])
            if type_ is None:
                continue
            e = self.emit(
                c,
                type_,
                reason=be.get("reason", 0),
                side=be.get("side", 0),
                order_type=be.get("order_type", 0),
                tif=be.get("tif", 0),
                symbol=be.get("symbol", 0),
                asset=0,
                order_id=be.get("order_id", 0),
                user=be.get("account", 0),
                price=be.get("price", 0),
                qty=be.get("qty", 0),
                other_order_id=be.get("other_order_id", 0),
                other_user=be.get("other_account", 0),
                remaining=be.get("remaining", 0),
                other_remaining=be.get("other_remaining", 0),
            )
            oid = e["order_id"]
            o = self.orders.get(oid)
            if type_ == E.TRADE:
                self.settle(be, e)
                self.finish_if_done(e["other_order_id"])
                self.finish_if_done(oid)
            elif type_ == E.REJECTED:
                if o is not None and c["kind"] == K.PLACE:
                    self.drop(o)
                elif o is not None and c["kind"] == K.AMEND:
                    self.reconcile(o)
                    e["hold"] = o.hold
                if c["kind"] == K.PLACE:
                    e["order_type"] = c["order_type"]
                    e["price"] = c["price"]
            elif type_ in (E.CANCELLED, E.AMENDED) and o is not None:
                if type_ == E.AMENDED:
                    o.price = be["price"]
                self.set_remaining(o, be["remaining"])
                self.reconcile(o)
                e["hold"] = o.hold
                e["order_type"] = o.type
                self.finish_if_done(oid)
            elif type_ in (E.ACCEPTED, E.TRIGGERED) and o is not None:
                e["hold"] = o.hold
                e["order_type"] = o.type
            elif type_ == E.SYMBOL_ADDED and e["symbol"] in self.symbols:
                e["asset"] = self.asset_ids[self.symbols[e["symbol"]].base]

    def place(self, c: dict[str, int]) -> None:
        ui = self.users.get(c["user"])
        if ui is None:
            return self.reject(c, R.UNKNOWN_USER)
        s = self.symbols.get(c["symbol"])
        if s is None:
            return self.reject(c, R.UNKNOWN_SYMBOL)
        if not 0 < c["order_id"] <= br.MAX_ORDER_ID:
            return self.reject(c, R.INVALID_ORDER_ID)
        if c["side"] not in (br.BUY, br.SELL):
            return self.reject(c, R.INVALID_SIDE)
        if not 1 <= c["order_type"] <= 4:
            return self.reject(c, R.INVALID_ORDER_TYPE)
        if c["qty"] <= 0:
            return self.reject(c, R.INVALID_QTY)
        if c["price"] < 0:
            return self.reject(c, R.INVALID_PRICE)
        if c["order_id"] in self.orders:
            return self.reject(c, R.DUPLICATE_ORDER_ID)
        b = {
            k: c[k]
            for k in (
                "side",
                "order_type",
                "tif",
                "stp",
                "flags",
                "symbol",
                "order_id",
                "price",
                "qty",
                "stop_price",
                "display_qty",
                "expire_ns",
            )
        }
        b["kind"] = br.SUBMIT
        b["account"] = c["user"]
        if c["order_type"] in (br.MARKET, br.STOP):
            if c["price"] == 0 and c["side"] == br.BUY:
                return self.reject(c, R.PROTECTION_PRICE_REQUIRED)
            if c["price"] != 0:
                if c["tif"] not in (br.IOC, br.FOK):
                    return self.reject(c, R.INVALID_TIME_IN_FORCE)
                b["order_type"] = br.LIMIT if c["order_type"] == br.MARKET else br.STOP_LIMIT
        bps = max(s.maker_bps, s.taker_bps)
        hold = cost(s, c["side"], c["price"], c["qty"], bps)
        if hold is None:
            return self.reject(c, R.NOTIONAL_OVERFLOW)
        max_open, max_notional = self.limits[ui]
        if max_open and self.open_count[ui] >= max_open:
            return self.reject(c, R.MAX_OPEN_ORDERS)
        if max_notional and c["price"] and c["price"] * c["qty"] * s.quote_scale > max_notional:
            return self.reject(c, R.MAX_NOTIONAL)
        hb, hq = (ui, s.base), (ui, s.quote)
        if c["side"] == br.BUY and self.max_position[hb]:
            total = self.balance(c["user"], self.asset_ids[s.base])[0]
            if total + self.incoming[hb] + c["qty"] * s.base_scale > self.max_position[hb]:
                return self.reject(c, R.MAX_POSITION)
        buy = c["side"] == br.BUY
        held_asset = s.quote if buy else s.base
        account = holding_id(*(hq if buy else hb))
        escrow = system_id(held_asset, CODE_ESCROW)
        if not self.hold(account, escrow, hold):
            return self.reject(c, R.INSUFFICIENT_BALANCE)
        self.orders[c["order_id"]] = Ord(
            c["order_id"],
            ui,
            s,
            c["side"],
            c["order_type"],
            c["price"],
            c["qty"],
            hold,
            account,
            escrow,
            holding_id(*(hb if buy else hq)),
            hb,
            bps,
        )
        self.open_count[ui] += 1
        if buy:
            self.incoming[hb] += c["qty"] * s.base_scale
        self.run_book(c, b)

    def owned(self, c: dict[str, int]) -> Ord | None:
        if c["user"] not in self.users:
            self.reject(c, R.UNKNOWN_USER)
            return None
        o = self.orders.get(c["order_id"])
        if o is None:
            self.reject(c, R.UNKNOWN_ORDER)
            return None
        if self.user_ids[o.user] != c["user"]:
            self.reject(c, R.NOT_OWNER)
            return None
        return o

    def cancel(self, c: dict[str, int]) -> None:
        if self.owned(c) is not None:
            self.run_book(c, {"kind": br.CANCEL, "order_id": c["order_id"]})

    def amend(self, c: dict[str, int]) -> None:
        o = self.owned(c)
        if o is None:
            return
        b = {
            "kind": br.AMEND,
            "order_id": c["order_id"],
            "price": c["price"],
            "qty": c["qty"],
            "stop_price": c["stop_price"],
            "flags": c["flags"],
        }
        live = self.book.live[o.id]
        price = c["price"] if c["price"] > 0 else o.price
        open_qty = c["qty"] - live.filled if c["qty"] > 0 else o.remaining
        if c["price"] >= 0 and c["qty"] >= 0 and open_qty > 0:
            s = o.sym
            target = cost(s, o.side, price, open_qty, o.bps)
            if target is None:
                return self.reject(c, R.NOTIONAL_OVERFLOW)
            max_notional = self.limits[o.user][1]
            if max_notional and price and price * open_qty * s.quote_scale > max_notional:
                return self.reject(c, R.MAX_NOTIONAL)
            if o.side == br.BUY and open_qty > o.remaining and self.max_position[o.holding]:
                total = self.balance(self.user_ids[o.user], self.asset_ids[s.base])[0]
                pos = total + self.incoming[o.holding] + (open_qty - o.remaining) * s.base_scale
                if pos > self.max_position[o.holding]:
                    return self.reject(c, R.MAX_POSITION)
            if target > o.hold:
                if not self.hold(o.account, o.escrow, target - o.hold):
                    return self.reject(c, R.INSUFFICIENT_BALANCE)
                o.hold = target
        self.run_book(c, b)

    def mass_cancel(self, c: dict[str, int]) -> None:
        if c["user"] not in self.users:
            return self.reject(c, R.UNKNOWN_USER)
        if c["flags"] & ~br.BY_SYMBOL:
            return self.reject(c, R.INVALID_FLAGS)
        self.run_book(
            c,
            {
                "kind": br.MASS_CANCEL,
                "flags": br.BY_ACCOUNT | (c["flags"] & br.BY_SYMBOL),
                "account": c["user"],
                "symbol": c["symbol"],
                "order_id": c["order_id"],
            },
        )

    # ---- configuration and money --------------------------------------------------------------------
    def new_account(self, aid: int, asset: int, code: int, flags: int) -> None:
        self.ledger.create_account(self.t, id=aid, ledger=asset + 1, code=code, flags=flags)

    def add_asset(self, c: dict[str, int]) -> None:
        if c["asset"] == 0:
            return self.reject(c, R.INVALID_ASSET_ID)
        if c["asset"] in self.assets:
            return self.reject(c, R.DUPLICATE_ASSET)
        ai = len(self.asset_ids)
        self.assets[c["asset"]] = ai
        self.asset_ids.append(c["asset"])
        self.new_account(system_id(ai, CODE_FEE), ai, CODE_FEE, DEBIT_LIMITED)
        self.new_account(system_id(ai, CODE_EXTERNAL), ai, CODE_EXTERNAL, 0)
        self.new_account(system_id(ai, CODE_ESCROW), ai, CODE_ESCROW, 0)
        for ui in range(len(self.user_ids)):
            self.new_holding(ui, ai)
        self.emit(c, E.ASSET_ADDED)

    def new_holding(self, ui: int, ai: int) -> None:
        self.new_account(holding_id(ui, ai), ai, CODE_USER, DEBIT_LIMITED)
        self.max_position[(ui, ai)] = 0
        self.incoming[(ui, ai)] = 0

    def add_user(self, c: dict[str, int]) -> None:
        if c["user"] == 0:
            return self.reject(c, R.INVALID_USER_ID)
        if c["user"] in self.users:
            return self.reject(c, R.DUPLICATE_USER)
        ui = len(self.user_ids)
        self.users[c["user"]] = ui
        self.user_ids.append(c["user"])
        self.open_count.append(0)
        self.limits.append((0, 0))
        for ai in range(len(self.asset_ids)):
            self.new_holding(ui, ai)
        self.emit(c, E.USER_ADDED)

    def add_symbol(self, c: dict[str, int]) -> None:
        quote = c["user"] & 0xFFFFFFFF
        maker, taker = (c["user"] >> 32) & 0xFFFF, c["user"] >> 48
        bs, qs = c["order_id"] & 0xFFFFFFFF, c["order_id"] >> 32
        if c["symbol"] in self.symbols:
            return self.reject(c, R.DUPLICATE_SYMBOL)
        if c["asset"] not in self.assets or quote not in self.assets:
            return self.reject(c, R.UNKNOWN_ASSET)
        if c["asset"] == quote:
            return self.reject(c, R.SAME_ASSET)
        if maker > MAX_FEE_BPS or taker > MAX_FEE_BPS:
            return self.reject(c, R.INVALID_FEE)
        if bs == 0 or qs == 0:
            return self.reject(c, R.INVALID_SCALE)
        bc = dict.fromkeys(br.COMMAND_FIELDS, 0)
        bc.update(
            kind=br.ADD_SYMBOL,
            time_ns=self.t,
            symbol=c["symbol"],
            price=c["price"],
            qty=c["qty"],
            stop_price=c["stop_price"],
            display_qty=c["display_qty"],
            expire_ns=c["expire_ns"],
        )
        ev = self.book.apply(bc)
        if ev[0]["type"] != br.SYMBOL_ADDED:
            return self.reject(c, ev[0]["reason"])
        self.symbols[c["symbol"]] = Sym(
            c["symbol"], self.assets[c["asset"]], self.assets[quote], bs, qs, maker, taker
        )
        self.emit(c, E.SYMBOL_ADDED)

    def money(self, c: dict[str, int], deposit: bool) -> None:
        ui = self.users.get(c["user"])
        if ui is None:
            return self.reject(c, R.UNKNOWN_USER)
        ai = self.assets.get(c["asset"])
        if ai is None:
            return self.reject(c, R.UNKNOWN_ASSET)
        if c["order_id"] in (0, (1 << 64) - 1):
            return self.reject(c, R.INVALID_TRANSFER_ID)
        if not 0 < c["qty"] <= MAX_AMOUNT:
            return self.reject(c, R.INVALID_AMOUNT)
        user, ext = holding_id(ui, ai), system_id(ai, CODE_EXTERNAL)
        if deposit:
            x = self.acct(ext)
            if x.debits_posted - x.credits_posted + c["qty"] > MAX_AMOUNT:
                return self.reject(c, R.SUPPLY_LIMIT)
        debit, credit = (ext, user) if deposit else (user, ext)
        r = self.ledger.transfer(
            self.t,
            id=c["order_id"],
            debit_account_id=debit,
            credit_account_id=credit,
            amount=c["qty"],
            ledger=ai + 1,
            code=1 if deposit else 2,
        )
        if r != CreateTransferResult.OK:
            if r.name.startswith("EXISTS") or r == CreateTransferResult.ID_ALREADY_FAILED:
                return self.reject(c, R.DUPLICATE_TRANSFER)
            if r == CreateTransferResult.EXCEEDS_CREDITS:
                return self.reject(c, R.INSUFFICIENT_BALANCE)
            return self.reject(c, R.LEDGER_REJECTED, int(r))
        self.emit(
            c,
            E.DEPOSITED if deposit else E.WITHDRAWN,
            amount=c["qty"],
            hold=self.balance(c["user"], c["asset"])[2],
        )

    def set_limits(self, c: dict[str, int], position: bool) -> None:
        ui = self.users.get(c["user"])
        if ui is None:
            return self.reject(c, R.UNKNOWN_USER)
        if position:
            ai = self.assets.get(c["asset"])
            if ai is None:
                return self.reject(c, R.UNKNOWN_ASSET)
            if c["stop_price"] < 0:
                return self.reject(c, R.INVALID_COMMAND)
            self.max_position[(ui, ai)] = c["stop_price"]
        else:
            if c["price"] < 0 or not 0 <= c["qty"] <= 0xFFFFFFFF:
                return self.reject(c, R.INVALID_COMMAND)
            self.limits[ui] = (c["qty"], c["price"])
        self.emit(c, E.LIMITS_SET)

    def apply(self, c: dict[str, int]) -> list[dict[str, int]]:
        self.out: list[dict[str, int]] = []
        self.cur = self.seq
        self.seq += 1
        if not 0 <= c["time_ns"] <= MAX_TIME:
            self.t = self.clock
            self.reject(c, R.INVALID_TIME)
            return self.out
        self.clock = max(self.clock, c["time_ns"])
        self.t = self.clock
        if c["reserved0"]:
            self.reject(c, R.INVALID_COMMAND)
            return self.out
        k = c["kind"]
        if k == K.PLACE:
            self.place(c)
        elif k == K.CANCEL:
            self.cancel(c)
        elif k == K.AMEND:
            self.amend(c)
        elif k == K.MASS_CANCEL:
            self.mass_cancel(c)
        elif k == K.ADVANCE_TIME:
            self.run_book(c, {"kind": br.ADVANCE_TIME})
        elif k == K.ADD_ASSET:
            self.add_asset(c)
        elif k == K.ADD_SYMBOL:
            self.add_symbol(c)
        elif k == K.ADD_USER:
            self.add_user(c)
        elif k in (K.DEPOSIT, K.WITHDRAW):
            self.money(c, k == K.DEPOSIT)
        elif k in (K.SET_LIMITS, K.SET_POSITION_LIMIT):
            self.set_limits(c, k == K.SET_POSITION_LIMIT)
        elif k in (K.HALT_SYMBOL, K.RESUME_SYMBOL):
            kind = br.HALT_SYMBOL if k == K.HALT_SYMBOL else br.RESUME_SYMBOL
            self.run_book(c, {"kind": kind, "symbol": c["symbol"]})
        else:
            self.reject(c, R.INVALID_COMMAND)
        return self.out
