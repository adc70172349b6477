// Offline tools over a journal directory: verification, point-in-time
// recovery, backups and their retention, and the tailing reader.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "shanraq/journal/reader.hpp"

namespace shanraq::journal {

namespace {

std::string hex(const std::uint8_t* p, std::size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    s.push_back(d[p[i] >> 4]);
    s.push_back(d[p[i] & 15]);
  }
  return s;
}
std::string hex(const Digest& dg) { return hex(dg.data(), dg.size()); }

Expect expect_of(const MachineAdapter& m) { return Expect{m.machine_tag(), m.wire_version(), m.record_size(), 0}; }

// Feeds records to the machine in batches, flushing when asked.
class Applier {
 public:
  Applier(MachineAdapter& m) : m_(m), size_(m.record_size()) { buf_.reserve(kBatch * size_); }
  void add(const std::uint8_t* r) {
    buf_.insert(buf_.end(), r, r + size_);
    if (++n_ == kBatch) flush();
  }
  void flush() {
    if (n_ != 0) m_.apply(buf_.data(), n_);
    applied_ += n_;
    n_ = 0;
    buf_.clear();
  }
  std::uint64_t applied() const { return applied_; }

 private:
  static constexpr std::size_t kBatch = 4096;
  MachineAdapter& m_;
  std::size_t size_;
  std::vector<std::uint8_t> buf_;
  std::size_t n_ = 0;
  std::uint64_t applied_ = 0;
};

void check_empty_target(Storage& st, const std::string& dst) {
  if (st.exists(dst)) {
    if (!st.is_dir(dst)) throw IoError("target " + dst + " exists and is not a directory", dst, EEXIST);
    if (!st.list(dst).empty()) throw IoError("target directory " + dst + " is not empty", dst, ENOTEMPTY);
  } else {
    st.make_dir(dst);
  }
}

void copy_file(Storage& st, const std::string& from, const std::string& to, std::uint64_t bytes, Sha256* hash) {
  auto in = st.open(from, OpenMode::kRead);
  auto out = st.open(to, OpenMode::kCreate);
  std::vector<std::uint8_t> buf(std::size_t{4} << 20);
  for (std::uint64_t at = 0; at < bytes;) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), bytes - at));
    const std::size_t got = in->read(buf.data(), want, at);
    if (got != want) throw IoError("short read copying " + from, from, EIO);
    if (hash != nullptr) hash->update(buf.data(), got);
    out->write(buf.data(), got, at);
    at += got;
  }
  out->sync();
}

Digest hash_file(Storage& st, const std::string& path, std::uint64_t* size) {
  auto in = st.open(path, OpenMode::kRead);
  *size = in->size();
  Sha256 h;
  std::vector<std::uint8_t> buf(std::size_t{4} << 20);
  for (std::uint64_t at = 0; at < *size;) {
    const std::size_t got = in->read(buf.data(), buf.size(), at);
    if (got == 0) break;
    h.update(buf.data(), got);
    at += got;
  }
  return h.finish();
}

void remove_tree(Storage& st, const std::string& dir) {
  for (const std::string& n : st.list(dir)) {
    const std::string p = dir + "/" + n;
    if (st.is_dir(p)) {
      remove_tree(st, p);
    } else {
      st.remove(p);
    }
  }
  st.remove_dir(dir);
}

