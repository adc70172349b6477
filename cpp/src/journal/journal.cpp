#include "shanraq/journal/journal.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <utility>

#include "shanraq/common/state_machine.hpp"
#include "shanraq/journal/reader.hpp"

namespace shanraq::journal {

namespace {

std::uint64_t mono_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

std::uint64_t load_u64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

void check_options(const JournalOptions& o) {
  auto bad = [](const std::string& w) { throw std::invalid_argument("journal options: " + w); };
  if (o.segment_bytes < (std::uint64_t{64} << 10) || o.segment_bytes > (std::uint64_t{1} << 30)) {
    bad("segment_bytes must be in [64 KiB, 1 GiB]");
  }
  if (o.max_write_bytes < 4096 || o.max_write_bytes > (64u << 20) || o.max_write_bytes > o.segment_bytes / 2) {
    bad("max_write_bytes must be in [4 KiB, 64 MiB] and at most segment_bytes / 2");
  }
  if (o.buffer_bytes < 2 * std::uint64_t{o.max_write_bytes} || o.buffer_bytes > (std::uint64_t{1} << 34)) {
    bad("buffer_bytes must be at least 2 * max_write_bytes (and at most 16 GiB)");
  }
  if (o.keep_snapshots < 1) bad("keep_snapshots must be at least 1");
  if (o.durability.mode == Durability::kInterval &&
      (o.durability.interval_ms < 1 || o.durability.interval_ms > 60000)) {
    bad("interval_ms must be in [1, 60000]");
  }
  if (o.key_id != 0 && (o.keyring == nullptr || o.keyring->find(o.key_id) == nullptr)) {
    throw KeyError("journal options: key id " + std::to_string(o.key_id) + " is not in the keyring", "", o.key_id);
  }
}

}  // namespace

DurabilityPolicy DurabilityPolicy::parse(std::string_view t) {
  if (t == "every_batch") return {Durability::kEveryBatch, 0};
  if (t == "none") return {Durability::kNone, 0};
  constexpr std::string_view kPrefix = "interval_ms=";
  if (t.substr(0, kPrefix.size()) == kPrefix && t.size() > kPrefix.size() && t.size() <= kPrefix.size() + 5) {
    std::uint32_t v = 0;
    for (char c : t.substr(kPrefix.size())) {
      if (c < '0' || c > '9') {
        v = 0;
        break;
      }
      v = v * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (v >= 1 && v <= 60000) return {Durability::kInterval, v};
  }
  throw std::invalid_argument(
      "durability policy must be 'every_batch', 'interval_ms=N' (N in 1..60000) or 'none', not '" + std::string(t) +
      "'");
}

std::string DurabilityPolicy::to_string() const {
  switch (mode) {
    case Durability::kEveryBatch:
      return "every_batch";
    case Durability::kInterval:
      return "interval_ms=" + std::to_string(interval_ms);
    case Durability::kNone:
      return "none";
  }
  return "?";
}

Journal::Journal(std::string dir, const JournalOptions& options, Storage& storage)
    : dir_(std::move(dir)), opts_(options), storage_(storage) {}

Journal::~Journal() {
  try {
    close();
  } catch (...) {
    // Documented: the destructor drops the error; close() reports it.
  }
}

void Journal::note(RecoveryReport& r, const std::string& msg) const {
  r.notes.push_back(msg);
  if (opts_.log) opts_.log(msg);
}

std::unique_ptr<Journal> Journal::open(const std::string& dir, const JournalOptions& options, MachineAdapter& machine,
                                       RecoveryReport* report) {
  check_options(options);
  Storage& st = options.storage != nullptr ? *options.storage : posix_storage();
  if (!st.exists(dir)) {
    if (!options.create) throw IoError("journal directory " + dir + " does not exist", dir, ENOENT);
    st.make_dir(dir);
  } else if (!st.is_dir(dir)) {
    throw IoError("journal path " + dir + " is not a directory", dir, ENOTDIR);
  }
  std::unique_ptr<Journal> j(new Journal(dir, options, st));
  j->lock_ = st.lock(dir);
  j->machine_tag_ = machine.machine_tag();
  j->wire_version_ = machine.wire_version();
  j->record_size_ = machine.record_size();
  if (j->record_size_ < 17) throw std::invalid_argument("journal: a record is at least a 17-byte command header");
  j->stride_ = static_cast<std::uint32_t>(record_stride(j->record_size_));
  j->max_frame_records_ = static_cast<std::uint32_t>((options.max_write_bytes - sizeof(FrameHeader)) / j->stride_);
  if (j->max_frame_records_ == 0)
    throw std::invalid_argument("journal options: max_write_bytes is smaller than one record");
  j->key_id_.store(options.key_id, std::memory_order_relaxed);
  RecoveryReport local;
  RecoveryReport& rep = report != nullptr ? *report : local;
  rep = RecoveryReport{};
  j->recover(machine, rep);
  return j;
}

void Journal::recover(MachineAdapter& machine, RecoveryReport& rep) {
  Listing L = list_journal(storage_, dir_);
  for (const std::string& o : L.other) note(rep, "ignored a file that is not the journal's: " + dir_ + "/" + o);
  Expect ex{machine_tag_, wire_version_, record_size_, 0};

  if (L.segments.empty() && L.snapshots.empty()) {
    if (!opts_.create) throw FormatError("no journal in " + dir_ + " (and create is off)", dir_);
    for (const std::string& t : L.temporary) storage_.remove(dir_ + "/" + t);
    rep.created = true;
    do {
      random_bytes(&journal_id_, sizeof journal_id_);
    } while (journal_id_ == 0);
    const Digest origin{};
    const std::uint64_t next = machine.next_seq();
    if (next > 1) write_snapshot_file(machine, next - 1, origin);
    rep.last_seq = next - 1;
    start(next, origin);
    return;
  }

  // The newest snapshot that reads, restores and checks; the ones skipped are
  // noted (never silently).
  std::optional<SnapshotFile> base;
  std::string base_path;
  for (auto it = L.snapshots.rbegin(); it != L.snapshots.rend(); ++it) {
    try {
      SnapshotFile sf = read_snapshot(storage_, it->path, opts_.keyring, ex);
      machine.reset();
      machine.restore(reinterpret_cast<const std::uint8_t*>(sf.body.data()), sf.body.size());
      if (machine.next_seq() != sf.header.seq + 1 || machine.state_hash() != sf.header.state_hash) {
        throw CorruptionError("snapshot " + it->path + " restores a state other than the one it recorded", it->path, -1,
                              sf.header.seq);
      }
      ex.journal_id = sf.header.journal_id;
      base_path = it->path;
      base = std::move(sf);
      break;
    } catch (const CorruptionError& e) {
      note(rep, std::string("skipped snapshot: ") + e.what());
    } catch (const std::invalid_argument& e) {
      note(rep, "skipped snapshot " + it->path + ": the machine refused it: " + e.what());
    }
  }
  if (!base) machine.reset();
  if (!base && L.segments.empty()) {
    throw CorruptionError("journal " + dir_ + " has snapshots but none of them is valid, and no segment", dir_, -1, 0);
  }
  const std::uint64_t base_seq = base ? base->header.seq : 0;
  Digest chain{};
  if (base) std::memcpy(chain.data(), base->header.chain, 32);
  rep.snapshot_seq = base_seq;
  rep.snapshot_file = base_path;

  std::uint64_t last = base_seq;
  std::string last_path;
  std::uint64_t last_end = 0;
  if (!L.segments.empty()) {
    // The segment holding base_seq + 1 and the ones after it.
    std::size_t k = 0;
    while (k + 1 < L.segments.size() && L.segments[k + 1].first_seq <= base_seq + 1) ++k;
    const SegmentInfo& first = L.segments[k];
    if (first.first_seq > base_seq + 1) {
      if (!base) {
        throw CorruptionError("the journal's first segment " + first.path + " starts at seq " +
                                  std::to_string(first.first_seq) + " and no valid snapshot covers the seqs before it",
                              first.path, -1, base_seq + 1);
      }
      throw CorruptionError("records " + std::to_string(base_seq + 1) + ".." + std::to_string(first.first_seq - 1) +
                                " are missing: snapshot " + base_path + " ends at " + std::to_string(base_seq) +
                                " and the next segment " + first.path + " starts at " + std::to_string(first.first_seq),
                            first.path, -1, base_seq + 1);
    }
    std::vector<SegmentInfo> segs(L.segments.begin() + static_cast<std::ptrdiff_t>(k), L.segments.end());
    Scanner sc(storage_, opts_.keyring, segs, ex);
    bool linked = !base;
    auto check_link = [&](std::uint64_t at, const Digest& c, const std::string& where) {
      if (c != chain) {
        throw CorruptionError("snapshot " + base_path + " at seq " + std::to_string(base_seq) +
                                  " does not match the journal's chain at that seq (" + where + ")",
                              base_path, -1, at);
      }
      linked = true;
    };
    if (base && sc.origin_seq() == base_seq + 1) check_link(base_seq, sc.origin_chain(), "segment header");
    std::vector<std::uint8_t> batch;
    const std::size_t kBatch = 4096;
    batch.reserve(kBatch * record_size_);
    std::size_t in_batch = 0;
    auto flush = [&] {
      if (in_batch != 0) machine.apply(batch.data(), in_batch);
      rep.replayed += in_batch;
      batch.clear();
      in_batch = 0;
    };
    while (sc.next()) {
      const std::uint64_t f = sc.first_seq();
      const std::uint64_t l = f + sc.count() - 1;
      if (l <= base_seq) {
        if (l == base_seq) check_link(base_seq, sc.chain(), "frame ending at that seq");
        continue;
      }
      if (f <= base_seq) {
        throw CorruptionError("snapshot " + base_path + " at seq " + std::to_string(base_seq) +
                                  " falls inside a frame of " + sc.segment_path() +
                                  " (snapshots are taken at frame ends)",
                              sc.segment_path(), -1, base_seq);
      }
      for (std::uint32_t i = 0; i < sc.count(); ++i) {
        const std::uint8_t* r = sc.record(i);
        batch.insert(batch.end(), r, r + record_size_);
        if (++in_batch == kBatch) flush();
      }
    }
    flush();
    if (!linked || sc.last_seq() < base_seq) {
      throw CorruptionError("the journal ends at seq " + std::to_string(sc.last_seq()) + ", before snapshot " +
                                base_path + " at seq " + std::to_string(base_seq) + ": durable records are missing",
                            sc.segment_path(), static_cast<std::int64_t>(sc.segment_end()), sc.last_seq() + 1);
    }
    last = sc.last_seq();
    chain = sc.chain();
    journal_id_ = sc.journal_id();
    last_path = sc.segment_path();
    last_end = sc.segment_end();
    if (sc.torn()) {
      rep.torn = true;
      rep.torn_tail = sc.torn_tail();
    }
  } else {
    journal_id_ = base->header.journal_id;
  }
  if (machine.next_seq() != last + 1) {
    throw std::logic_error("journal recovery: the machine's next_seq " + std::to_string(machine.next_seq()) +
                           " after replay is not " + std::to_string(last + 1));
  }
  rep.last_seq = last;

  // Everything checked: only now is anything on disk changed.
  for (const std::string& t : L.temporary) {
    note(rep, "removed an unfinished file: " + dir_ + "/" + t);
    storage_.remove(dir_ + "/" + t);
  }
  if (!last_path.empty()) {
    auto f = storage_.open(last_path, OpenMode::kReadWrite);
    const std::uint64_t size = f->size();
    if (rep.torn) {
      const TornTail& t = rep.torn_tail;
      note(rep, "torn tail truncated: " + t.file + " at offset " + std::to_string(t.offset) + ": records from seq " +
                    std::to_string(t.seq) + " were being written when the writer stopped (" + t.why + "); " +
                    std::to_string(t.bytes) + " bytes dropped");
    }
    if (last_end <= sizeof(SegmentHeader)) {
      // No frame: the next segment takes its name.
      f.reset();
      storage_.remove(last_path);
      storage_.sync_dir(dir_);
    } else if (size != last_end) {
      f->truncate(last_end);
      f->sync();
    }
  }
  start(last + 1, chain);
}

void Journal::start(std::uint64_t next_seq, const Digest& chain) {
  next_seq_ = next_seq;
  written_.store(next_seq - 1);
  synced_.store(next_seq - 1);
  durable_.store(next_seq - 1);
  sync_request_.store(0);
  chain_ = chain;
  ring_.assign(opts_.buffer_bytes, 0);
  descs_.assign(std::max<std::size_t>(1024, opts_.buffer_bytes / (sizeof(FrameHeader) + stride_)), Desc{});
  sha_ = std::make_unique<Sha256>();
  gcm_ = std::make_unique<Gcm>();
  iov_.reserve(64);
  last_sync_ns_ = mono_ns();
  open_segment(next_seq);
  preparer_ = std::thread([this] { preparer_loop(); });
  request_preparation();
  writer_ = std::thread([this] { writer_loop(); });
}

// ---- owner side ----------------------------------------------------------------------------

void Journal::rethrow_failure() const { std::rethrow_exception(error_); }

void Journal::wake_writer() {
  if (writer_sleeping_.load(std::memory_order_seq_cst)) {
    std::lock_guard<std::mutex> g(mu_);
    writer_cv_.notify_one();
  }
}

std::uint64_t Journal::append(const void* records, std::size_t n) {
  if (closed_) throw std::logic_error("journal: append after close");
  if (failed()) rethrow_failure();
  const auto* src = static_cast<const std::uint8_t*>(records);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t s = load_u64(src + i * record_size_);
    if (s != next_seq_ + i) {
      throw sm::SequenceError("journal: record " + std::to_string(i) + " of the batch has seq " + std::to_string(s) +
                              ", expected " + std::to_string(next_seq_ + i) + " (records must be stamped)");
    }
  }
  const std::uint64_t cap = ring_.size();
  const std::uint64_t dcap = descs_.size();
  std::size_t off = 0;
  while (off < n) {
    const std::uint32_t k = static_cast<std::uint32_t>(std::min<std::size_t>(n - off, max_frame_records_));
    const std::uint32_t fbytes = static_cast<std::uint32_t>(sizeof(FrameHeader) + std::size_t{k} * stride_);
    std::uint64_t pos = ring_head_;
    if (pos % cap + fbytes > cap) pos += cap - pos % cap;  // frames never wrap
    const std::uint64_t dh = desc_head_.load(std::memory_order_relaxed);
    auto room = [&] {
      return pos + fbytes - ring_tail_.load(std::memory_order_acquire) <= cap &&
             dh - desc_tail_.load(std::memory_order_acquire) < dcap;
    };
    if (!room()) {
      wake_writer();
      for (int spin = 0; spin < 2000 && !room() && !failed(); ++spin) std::this_thread::yield();
      if (!room()) {
        std::unique_lock<std::mutex> lk(mu_);
        owner_waiting_space_.store(true, std::memory_order_seq_cst);
        space_cv_.wait(lk, [&] { return room() || failed(); });
        owner_waiting_space_.store(false, std::memory_order_relaxed);
      }
      if (failed()) rethrow_failure();
    }
    std::uint8_t* p = ring_.data() + pos % cap;
    FrameHeader h{};
    h.magic = kFrameMagic;
    h.first_seq = next_seq_ + off;
    h.count = k;
    h.body_bytes = k * stride_;
    std::memcpy(p, &h, sizeof h);
    std::uint8_t* body = p + sizeof h;
    const std::size_t pad = stride_ - sizeof(RecordHeader) - record_size_;
    for (std::uint32_t i = 0; i < k; ++i) {
      const std::uint8_t* rec = src + (off + i) * record_size_;
      RecordHeader rh;
      rh.crc = 0;
      rh.length = record_size_;
      std::memcpy(&rh.seq, rec, 8);
      std::memcpy(&rh.time_ns, rec + 8, 8);
      std::uint8_t* out = body + std::size_t{i} * stride_;
      std::memcpy(out, &rh, sizeof rh);
      std::memcpy(out + sizeof rh, rec, record_size_);
      if (pad != 0) std::memset(out + sizeof rh + record_size_, 0, pad);
    }
    descs_[dh % dcap] = Desc{pos, fbytes, k, next_seq_ + off + k - 1};
    ring_head_ = pos + fbytes;
    desc_head_.store(dh + 1, std::memory_order_seq_cst);
    off += k;
  }
  next_seq_ += n;
  wake_writer();
  return next_seq_ - 1;
}

bool Journal::wait_durable(std::uint64_t seq, std::chrono::nanoseconds timeout) {
  if (durable_seq() >= seq) return true;
  if (failed()) rethrow_failure();
  durable_waiters_.fetch_add(1, std::memory_order_seq_cst);
  bool ok;
  {
    std::unique_lock<std::mutex> lk(mu_);
    auto pred = [&] { return durable_seq() >= seq || failed() || stop_.load(std::memory_order_acquire); };
    if (timeout.count() < 0) {
      durable_cv_.wait(lk, pred);
      ok = true;
    } else {
      ok = durable_cv_.wait_for(lk, timeout, pred);
    }
  }
  durable_waiters_.fetch_sub(1, std::memory_order_relaxed);
  if (durable_seq() >= seq) return true;
  if (failed()) rethrow_failure();
  if (ok && stop_.load()) throw std::logic_error("journal: closed while waiting for seq " + std::to_string(seq));
  return false;
}

void Journal::await_policy(std::uint64_t seq) {
  if (opts_.durability.mode == Durability::kEveryBatch) {
    wait_durable(seq);
  } else if (failed()) {
    rethrow_failure();
  }
}

void Journal::sync() {
  if (closed_) throw std::logic_error("journal: sync after close");
  const std::uint64_t want = next_seq_ - 1;
  if (synced_seq() >= want) return;
  std::uint64_t cur = sync_request_.load();
  while (cur < want && !sync_request_.compare_exchange_weak(cur, want)) {
  }
  wake_writer();
  {
    std::lock_guard<std::mutex> g(mu_);
    writer_cv_.notify_one();
  }
  durable_waiters_.fetch_add(1, std::memory_order_seq_cst);
  {
    std::unique_lock<std::mutex> lk(mu_);
    durable_cv_.wait(lk, [&] { return synced_seq() >= want || failed(); });
  }
  durable_waiters_.fetch_sub(1, std::memory_order_relaxed);
  if (synced_seq() < want) rethrow_failure();
}

void Journal::rotate_key(std::uint32_t key_id) {
  if (closed_) throw std::logic_error("journal: rotate_key after close");
  if (key_id != 0 && (opts_.keyring == nullptr || opts_.keyring->find(key_id) == nullptr)) {
    throw KeyError("journal: key id " + std::to_string(key_id) + " is not in the keyring", dir_, key_id);
  }
  if (failed()) rethrow_failure();
  // The roll happens on the writer thread, ahead of the next write, so every
  // record appended from now on lands under the new key.
  key_id_.store(key_id, std::memory_order_release);
  roll_request_.store(true, std::memory_order_seq_cst);
  sync();
}

void Journal::close() {
  if (closed_) return;
  closed_ = true;
  stop_.store(true, std::memory_order_seq_cst);
  {
    std::lock_guard<std::mutex> g(mu_);
    writer_cv_.notify_one();
    durable_cv_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard<std::mutex> g(prep_mu_);
    prep_stop_ = true;
    prep_cv_.notify_all();
  }
  if (preparer_.joinable()) preparer_.join();
  if (prepared_) {
    prepared_.reset();
    try {
      storage_.remove(prepared_path_);
    } catch (const JournalError&) {
      // A leftover .tmp is removed at the next open.
    }
  }
  seg_.reset();
  lock_.reset();
  if (error_) {
    std::exception_ptr e = std::exchange(error_, nullptr);
    std::rethrow_exception(e);
  }
}

JournalStats Journal::stats() const {
  std::lock_guard<std::mutex> g(stats_mu_);
  return stats_;
}

// ---- writer thread ---------------------------------------------------------------------------

void Journal::fail(std::exception_ptr e) noexcept {
  if (!failed_.load()) {
    error_ = e;
    failed_.store(true, std::memory_order_seq_cst);
  }
  std::lock_guard<std::mutex> g(mu_);
  durable_cv_.notify_all();
  space_cv_.notify_all();
}

void Journal::publish_synced(std::uint64_t seq) {
  synced_.store(seq, std::memory_order_release);
  if (opts_.durability.mode != Durability::kNone) durable_.store(seq, std::memory_order_seq_cst);
  if (durable_waiters_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard<std::mutex> g(mu_);
    durable_cv_.notify_all();
  }
}

void Journal::sync_segment() {
  const std::uint64_t w = written_.load(std::memory_order_relaxed);
  seg_->datasync();
  last_sync_ns_ = mono_ns();
  {
    std::lock_guard<std::mutex> g(stats_mu_);
    ++stats_.syncs;
  }
  publish_synced(w);
}

void Journal::finalize_frame(std::uint8_t* p) {
  FrameHeader h;
  std::memcpy(&h, p, sizeof h);
  h.synced_through = synced_.load(std::memory_order_relaxed);
  h.frame_index = frame_index_++;
  std::uint8_t* body = p + sizeof h;
  for (std::uint32_t i = 0; i < h.count; ++i) {
    std::uint8_t* r = body + std::size_t{i} * stride_;
    const std::uint32_t crc = crc32c(r + 4, sizeof(RecordHeader) - 4 + record_size_);
    std::memcpy(r, &crc, 4);
  }
  const auto* hb = reinterpret_cast<const std::uint8_t*>(&h);
  sha_->reset();
  sha_->update(chain_.data(), chain_.size());
  sha_->update(hb + 8, 32);
  sha_->update(body, h.body_bytes);
  chain_ = sha_->finish();
  std::memcpy(h.chain, chain_.data(), 32);
  if (seg_key_id_ != 0) {
    std::uint8_t nonce[kNonceBytes];
    std::memcpy(nonce, seg_salt_, 8);
    std::memcpy(nonce + 8, &h.frame_index, 4);
    gcm_->encrypt(opts_.keyring->find(seg_key_id_)->data(), nonce, hb + 8, 32, body, body, h.body_bytes, h.tag);
  }
  h.header_crc = frame_header_crc(h);
  std::memcpy(p, &h, sizeof h);
}

void Journal::write_group() {
  const std::uint64_t cap = ring_.size();
  const std::uint64_t dcap = descs_.size();
  const std::uint64_t tail = desc_tail_.load(std::memory_order_relaxed);
  const std::uint64_t head = desc_head_.load(std::memory_order_acquire);
  std::uint64_t k = tail;
  std::uint64_t bytes = 0;
  while (k < head) {
    const Desc& d = descs_[k % dcap];
    if (bytes + d.bytes > opts_.max_write_bytes || seg_offset_ + bytes + d.bytes > opts_.segment_bytes) break;
    bytes += d.bytes;
    ++k;
  }
  if (k == tail) {
    // The next frame does not fit in this segment: a new one starts with it.
    seal_segment();
    open_segment(written_.load(std::memory_order_relaxed) + 1);
    return;
  }
  iov_.clear();
  std::uint64_t records = 0;
  for (std::uint64_t i = tail; i < k; ++i) {
    const Desc& d = descs_[i % dcap];
    std::uint8_t* p = ring_.data() + d.ring_pos % cap;
    finalize_frame(p);
    records += d.count;
    if (!iov_.empty() && static_cast<std::uint8_t*>(iov_.back().iov_base) + iov_.back().iov_len == p) {
      iov_.back().iov_len += d.bytes;
    } else {
      iov_.push_back({p, d.bytes});
    }
  }
  seg_->write(iov_.data(), static_cast<int>(iov_.size()), seg_offset_);
  seg_offset_ += bytes;
  const Desc& lastd = descs_[(k - 1) % dcap];
  written_.store(lastd.last_seq, std::memory_order_release);
  {
    std::lock_guard<std::mutex> g(stats_mu_);
    stats_.records += records;
    stats_.frames += k - tail;
    stats_.groups += 1;
    stats_.bytes += bytes;
    stats_.max_group_records = std::max(stats_.max_group_records, records);
    int b = 0;
    while ((records >> (b + 1)) != 0 && b < 31) ++b;
    stats_.group_records[b] += 1;
  }
  ring_tail_.store(lastd.ring_pos + lastd.bytes, std::memory_order_release);
  desc_tail_.store(k, std::memory_order_seq_cst);
  if (owner_waiting_space_.load(std::memory_order_seq_cst)) {
    std::lock_guard<std::mutex> g(mu_);
    space_cv_.notify_all();
  }
  switch (opts_.durability.mode) {
    case Durability::kEveryBatch:
      sync_segment();
      break;
    case Durability::kInterval:
      if (mono_ns() - last_sync_ns_ >= std::uint64_t{opts_.durability.interval_ms} * 1'000'000) sync_segment();
      break;
    case Durability::kNone:
      durable_.store(lastd.last_seq, std::memory_order_seq_cst);
      if (durable_waiters_.load(std::memory_order_seq_cst) > 0) {
        std::lock_guard<std::mutex> g(mu_);
        durable_cv_.notify_all();
      }
      break;
  }
}

void Journal::writer_loop() noexcept {
  try {
    for (;;) {
      bool busy = false;
      if (roll_request_.load(std::memory_order_acquire)) {
        roll_request_.store(false, std::memory_order_relaxed);
        seal_segment();
        open_segment(written_.load(std::memory_order_relaxed) + 1);
      }
      if (desc_head_.load(std::memory_order_acquire) != desc_tail_.load(std::memory_order_relaxed)) {
        write_group();
        busy = true;
      }
      const std::uint64_t w = written_.load(std::memory_order_relaxed);
      if (w > synced_.load(std::memory_order_relaxed)) {
        const std::uint64_t req = sync_request_.load(std::memory_order_acquire);
        const bool interval_due = opts_.durability.mode == Durability::kInterval &&
                                  mono_ns() - last_sync_ns_ >= std::uint64_t{opts_.durability.interval_ms} * 1'000'000;
        if ((req > synced_.load(std::memory_order_relaxed) && w >= req) || interval_due) sync_segment();
      }
      if (busy) continue;
      std::unique_lock<std::mutex> lk(mu_);
      writer_sleeping_.store(true, std::memory_order_seq_cst);
      auto pred = [&] {
        return desc_head_.load(std::memory_order_seq_cst) != desc_tail_.load(std::memory_order_relaxed) ||
               stop_.load(std::memory_order_seq_cst) || roll_request_.load(std::memory_order_seq_cst) ||
               (sync_request_.load(std::memory_order_seq_cst) > synced_.load(std::memory_order_relaxed) &&
                written_.load(std::memory_order_relaxed) > synced_.load(std::memory_order_relaxed));
      };
      if (!pred()) {
        if (opts_.durability.mode == Durability::kInterval &&
            written_.load(std::memory_order_relaxed) > synced_.load(std::memory_order_relaxed)) {
          const std::uint64_t due = last_sync_ns_ + std::uint64_t{opts_.durability.interval_ms} * 1'000'000;
          const std::uint64_t now = mono_ns();
          if (due > now) writer_cv_.wait_for(lk, std::chrono::nanoseconds(due - now), pred);
        } else {
          writer_cv_.wait(lk, pred);
        }
      }
      writer_sleeping_.store(false, std::memory_order_relaxed);
      if (stop_.load() && desc_head_.load() == desc_tail_.load(std::memory_order_relaxed)) break;
    }
    if (written_.load() > synced_.load()) sync_segment();
  } catch (...) {
    fail(std::current_exception());
  }
}

void Journal::seal_segment() {
  // Sync, then cut the preallocated zeros: a sealed segment ends at its last
  // frame, so any byte after it in a segment that is not the newest is
  // damage (docs/durability.md).
  const std::uint64_t w = written_.load(std::memory_order_relaxed);
  seg_->datasync();
  seg_->truncate(seg_offset_);
  seg_->sync();
  last_sync_ns_ = mono_ns();
  {
    std::lock_guard<std::mutex> g(stats_mu_);
    ++stats_.syncs;
  }
  publish_synced(w);
  seg_.reset();
}

void Journal::open_segment(std::uint64_t first_seq) {
  const std::string final_path = dir_ + "/" + segment_name(first_seq);
  if (seg_ && seg_path_ == final_path) {
    // The current segment holds no frame yet (a key rotation right after a
    // roll): replace it.
    seg_.reset();
  }
  if (storage_.exists(final_path)) {
    storage_.remove(final_path);
    storage_.sync_dir(dir_);
  }
  std::string tmp;
  std::unique_ptr<File> f = take_prepared_file(&tmp);
  SegmentHeader h{};
  std::memcpy(h.magic, kSegmentMagic, 8);
  h.version = kFormatVersion;
  h.machine_tag = machine_tag_;
  h.wire_version = wire_version_;
  h.record_size = record_size_;
  h.first_seq = first_seq;
  h.max_write = opts_.durability.mode == Durability::kEveryBatch ? opts_.max_write_bytes : 0;
  std::memcpy(h.prev_chain, chain_.data(), 32);
  h.journal_id = journal_id_;
  const std::uint32_t key = key_id_.load(std::memory_order_acquire);
  h.key_id = key;
  random_bytes(seg_salt_, sizeof seg_salt_);
  if (key != 0) {
    h.flags = kFlagEncrypted;
    std::memcpy(h.nonce_salt, seg_salt_, 8);
    std::uint8_t nonce[kNonceBytes];
    std::memcpy(nonce, seg_salt_, 8);
    std::memset(nonce + 8, 0xFF, 4);
    gcm_->encrypt(opts_.keyring->find(key)->data(), nonce, &h, offsetof(SegmentHeader, key_check), nullptr, nullptr, 0,
                  h.key_check);
  }
  h.header_crc = segment_header_crc(h);
  f->write(&h, sizeof h, 0);
  f->datasync();
  storage_.rename(tmp, final_path);
  storage_.sync_dir(dir_);
  seg_ = std::move(f);
  seg_path_ = final_path;
  seg_offset_ = sizeof h;
  seg_key_id_ = key;
  frame_index_ = 0;
  {
    std::lock_guard<std::mutex> g(stats_mu_);
    ++stats_.segments;
  }
  if (preparer_.joinable()) request_preparation();
}

// ---- segment preparation ------------------------------------------------------------------------

void Journal::request_preparation() {
  std::lock_guard<std::mutex> g(prep_mu_);
  if (!prepared_ && !prep_busy_ && !prep_error_) {
    prep_wanted_ = true;
    prep_cv_.notify_all();
  }
}

std::unique_ptr<File> Journal::take_prepared_file(std::string* path) {
  {
    std::unique_lock<std::mutex> lk(prep_mu_);
    prep_cv_.wait(lk, [&] { return !prep_busy_ && !prep_wanted_; });
    if (prepared_) {
      *path = prepared_path_;
      return std::move(prepared_);
    }
    if (prep_error_) std::rethrow_exception(prep_error_);
  }
  // No preparer yet (the first segment) or it was not asked in time.
  *path = dir_ + "/segment-" + std::to_string(prep_counter_++) + ".tmp";
  if (storage_.exists(*path)) storage_.remove(*path);
  auto f = storage_.open(*path, OpenMode::kCreate);
  try {
    switch (opts_.preallocation) {
      case Preallocation::kZeroFill:
        f->zero_fill(opts_.segment_bytes);
        break;
      case Preallocation::kFallocate:
        f->allocate(opts_.segment_bytes);
        break;
      case Preallocation::kNone:
        break;
    }
  } catch (...) {
    f.reset();
    storage_.remove(*path);
    throw;
  }
  return f;
}

void Journal::preparer_loop() noexcept {
  for (;;) {
    std::string path;
    {
      std::unique_lock<std::mutex> lk(prep_mu_);
      prep_cv_.wait(lk, [&] { return prep_wanted_ || prep_stop_; });
      if (prep_stop_) {
        prep_wanted_ = false;
        prep_cv_.notify_all();
        return;
      }
      prep_wanted_ = false;
      prep_busy_ = true;
      path = dir_ + "/segment-" + std::to_string(prep_counter_++) + ".tmp";
    }
    std::unique_ptr<File> f;
    std::exception_ptr err;
    try {
      if (storage_.exists(path)) storage_.remove(path);
      f = storage_.open(path, OpenMode::kCreate);
      switch (opts_.preallocation) {
        case Preallocation::kZeroFill:
          f->zero_fill(opts_.segment_bytes);
          break;
        case Preallocation::kFallocate:
          f->allocate(opts_.segment_bytes);
          break;
        case Preallocation::kNone:
          break;
      }
    } catch (...) {
      err = std::current_exception();
      f.reset();
      try {
        storage_.remove(path);
      } catch (...) {
        // Removed at the next open.
      }
    }
    std::lock_guard<std::mutex> g(prep_mu_);
    prep_busy_ = false;
    if (err) {
      prep_error_ = err;
    } else {
      prepared_ = std::move(f);
      prepared_path_ = path;
    }
    prep_cv_.notify_all();
  }
}

// ---- snapshots and retention ------------------------------------------------------------------

std::uint64_t Journal::snapshot(const MachineAdapter& machine) {
  if (closed_) throw std::logic_error("journal: snapshot after close");
  if (machine.next_seq() != next_seq_) {
    throw std::invalid_argument("journal snapshot: the machine's next_seq " + std::to_string(machine.next_seq()) +
                                " is not the journal's " + std::to_string(next_seq_) +
                                " (snapshot a machine that applied exactly what was appended)");
  }
  const std::uint64_t seq = next_seq_ - 1;
  if (seq == 0) throw std::invalid_argument("journal snapshot: nothing appended yet");
  sync();
  // The writer published synced_ (acquired by sync()) after it computed the
  // chain up to seq, and nothing is staged after seq: chain_ is stable.
  const Digest chain = chain_;
  if (storage_.exists(dir_ + "/" + snapshot_name(seq))) return seq;
  write_snapshot_file(machine, seq, chain);
  apply_retention();
  return seq;
}

void Journal::write_snapshot_file(const MachineAdapter& machine, std::uint64_t seq, const Digest& chain) {
  write_snapshot(storage_, dir_, machine, seq, chain, journal_id_, key_id_.load(std::memory_order_acquire),
                 opts_.keyring);
}

void write_snapshot(Storage& storage, const std::string& dir, const MachineAdapter& machine, std::uint64_t seq,
                    const Digest& chain, std::uint64_t journal_id, std::uint32_t key, const Keyring* keyring) {
  std::string body = machine.snapshot();
  SnapshotHeader h{};
  std::memcpy(h.magic, kSnapshotMagic, 8);
  h.version = kFormatVersion;
  h.machine_tag = machine.machine_tag();
  h.wire_version = machine.wire_version();
  h.seq = seq;
  h.time_ns = machine.now_ns();
  h.state_hash = machine.state_hash();
  h.journal_id = journal_id;
  std::memcpy(h.chain, chain.data(), 32);
  h.body_bytes = body.size();
  const Digest d = Sha256::of(body.data(), body.size());
  std::memcpy(h.body_sha256, d.data(), 32);
  if (key != 0) {
    const auto* k = keyring != nullptr ? keyring->find(key) : nullptr;
    if (k == nullptr) throw KeyError("snapshot: key id " + std::to_string(key) + " is not in the keyring", dir, key);
    h.key_id = key;
    h.flags = kFlagEncrypted;
    random_bytes(h.nonce, sizeof h.nonce);
    Gcm gcm;
    auto* b = reinterpret_cast<std::uint8_t*>(body.data());
    gcm.encrypt(k->data(), h.nonce, &h, offsetof(SnapshotHeader, tag), b, b, body.size(), h.tag);
  }
  h.header_crc = snapshot_header_crc(h);
  const std::string final_path = dir + "/" + snapshot_name(seq);
  const std::string tmp = final_path + ".tmp";
  if (storage.exists(tmp)) storage.remove(tmp);
  {
    auto f = storage.open(tmp, OpenMode::kCreate);
    iovec v[2] = {{&h, sizeof h}, {body.data(), body.size()}};
    f->write(v, 2, 0);
    f->sync();
  }
  storage.rename(tmp, final_path);
  storage.sync_dir(dir);
}

void Journal::apply_retention() {
  Listing L = list_journal(storage_, dir_);
  if (L.snapshots.size() <= opts_.keep_snapshots) return;
  const std::size_t drop = L.snapshots.size() - opts_.keep_snapshots;
  const std::uint64_t oldest_kept = L.snapshots[drop].seq;
  for (std::size_t i = 0; i < drop; ++i) storage_.remove(L.snapshots[i].path);
  // Oldest first, and never the newest segment: a crash midway leaves a
  // contiguous run of segments that the kept snapshots still reach.
  for (std::size_t i = 0; i + 1 < L.segments.size(); ++i) {
    if (L.segments[i + 1].first_seq - 1 > oldest_kept) break;
    storage_.remove(L.segments[i].path);
  }
  storage_.sync_dir(dir_);
}

}  // namespace shanraq::journal
