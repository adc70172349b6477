// A naive matching book, the yardstick of issue 16: per symbol a std::map of
// price -> std::list of orders per side, and an std::unordered_map from id to
// the order's place. Price-time priority, trades at the maker's price; limit
// (GTC or IOC), market, cancel and price amend (cancel/replace: the order
// re-enters at the back of its new price, as a taker if it crosses). No
// validation, no duplicate-id detection, no STP, no events beyond trades.
// It exists to be measured against; nothing else uses it.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <unordered_map>
#include <vector>

#include "shanraq/book/types.hpp"

namespace shanraq::bench {

struct NaiveTrade {
  std::uint64_t taker, maker;
  std::int64_t price, qty;
  bool operator==(const NaiveTrade&) const = default;
};

class NaiveBook {
 public:
  struct Resting {
    std::uint64_t id;
    std::int64_t qty;
  };
  using Queue = std::list<Resting>;
  using Bids = std::map<std::int64_t, Queue, std::greater<>>;
  using Asks = std::map<std::int64_t, Queue, std::less<>>;
  struct Symbol {
    Bids bids;
    Asks asks;
  };

  explicit NaiveBook(std::uint32_t symbols) : syms_(symbols) {}

  std::vector<NaiveTrade> trades;

  // One engine command (symbols are 1..N); the kinds the flows use.
  void apply(const book::Command& c) {
    using book::CommandKind;
    switch (c.kind) {
      case CommandKind::kSubmit: {
        const bool market = c.order_type == book::OrderType::kMarket;
        limit(c.symbol - 1, c.order_id, c.side == book::Side::kBuy, market, c.price, c.qty,
              market || c.tif == book::TimeInForce::kIoc);
        break;
      }
      case CommandKind::kCancel:
        cancel(c.order_id);
        break;
      case CommandKind::kAmend:
        move(c.order_id, c.price);
        break;
      default:
        break;
    }
  }

  void limit(std::uint32_t s, std::uint64_t id, bool buy, bool market, std::int64_t price, std::int64_t qty, bool ioc) {
    Symbol& sym = syms_[s];
    qty = buy ? take(sym.asks, id, market, price, qty, [](std::int64_t m, std::int64_t p) { return m <= p; })
              : take(sym.bids, id, market, price, qty, [](std::int64_t m, std::int64_t p) { return m >= p; });
    if (qty == 0 || ioc) return;
    if (buy) {
      rest(sym.bids, s, id, true, price, qty);
    } else {
      rest(sym.asks, s, id, false, price, qty);
    }
  }

  void cancel(std::uint64_t id) {
    const auto it = index_.find(id);
    if (it == index_.end()) return;
    remove(it->second);
    index_.erase(it);
  }

  void move(std::uint64_t id, std::int64_t price) {
    const auto it = index_.find(id);
    if (it == index_.end()) return;
    const Where w = it->second;
    const std::int64_t qty = w.it->qty;
    remove(w);
    index_.erase(it);
    limit(w.sym, id, w.buy, false, price, qty, false);
  }

  std::size_t live() const { return index_.size(); }
  const Symbol& symbol(std::uint32_t s) const { return syms_[s]; }

 private:
  struct Where {
    std::uint32_t sym;
    bool buy;
    std::int64_t price;
    Queue::iterator it;
  };

  template <class Book, class Crosses>
  std::int64_t take(Book& book, std::uint64_t id, bool market, std::int64_t price, std::int64_t qty, Crosses crosses) {
    while (qty > 0 && !book.empty()) {
      auto lvl = book.begin();
      if (!market && !crosses(lvl->first, price)) break;
      Queue& q = lvl->second;
      while (qty > 0 && !q.empty()) {
        Resting& m = q.front();
        const std::int64_t t = std::min(qty, m.qty);
        trades.push_back(NaiveTrade{id, m.id, lvl->first, t});
        qty -= t;
        m.qty -= t;
        if (m.qty == 0) {
          index_.erase(m.id);
          q.pop_front();
        }
      }
      if (q.empty()) book.erase(lvl);
    }
    return qty;
  }

  template <class Book>
  void rest(Book& book, std::uint32_t s, std::uint64_t id, bool buy, std::int64_t price, std::int64_t qty) {
    Queue& q = book[price];
    q.push_back(Resting{id, qty});
    index_[id] = Where{s, buy, price, std::prev(q.end())};
  }

  void remove(const Where& w) {
    Symbol& sym = syms_[w.sym];
    if (w.buy) {
      erase_from(sym.bids, w);
    } else {
      erase_from(sym.asks, w);
    }
  }
  template <class Book>
  static void erase_from(Book& book, const Where& w) {
    const auto lvl = book.find(w.price);
    lvl->second.erase(w.it);
    if (lvl->second.empty()) book.erase(lvl);
  }

  std::vector<Symbol> syms_;
  std::unordered_map<std::uint64_t, Where> index_;
};

}  // namespace shanraq::bench