std::string utc_stamp(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

// ---- verification ------------------------------------------------------------------------------

VerifyReport verify(const std::string& dir, MachineAdapter& machine, const Keyring* keyring, Storage* storage) {
  Storage& st = storage != nullptr ? *storage : posix_storage();
  const Listing L = list_journal(st, dir);
  Expect ex = expect_of(machine);
  VerifyReport rep;
  if (L.segments.empty() && L.snapshots.empty()) throw FormatError("no journal in " + dir, dir);
  // Every snapshot must read; those inside the replayed range are compared
  // with the replay.
  std::map<std::uint64_t, SnapshotFile> snaps;
  for (const SnapshotInfo& s : L.snapshots) {
    SnapshotFile f = read_snapshot(st, s.path, keyring, ex);
    if (ex.journal_id == 0) ex.journal_id = f.header.journal_id;
    snaps.emplace(s.seq, std::move(f));
  }
  machine.reset();
  std::uint64_t base = 0;
  Digest base_chain{};
  const std::uint64_t origin = L.segments.empty() ? UINT64_MAX : L.segments.front().first_seq;
  if (origin != 1) {
    // Old segments were retired: start from the oldest snapshot the
    // segments reach.
    auto it = std::find_if(snaps.begin(), snaps.end(),
                           [&](auto& kv) { return kv.first + 1 >= origin || L.segments.empty(); });
    if (it == snaps.end()) {
      throw CorruptionError("the journal's first segment starts at seq " + std::to_string(origin) +
                                " and no snapshot covers the seqs before it",
                            L.segments.front().path, -1, 1);
    }
    base = it->first;
    std::memcpy(base_chain.data(), it->second.header.chain, 32);
    machine.restore(reinterpret_cast<const std::uint8_t*>(it->second.body.data()), it->second.body.size());
    if (machine.next_seq() != base + 1 || machine.state_hash() != it->second.header.state_hash) {
      throw CorruptionError("snapshot at seq " + std::to_string(base) +
                                " restores a state other than the one it recorded",
                            L.snapshots.front().path, -1, base);
    }
    rep.base_snapshot = base;
    rep.snapshots_checked.push_back(base);
  }
  rep.from_seq = base + 1;
  rep.last_seq = base;
  rep.chain = base_chain;
  if (L.segments.empty()) return rep;

  auto compare = [&](std::uint64_t seq, const Digest& chain) {
    auto it = snaps.find(seq);
    if (it == snaps.end()) return;
    const SnapshotHeader& h = it->second.header;
    const std::string path = dir + "/" + snapshot_name(seq);
    if (std::memcmp(h.chain, chain.data(), 32) != 0) {
      throw CorruptionError(
          "snapshot " + path + " does not match the journal's hash chain at seq " + std::to_string(seq), path, -1, seq);
    }
    if (seq > base) {
      if (machine.state_hash() != h.state_hash) {
        throw CorruptionError("snapshot " + path + " records state hash " + std::to_string(h.state_hash) +
                                  " but the replay gives " + std::to_string(machine.state_hash()),
                              path, -1, seq);
      }
      if (machine.snapshot() != it->second.body) {
        throw CorruptionError("snapshot " + path + " holds other bytes than the replayed state's snapshot", path, -1,
                              seq);
      }
      rep.snapshots_checked.push_back(seq);
    }
  };
  Scanner sc(st, keyring, L.segments, ex);
  if (base != 0 && sc.origin_seq() == base + 1 && sc.origin_chain() != base_chain) {
    throw CorruptionError("the journal's first segment does not continue the chain of snapshot " + std::to_string(base),
                          L.segments.front().path, 0, base + 1);
  }
  if (origin == 1 && snaps.count(0) == 0 && sc.origin_chain() != Digest{}) {
    throw CorruptionError("the journal starts at seq 1 with a chain value other than the origin's (zeros)",
                          L.segments.front().path, 0, 1);
  }
  Applier ap(machine);
  while (sc.next()) {
    const std::uint64_t f = sc.first_seq();
    const std::uint64_t l = f + sc.count() - 1;
    for (auto it = snaps.lower_bound(f); it != snaps.end() && it->first < l; ++it) {
      throw CorruptionError("snapshot at seq " + std::to_string(it->first) + " falls inside a frame", sc.segment_path(),
                            -1, it->first);
    }
    if (l > base) {
      for (std::uint32_t i = 0; i < sc.count(); ++i) {
        if (f + i > base) ap.add(sc.record(i));
      }
      ap.flush();
    }
    rep.records += sc.count();
    compare(l, sc.chain());
  }
  rep.frames = sc.frames();
  rep.segments = sc.segment_index() + 1;
  rep.last_seq = sc.last_seq();
  rep.chain = sc.chain();
  rep.torn = sc.torn();
  if (rep.torn) rep.torn_tail = sc.torn_tail();
  if (machine.next_seq() != rep.last_seq + 1) {
    throw CorruptionError("the replay ends with the machine at next_seq " + std::to_string(machine.next_seq()) +
                              " where the journal ends at seq " + std::to_string(rep.last_seq),
                          sc.segment_path(), -1, rep.last_seq);
  }
  for (const auto& [seq, f] : snaps) {
    if (seq > rep.last_seq) {
      throw CorruptionError("snapshot at seq " + std::to_string(seq) + " lies beyond the journal's end at seq " +
                                std::to_string(rep.last_seq),
                            dir + "/" + snapshot_name(seq), -1, seq);
    }
  }
  return rep;
}

// ---- point-in-time recovery ----------------------------------------------------------------------

RecoveryReport restore_to(const std::string& src, const std::string& dst, PointInTime target, MachineAdapter& machine,
                          const JournalOptions& options) {
  Storage& st = options.storage != nullptr ? *options.storage : posix_storage();
  const Listing L = list_journal(st, src);
  Expect ex = expect_of(machine);
  RecoveryReport rep;
  // The newest snapshot at or before the target.
  std::optional<SnapshotFile> base;
  for (auto it = L.snapshots.rbegin(); it != L.snapshots.rend(); ++it) {
    if (it->seq > target.seq) continue;
    try {
      SnapshotFile f = read_snapshot(st, it->path, options.keyring, ex);
      if (f.header.time_ns > target.time_ns) continue;
      machine.reset();
      machine.restore(reinterpret_cast<const std::uint8_t*>(f.body.data()), f.body.size());
      if (machine.next_seq() != f.header.seq + 1 || machine.state_hash() != f.header.state_hash) {
        throw CorruptionError("snapshot restores another state", it->path, -1, f.header.seq);
      }
      rep.snapshot_file = it->path;
      base = std::move(f);
      break;
    } catch (const CorruptionError& e) {
      rep.notes.push_back(std::string("skipped snapshot: ") + e.what());
    }
  }
  if (!base) machine.reset();
  const std::uint64_t base_seq = base ? base->header.seq : 0;
  rep.snapshot_seq = base_seq;
  Digest chain{};
  std::uint64_t journal_id = 0;
  if (base) {
    std::memcpy(chain.data(), base->header.chain, 32);
    journal_id = base->header.journal_id;
    ex.journal_id = journal_id;
  }
  std::uint64_t last = base_seq;
  if (!L.segments.empty()) {
    std::size_t k = 0;
    while (k + 1 < L.segments.size() && L.segments[k + 1].first_seq <= base_seq + 1) ++k;
    if (L.segments[k].first_seq > base_seq + 1) {
      throw CorruptionError("records after seq " + std::to_string(base_seq) + " are missing", L.segments[k].path, -1,
                            base_seq + 1);
    }
    std::vector<SegmentInfo> segs(L.segments.begin() + static_cast<std::ptrdiff_t>(k), L.segments.end());
    Scanner sc(st, options.keyring, segs, ex);
    journal_id = sc.journal_id();
    if (sc.origin_seq() == base_seq + 1 && base && sc.origin_chain() != chain) {
      throw CorruptionError("the snapshot does not match the journal's chain", segs.front().path, 0, base_seq);
    }
    Applier ap(machine);
    bool done = false;
    while (!done && sc.next()) {
      const std::uint64_t f = sc.first_seq();
      const std::uint64_t l = f + sc.count() - 1;
      if (l <= base_seq) {
        if (l == base_seq && base && sc.chain() != chain) {
          throw CorruptionError("the snapshot does not match the journal's chain", sc.segment_path(), -1, base_seq);
        }
        continue;
      }
      const Digest before = chain;
      std::uint32_t taken = 0;
      for (std::uint32_t i = 0; i < sc.count(); ++i) {
        const std::uint8_t* r = sc.record(i);
        std::uint64_t s;
        std::int64_t t;
        std::memcpy(&s, r, 8);
        std::memcpy(&t, r + 8, 8);
        if (s > target.seq || t > target.time_ns) {
          done = true;
          break;
        }
        ap.add(r);
        ++taken;
        last = s;
      }
      if (taken == sc.count()) {
        chain = sc.chain();
      } else if (taken != 0) {
        // The target falls inside a frame: the new journal's chain starts
        // from a value derived from the records it keeps.
        Sha256 h;
        h.update(before.data(), before.size());
        const char kTag[] = "shanraq point-in-time";
        h.update(kTag, sizeof kTag);
        h.update(&last, sizeof last);
        for (std::uint32_t i = 0; i < taken; ++i) h.update(sc.record(i), machine.record_size());
        chain = h.finish();
      }
    }
    ap.flush();
    rep.replayed = ap.applied();
    if (!done && target.seq != UINT64_MAX && last < target.seq) {
      throw std::invalid_argument("point-in-time recovery: the journal ends at seq " + std::to_string(last) +
                                  ", before the target seq " + std::to_string(target.seq));
    }
    if (sc.torn()) rep.notes.push_back("the source journal has a torn tail at " + sc.torn_tail().file);
  }
  if (last == 0) throw std::invalid_argument("point-in-time recovery: no command is at or before the target");
  check_empty_target(st, dst);
  write_snapshot(st, dst, machine, last, chain, journal_id, options.key_id, options.keyring);
  rep.last_seq = last;
  return rep;
}

// ---- backups ---------------------------------------------------------------------------------------

namespace {

struct Manifest {
  std::uint64_t journal_id = 0;
  std::uint64_t snapshot_seq = 0;
  std::uint64_t last_seq = 0;
  std::string last_chain;
  std::int64_t created = 0;
  struct Entry {
    std::string sha, name;
    std::uint64_t size;
  };
  std::vector<Entry> files;
};

std::string render(const Manifest& m) {
  std::ostringstream o;
  o << "shanraq-journal-backup 1\n";
  o << "journal_id " << m.journal_id << "\n";
  o << "snapshot_seq " << m.snapshot_seq << "\n";
  o << "last_seq " << m.last_seq << "\n";
  o << "last_chain " << m.last_chain << "\n";
  o << "created " << m.created << "\n";
  for (const auto& e : m.files) o << "file " << e.sha << " " << e.size << " " << e.name << "\n";
  std::string body = o.str();
  const Digest d = Sha256::of(body.data(), body.size());
  return body + "manifest_sha256 " + hex(d) + "\n";
}

Manifest parse_manifest(Storage& st, const std::string& path) {
  auto f = st.open(path, OpenMode::kRead);
  std::string text(static_cast<std::size_t>(f->size()), '\0');
  if (f->read(text.data(), text.size(), 0) != text.size()) throw IoError("short read", path, EIO);
  auto bad = [&](const std::string& why) -> CorruptionError {
    return CorruptionError("backup manifest " + path + ": " + why, path, -1, 0);
  };
  const std::size_t cut = text.rfind("manifest_sha256 ");
  if (cut == std::string::npos || text.compare(0, 25, "shanraq-journal-backup 1\n") != 0)
    throw bad("not a backup manifest");
  const Digest d = Sha256::of(text.data(), cut);
  if (text.substr(cut + 16, 64) != hex(d)) throw bad("its own checksum does not match (edited or damaged)");
  Manifest m;
  std::istringstream in(text.substr(0, cut));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string k;
    ls >> k;
    if (k == "journal_id")
      ls >> m.journal_id;
    else if (k == "snapshot_seq")
      ls >> m.snapshot_seq;
    else if (k == "last_seq")
      ls >> m.last_seq;
    else if (k == "last_chain")
      ls >> m.last_chain;
    else if (k == "created")
      ls >> m.created;
    else if (k == "file") {
      Manifest::Entry e;
      ls >> e.sha >> e.size >> e.name;
      if (e.name.empty() || e.name.find('/') != std::string::npos) throw bad("bad file entry");
      m.files.push_back(e);
    } else {
      throw bad("unknown line '" + line + "'");
    }
  }
  return m;
}

}  // namespace

BackupReport backup(const std::string& dir, const std::string& root, MachineAdapter& machine, std::int64_t created,
                    const Keyring* keyring, Storage* storage) {
  Storage& st = storage != nullptr ? *storage : posix_storage();
  const Listing L = list_journal(st, dir);
  Expect ex = expect_of(machine);
  std::optional<SnapshotInfo> snap;
  std::uint64_t journal_id = 0;
  for (auto it = L.snapshots.rbegin(); it != L.snapshots.rend(); ++it) {
    try {
      SnapshotFile f = read_snapshot(st, it->path, keyring, ex);
      journal_id = f.header.journal_id;
      snap = *it;
      break;
    } catch (const CorruptionError&) {
      // An older snapshot serves; verification below replays the set anyway.
    }
  }
  const std::uint64_t base = snap ? snap->seq : 0;
  if (!st.exists(root)) st.make_dir(root);
  const std::string tmp = root + "/backup-" + utc_stamp(created) + ".tmp";
  if (st.exists(tmp)) remove_tree(st, tmp);
  st.make_dir(tmp);
  Manifest m;
  BackupReport rep;
  auto add = [&](const std::string& from, const std::string& name, std::uint64_t bytes) {
    Sha256 h;
    copy_file(st, from, tmp + "/" + name, bytes, &h);
    m.files.push_back({hex(h.finish()), name, bytes});
    rep.bytes += bytes;
  };
  if (snap) {
    auto f = st.open(snap->path, OpenMode::kRead);
    add(snap->path, snapshot_name(base), f->size());
  }
  std::uint64_t last = base;
  Digest chain{};
  if (!L.segments.empty()) {
    std::size_t k = 0;
    while (k + 1 < L.segments.size() && L.segments[k + 1].first_seq <= base + 1) ++k;
    std::vector<SegmentInfo> segs(L.segments.begin() + static_cast<std::ptrdiff_t>(k), L.segments.end());
    Scanner sc(st, keyring, segs, ex);
    // Each segment up to its last whole frame: a live journal's newest
    // segment is cut where the scan found the end of what was written.
    std::map<std::size_t, std::uint64_t> ends;
    while (sc.next()) ends[sc.segment_index()] = sc.segment_end();
    for (const auto& [i, e] : ends) add(segs[i].path, segs[i].path.substr(segs[i].path.find_last_of('/') + 1), e);
    last = sc.last_seq();
    chain = sc.chain();
    journal_id = sc.journal_id();
  } else if (snap) {
    SnapshotFile f = read_snapshot(st, snap->path, keyring, ex);
    std::memcpy(chain.data(), f.header.chain, 32);
  }
  m.journal_id = journal_id;
  m.snapshot_seq = base;
  m.last_seq = last;
  m.last_chain = hex(chain);
  m.created = created;
  {
    const std::string text = render(m);
    auto f = st.open(tmp + "/MANIFEST", OpenMode::kCreate);
    f->write(text.data(), text.size(), 0);
    f->sync();
  }
  st.sync_dir(tmp);
  verify_backup(tmp, machine, keyring, &st);
  const std::string final_path = root + "/backup-" + utc_stamp(created) + "-" + std::to_string(last);
  if (st.exists(final_path)) remove_tree(st, final_path);
  st.rename(tmp, final_path);
  st.sync_dir(root);
  rep.path = final_path;
  rep.snapshot_seq = base;
  rep.last_seq = last;
  rep.files = m.files.size();
  return rep;
}

VerifyReport verify_backup(const std::string& set_dir, MachineAdapter& machine, const Keyring* keyring,
                           Storage* storage) {
  Storage& st = storage != nullptr ? *storage : posix_storage();
  const std::string mpath = set_dir + "/MANIFEST";
  if (!st.exists(mpath)) throw FormatError("not a backup set (no MANIFEST): " + set_dir, set_dir);
  const Manifest m = parse_manifest(st, mpath);
  std::set<std::string> listed;
  for (const auto& e : m.files) {
    listed.insert(e.name);
    const std::string p = set_dir + "/" + e.name;
    if (!st.exists(p)) throw CorruptionError("backup file " + p + " is missing", p, -1, 0);
    std::uint64_t size = 0;
    const Digest d = hash_file(st, p, &size);
    if (size != e.size || hex(d) != e.sha) {
      throw CorruptionError("backup file " + p + " does not match its manifest entry (size or SHA-256)", p, -1, 0);
    }
  }
  for (const std::string& n : st.list(set_dir)) {
    if (n != "MANIFEST" && listed.count(n) == 0) {
      throw CorruptionError("backup set " + set_dir + " holds a file its manifest does not list: " + n,
                            set_dir + "/" + n, -1, 0);
    }
  }
  VerifyReport r = verify(set_dir, machine, keyring, &st);
  if (r.last_seq != m.last_seq || hex(r.chain) != m.last_chain) {
    throw CorruptionError("backup set " + set_dir + " replays to seq " + std::to_string(r.last_seq) +
                              " and a chain other than its manifest records",
                          mpath, -1, m.last_seq);
  }
  return r;
}

void restore_backup(const std::string& set_dir, const std::string& dst, MachineAdapter& machine, const Keyring* keyring,
                    Storage* storage) {
  Storage& st = storage != nullptr ? *storage : posix_storage();
  verify_backup(set_dir, machine, keyring, &st);
  const Manifest m = parse_manifest(st, set_dir + "/MANIFEST");
  check_empty_target(st, dst);
  for (const auto& e : m.files) copy_file(st, set_dir + "/" + e.name, dst + "/" + e.name, e.size, nullptr);
  st.sync_dir(dst);
}

std::vector<std::string> prune_backups(const std::string& root, const BackupRetention& policy, Storage* storage) {
  Storage& st = storage != nullptr ? *storage : posix_storage();
  struct Set {
    std::string name;
    std::int64_t t;
  };
  std::vector<Set> sets;
  std::vector<std::string> removed;
  for (const std::string& n : st.list(root)) {
    if (n.rfind("backup-", 0) != 0) continue;
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0) {
      remove_tree(st, root + "/" + n);
      removed.push_back(n);
      continue;
    }
    std::tm tm{};
    if (n.size() < 23 || strptime(n.c_str() + 7, "%Y%m%dT%H%M%SZ", &tm) == nullptr) continue;
    sets.push_back({n, static_cast<std::int64_t>(timegm(&tm))});
  }
  std::sort(sets.begin(), sets.end(),
            [](const Set& a, const Set& b) { return a.t > b.t || (a.t == b.t && a.name > b.name); });
  std::set<std::string> keep;
  if (!sets.empty()) keep.insert(sets.front().name);
  auto bucket_keep = [&](std::uint32_t count, auto bucket_of) {
    std::set<std::int64_t> seen;
    for (const Set& s : sets) {
      const std::int64_t b = bucket_of(s.t);
      if (seen.count(b) != 0) continue;
      if (seen.size() >= count) break;
      seen.insert(b);
      keep.insert(s.name);
    }
  };
  auto floor_div = [](std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); };
  bucket_keep(policy.daily, [&](std::int64_t t) { return floor_div(t, 86400); });
  // 1970-01-01 was a Thursday: shifting by 3 days makes weeks start on Monday.
  bucket_keep(policy.weekly, [&](std::int64_t t) { return floor_div(floor_div(t, 86400) + 3, 7); });
  bucket_keep(policy.monthly, [&](std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    return static_cast<std::int64_t>(tm.tm_year) * 12 + tm.tm_mon;
  });
  for (const Set& s : sets) {
    if (keep.count(s.name) != 0) continue;
    remove_tree(st, root + "/" + s.name);
    removed.push_back(s.name);
  }
  if (!removed.empty()) st.sync_dir(root);
  return removed;
}

// ---- tailing ----------------------------------------------------------------------------------------

TailReader::TailReader(std::string dir, std::uint64_t from_seq, const Expect& expect, const Keyring* keyring,
                       const Journal* live, Storage* storage)
    : dir_(std::move(dir)),
      next_(from_seq == 0 ? 1 : from_seq),
      expect_(expect),
      keyring_(keyring),
      live_(live),
      storage_(storage != nullptr ? *storage : posix_storage()) {}

TailReader::~TailReader() = default;

bool TailReader::open_next_segment() {
  const Listing L = list_journal(storage_, dir_);
  if (L.segments.empty()) return false;
  std::size_t k = 0;
  while (k + 1 < L.segments.size() && L.segments[k + 1].first_seq <= next_) ++k;
  if (L.segments[k].first_seq > next_) {
    throw CorruptionError("tail reader: seq " + std::to_string(next_) +
                              " is no longer in the journal (the oldest segment " + L.segments[k].path + " starts at " +
                              std::to_string(L.segments[k].first_seq) + ")",
                          L.segments[k].path, -1, next_);
  }
  std::vector<SegmentInfo> segs(L.segments.begin() + static_cast<std::ptrdiff_t>(k), L.segments.end());
  scanner_ = std::make_unique<Scanner>(storage_, keyring_, segs, expect_);
  expect_.journal_id = scanner_->journal_id();
  have_frame_ = false;
  return true;
}

std::size_t TailReader::read(std::uint8_t* out, std::size_t max_records) {
  const std::size_t size = expect_.record_size;
  std::size_t copied = 0;
  bool refreshed = false;
  while (copied < max_records) {
    if (have_frame_) {
      const std::uint64_t f = scanner_->first_seq();
      while (frame_pos_ < scanner_->count() && copied < max_records) {
        if (f + frame_pos_ >= next_) {
          std::memcpy(out + copied * size, scanner_->record(frame_pos_), size);
          ++copied;
          ++next_;
        }
        ++frame_pos_;
      }
      if (frame_pos_ == scanner_->count()) have_frame_ = false;
      continue;
    }
    if (live_ != nullptr && live_->durable_seq() < next_) break;
    if (!scanner_ && !open_next_segment()) break;
    if (scanner_->next()) {
      have_frame_ = true;
      frame_pos_ = 0;
      continue;
    }
    if (refreshed) break;
    // At the end of what was on disk: look for new segments and new bytes.
    refreshed = true;
    scanner_->extend(list_journal(storage_, dir_).segments);
  }
  return copied;
}

}  // namespace shanraq::journal
