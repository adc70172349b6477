#include "shanraq/journal/reader.hpp"

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

namespace shanraq::journal {

namespace {

std::string tag_name(std::uint32_t tag) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    const char c = static_cast<char>((tag >> (8 * i)) & 0xFF);
    s.push_back(c >= 32 && c < 127 ? c : '?');
  }
  return s;
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

void check_machine(const std::string& path, const char* what, std::uint32_t tag, std::uint32_t wire, const Expect& ex) {
  if (tag != ex.machine_tag || wire != ex.wire_version) {
    throw FormatError(std::string(what) + " " + path + " belongs to machine '" + tag_name(tag) + "' wire version " +
                          std::to_string(wire) + ", not '" + tag_name(ex.machine_tag) + "' wire version " +
                          std::to_string(ex.wire_version),
                      path);
  }
}

}  // namespace

Listing list_journal(Storage& storage, const std::string& dir) {
  if (!storage.exists(dir)) throw IoError("journal directory " + dir + " does not exist", dir, ENOENT);
  if (!storage.is_dir(dir)) throw IoError("journal path " + dir + " is not a directory", dir, ENOTDIR);
  Listing L;
  for (const std::string& n : storage.list(dir)) {
    std::uint64_t s = 0;
    if (parse_segment_name(n, &s)) {
      L.segments.push_back({dir + "/" + n, s});
    } else if (parse_snapshot_name(n, &s)) {
      L.snapshots.push_back({dir + "/" + n, s});
    } else if (n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0) {
      L.temporary.push_back(n);
    } else if (n != "LOCK") {
      L.other.push_back(n);
    }
  }
  std::sort(L.segments.begin(), L.segments.end(), [](auto& a, auto& b) { return a.first_seq < b.first_seq; });
  std::sort(L.snapshots.begin(), L.snapshots.end(), [](auto& a, auto& b) { return a.seq < b.seq; });
  return L;
}

SnapshotFile read_snapshot(Storage& storage, const std::string& path, const Keyring* keyring, const Expect& ex) {
  auto f = storage.open(path, OpenMode::kRead);
  const std::uint64_t size = f->size();
  SnapshotFile out;
  SnapshotHeader& h = out.header;
  if (size < sizeof h || f->read(&h, sizeof h, 0) != sizeof h) {
    throw CorruptionError("snapshot " + path + " is shorter than its header (" + std::to_string(size) + " bytes)", path,
                          0, 0);
  }
  if (std::memcmp(h.magic, kSnapshotMagic, 7) != 0) throw FormatError("not a journal snapshot: " + path, path);
  if (h.version != kFormatVersion || static_cast<std::uint8_t>(h.magic[7]) != 1) {
    throw FormatError("snapshot " + path + " has format version " + std::to_string(h.version) + "; this build reads " +
                          std::to_string(kFormatVersion),
                      path);
  }
  if (h.header_crc != snapshot_header_crc(h)) {
    throw CorruptionError("snapshot " + path + ": header checksum mismatch", path, 0, 0);
  }
  check_machine(path, "snapshot", h.machine_tag, h.wire_version, ex);
  std::uint64_t named = 0;
  const std::string base = path.substr(path.find_last_of('/') + 1);
  if (!parse_snapshot_name(base, &named) || named != h.seq) {
    throw CorruptionError("snapshot " + path + " holds seq " + std::to_string(h.seq) + ", not the seq its name says",
                          path, 0, h.seq);
  }
  if (ex.journal_id != 0 && h.journal_id != ex.journal_id) {
    throw FormatError("snapshot " + path + " belongs to another journal", path);
  }
  if (h.body_bytes != size - sizeof h) {
    throw CorruptionError("snapshot " + path + ": " + std::to_string(size - sizeof h) +
                              " body bytes where the header says " + std::to_string(h.body_bytes),
                          path, static_cast<std::int64_t>(sizeof h), h.seq);
  }
  out.body.resize(h.body_bytes);
  if (f->read(out.body.data(), out.body.size(), sizeof h) != out.body.size()) {
    throw CorruptionError("snapshot " + path + ": short read", path, static_cast<std::int64_t>(sizeof h), h.seq);
  }
  if ((h.flags & kFlagEncrypted) != 0) {
    if (keyring == nullptr) {
      throw KeyError("snapshot " + path + " is encrypted under key id " + std::to_string(h.key_id) +
                         " and no keyring was given",
                     path, h.key_id);
    }
    const auto* key = keyring->find(h.key_id);
    if (key == nullptr) {
      throw KeyError("snapshot " + path + " is encrypted under key id " + std::to_string(h.key_id) +
                         ", which is not in the keyring",
                     path, h.key_id);
    }
    SnapshotHeader aad = h;
    aad.header_crc = 0;
    Gcm gcm;
    auto* b = reinterpret_cast<std::uint8_t*>(out.body.data());
    if (!gcm.decrypt(key->data(), h.nonce, &aad, offsetof(SnapshotHeader, tag), b, b, out.body.size(), h.tag)) {
      throw KeyError("snapshot " + path + " does not open under key id " + std::to_string(h.key_id) +
                         ": wrong key, or the file was altered",
                     path, h.key_id);
    }
  }
  const Digest d = Sha256::of(out.body.data(), out.body.size());
  if (std::memcmp(d.data(), h.body_sha256, 32) != 0) {
    throw CorruptionError("snapshot " + path + ": body checksum (SHA-256) mismatch", path,
                          static_cast<std::int64_t>(sizeof h), h.seq);
  }
  return out;
}

// ---- the scanner ---------------------------------------------------------------------------

struct Scanner::Impl {
  Storage& st;
  const Keyring* keyring;
  std::vector<SegmentInfo> segs;
  Expect ex;
  std::size_t idx = 0;
  bool open = false;
  std::unique_ptr<File> f;
  std::uint64_t fsize = 0;
  SegmentHeader sh{};
  const std::array<std::uint8_t, kKeyBytes>* key = nullptr;
  std::uint64_t off = 0;
  Digest chain{};
  Digest origin{};
  std::uint64_t origin_seq = 0;
  std::uint64_t expected = 0;
  bool started = false;
  std::uint64_t frames = 0;
  bool torn = false;
  TornTail tail;
  // Window over the current file.
  std::vector<std::uint8_t> buf;
  std::uint64_t base = 0;
  std::size_t len = 0;
  // Current frame.
  FrameHeader fh{};
  std::uint8_t* body = nullptr;
  std::size_t stride = 0;
  Gcm gcm;
  Sha256 sha;

  static constexpr std::size_t kChunk = std::size_t{8} << 20;

  Impl(Storage& s, const Keyring* k, std::vector<SegmentInfo> v, const Expect& e)
      : st(s), keyring(k), segs(std::move(v)), ex(e), stride(record_stride(e.record_size)) {}

  // [off, off + n) of the current file in memory; false if the file ends first.
  std::uint8_t* get(std::uint64_t at, std::size_t n) {
    if (at + n > fsize) return nullptr;
    if (at >= base && at + n <= base + len) return buf.data() + (at - base);
    const std::size_t want = std::max(n, kChunk);
    if (buf.size() < want) buf.resize(want);
    len = f->read(buf.data(), static_cast<std::size_t>(std::min<std::uint64_t>(want, fsize - at)), at);
    base = at;
    if (len < n) return nullptr;
    return buf.data();
  }
  void invalidate() { len = 0; }

  [[noreturn]] void corrupt(const std::string& why, std::uint64_t at, std::uint64_t seq) {
    throw CorruptionError("journal segment " + segs[idx].path + " at offset " + std::to_string(at) + " (seq " +
                              std::to_string(seq) + "): " + why,
                          segs[idx].path, static_cast<std::int64_t>(at), seq);
  }

  void open_segment() {
    const SegmentInfo& si = segs[idx];
    f = st.open(si.path, OpenMode::kRead);
    fsize = f->size();
    invalidate();
    if (fsize < sizeof sh || f->read(&sh, sizeof sh, 0) != sizeof sh) {
      if (fsize >= 8) {
        char m[8];
        if (f->read(m, 8, 0) == 8 && std::memcmp(m, kSegmentMagic, 7) != 0) {
          throw FormatError("not a journal segment: " + si.path, si.path);
        }
      }
      throw CorruptionError("journal segment " + si.path + " is shorter than its header", si.path, 0, si.first_seq);
    }
    if (std::memcmp(sh.magic, kSegmentMagic, 7) != 0) throw FormatError("not a journal segment: " + si.path, si.path);
    if (sh.version != kFormatVersion || static_cast<std::uint8_t>(sh.magic[7]) != 1) {
      throw FormatError("journal segment " + si.path + " has format version " + std::to_string(sh.version) +
                            "; this build reads " + std::to_string(kFormatVersion),
                        si.path);
    }
    if (sh.header_crc != segment_header_crc(sh)) {
      throw CorruptionError("journal segment " + si.path + ": header checksum mismatch", si.path, 0, si.first_seq);
    }
    check_machine(si.path, "journal segment", sh.machine_tag, sh.wire_version, ex);
    if (sh.record_size != ex.record_size) {
      throw FormatError("journal segment " + si.path + " holds " + std::to_string(sh.record_size) +
                            "-byte records, not " + std::to_string(ex.record_size),
                        si.path);
    }
    if (sh.first_seq != si.first_seq) {
      throw CorruptionError("journal segment " + si.path + " starts at seq " + std::to_string(sh.first_seq) +
                                ", not the seq its name says",
                            si.path, 0, si.first_seq);
    }
    if (ex.journal_id == 0) {
      ex.journal_id = sh.journal_id;
    } else if (sh.journal_id != ex.journal_id) {
      throw CorruptionError("journal segment " + si.path + " belongs to another journal", si.path, 0, si.first_seq);
    }
    Digest prev;
    std::memcpy(prev.data(), sh.prev_chain, 32);
    if (!started) {
      started = true;
      origin = prev;
      origin_seq = sh.first_seq;
      chain = prev;
      expected = sh.first_seq;
    } else {
      if (sh.first_seq != expected) {
        throw CorruptionError("journal segment " + si.path + " starts at seq " + std::to_string(sh.first_seq) +
                                  " but the previous segment ends at seq " + std::to_string(expected - 1) +
                                  (sh.first_seq > expected ? " (records are missing)" : " (records overlap)"),
                              si.path, 0, expected);
      }
      if (prev != chain) {
        throw CorruptionError("journal segment " + si.path +
                                  " does not continue the hash chain of the segment before it",
                              si.path, 0, expected);
      }
    }
    key = nullptr;
    if ((sh.flags & kFlagEncrypted) != 0) {
      if (keyring == nullptr) {
        throw KeyError("journal segment " + si.path + " is encrypted under key id " + std::to_string(sh.key_id) +
                           " and no keyring was given",
                       si.path, sh.key_id);
      }
      key = keyring->find(sh.key_id);
      if (key == nullptr) {
        throw KeyError("journal segment " + si.path + " is encrypted under key id " + std::to_string(sh.key_id) +
                           ", which is not in the keyring",
                       si.path, sh.key_id);
      }
      SegmentHeader aad = sh;
      aad.header_crc = 0;
      std::uint8_t nonce[kNonceBytes];
      std::memcpy(nonce, sh.nonce_salt, 8);
      std::memset(nonce + 8, 0xFF, 4);
      if (!gcm.decrypt(key->data(), nonce, &aad, offsetof(SegmentHeader, key_check), nullptr, nullptr, 0,
                       sh.key_check)) {
        throw KeyError("journal segment " + si.path + " does not open under key id " + std::to_string(sh.key_id) +
                           ": wrong key",
                       si.path, sh.key_id);
      }
    }
    off = sizeof sh;
    open = true;
  }

  enum class Read { kOk, kEnd, kDamage };
  struct Damage {
    std::string why;
    bool definite = false;
    std::uint64_t at = 0;
    std::uint64_t seq = 0;  // of the damaged record (0: the frame's first)
  };

  Read read_frame(Damage& dmg) {
    const std::uint64_t avail = fsize - off;
    if (avail == 0) return Read::kEnd;
    if (avail < sizeof(FrameHeader)) {
      const std::uint8_t* p = get(off, static_cast<std::size_t>(avail));
      if (p != nullptr && all_zero(p, static_cast<std::size_t>(avail))) return Read::kEnd;
      dmg = {"a frame header cut short by the end of the file", false, off};
      return Read::kDamage;
    }
    std::uint8_t* p = get(off, sizeof(FrameHeader));
    if (p == nullptr) {
      dmg = {"short read", false, off};
      return Read::kDamage;
    }
    if (all_zero(p, sizeof(FrameHeader))) return Read::kEnd;
    std::memcpy(&fh, p, sizeof fh);
    if (fh.magic != kFrameMagic || fh.header_crc != frame_header_crc(fh)) {
      dmg = {"frame header checksum mismatch", false, off};
      return Read::kDamage;
    }
    if (fh.first_seq != expected) {
      dmg = {"a frame of seq " + std::to_string(fh.first_seq) + " where seq " + std::to_string(expected) +
                 " belongs (records deleted, duplicated, reordered or misdirected)",
             true, off};
      return Read::kDamage;
    }
    if (fh.count == 0 || fh.body_bytes != std::uint64_t{fh.count} * stride ||
        fh.body_bytes > sh.max_write + (sh.max_write == 0 ? fsize : 0)) {
      dmg = {"a frame header whose sizes are impossible (" + std::to_string(fh.count) + " records, " +
                 std::to_string(fh.body_bytes) + " bytes)",
             true, off};
      return Read::kDamage;
    }
    const std::size_t total = sizeof(FrameHeader) + fh.body_bytes;
    if (off + total > fsize) {
      dmg = {"a frame cut short by the end of the file", false, off};
      return Read::kDamage;
    }
    p = get(off, total);
    if (p == nullptr) {
      dmg = {"short read", false, off};
      return Read::kDamage;
    }
    body = p + sizeof(FrameHeader);
    const auto* hb = reinterpret_cast<const std::uint8_t*>(&fh);
    if (key != nullptr) {
      std::uint8_t nonce[kNonceBytes];
      std::memcpy(nonce, sh.nonce_salt, 8);
      std::memcpy(nonce + 8, &fh.frame_index, 4);
      if (!gcm.decrypt(key->data(), nonce, hb + 8, 32, body, body, fh.body_bytes, fh.tag)) {
        invalidate();  // the buffer now holds garbage
        dmg = {"the frame does not authenticate (AES-256-GCM tag mismatch: altered bytes)", false, off};
        return Read::kDamage;
      }
      // The window holds plaintext now; it is never read twice.
    }
    for (std::uint32_t i = 0; i < fh.count; ++i) {
      const std::uint8_t* r = body + std::size_t{i} * stride;
      RecordHeader rh;
      std::memcpy(&rh, r, sizeof rh);
      const std::uint64_t at = off + sizeof(FrameHeader) + std::size_t{i} * stride;
      const std::uint64_t want = fh.first_seq + i;
      if (rh.length != ex.record_size) {
        dmg = {"record of seq " + std::to_string(want) + " has length " + std::to_string(rh.length),
               rh.crc == crc32c(r + 4, sizeof rh - 4 + ex.record_size), at, want};
        if (key != nullptr) invalidate();
        return Read::kDamage;
      }
      if (rh.crc != crc32c(r + 4, sizeof rh - 4 + rh.length)) {
        dmg = {"record checksum (CRC32C) mismatch for seq " + std::to_string(want), false, at, want};
        if (key != nullptr) invalidate();
        return Read::kDamage;
      }
      std::uint64_t ps;
      std::int64_t pt;
      std::memcpy(&ps, r + sizeof rh, 8);
      std::memcpy(&pt, r + sizeof rh + 8, 8);
      if (rh.seq != want || ps != want || pt != rh.time_ns) {
        dmg = {"record " + std::to_string(i) + " of the frame names seq " + std::to_string(rh.seq) + " where " +
                   std::to_string(want) + " belongs",
               true, at, want};
        if (key != nullptr) invalidate();
        return Read::kDamage;
      }
    }
    sha.reset();
    sha.update(chain.data(), chain.size());
    sha.update(hb + 8, 32);
    sha.update(body, fh.body_bytes);
    const Digest c = sha.finish();
    if (std::memcmp(c.data(), fh.chain, 32) != 0) {
      if (key != nullptr) invalidate();
      dmg = {"hash chain mismatch (a record was edited, or the frame before it)", false, off};
      return Read::kDamage;
    }
    chain = c;
    expected = fh.first_seq + fh.count;
    off += total;
    ++frames;
    return Read::kOk;
  }

  // The torn-tail rule (docs/durability.md). Returns false for a clean end
  // (nothing but zeros after `at`), true for a torn tail; throws otherwise.
  bool classify(const Damage& d, bool header_zero) {
    const std::uint64_t at = header_zero ? off : d.at;
    const std::uint64_t dseq = !header_zero && d.seq != 0 ? d.seq : expected;
    if (!header_zero && d.definite) corrupt(d.why, d.at, dseq);
    std::uint64_t last_nonzero = 0;
    bool any = false;
    std::vector<std::uint8_t> chunk(std::size_t{1} << 20);
    for (std::uint64_t pos = off; pos < fsize;) {
      const std::size_t n =
          f->read(chunk.data(), static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), fsize - pos)), pos);
      if (n == 0) break;
      for (std::size_t i = 0; i < n; i += 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, chunk.data() + i, std::min<std::size_t>(8, n - i));
        if (w == 0) continue;
        any = true;
        last_nonzero = pos + i + 7;
        std::uint32_t magic;
        std::memcpy(&magic, chunk.data() + i, 4);
        if (magic == kFrameMagic && pos + i != off) {
          FrameHeader h;
          if (f->read(&h, sizeof h, pos + i) == sizeof h && h.header_crc == frame_header_crc(h)) {
            if (h.first_seq == expected) {
              corrupt("a whole frame for seq " + std::to_string(expected) + " lies at offset " +
                          std::to_string(pos + i) + " instead (a misdirected write)",
                      at, dseq);
            }
            if (h.synced_through >= expected) {
              corrupt(std::string(header_zero ? "zeros where a frame belongs" : d.why) + "; the frame at offset " +
                          std::to_string(pos + i) + " was written after seq " + std::to_string(expected) +
                          " was on disk, so this is damage, not a torn write",
                      at, dseq);
            }
          }
        }
      }
      pos += n;
    }
    if (!any) return false;
    last_nonzero = std::min(last_nonzero, fsize - 1);
    if (sh.max_write != 0 && last_nonzero >= at + sh.max_write) {
      corrupt(std::string(header_zero ? "zeros where a frame belongs" : d.why) + "; non-zero bytes reach offset " +
                  std::to_string(last_nonzero) + ", beyond the " + std::to_string(sh.max_write) +
                  "-byte window one write can leave torn",
              at, dseq);
    }
    torn = true;
    tail.file = segs[idx].path;
    tail.offset = at;
    tail.seq = expected;
    tail.bytes = last_nonzero + 1 - at;
    tail.why = header_zero ? "zeros where a frame header belongs, non-zero bytes after them" : d.why;
    return true;
  }

  bool next() {
    for (;;) {
      if (torn) return false;
      if (!open) {
        if (idx >= segs.size()) return false;
        open_segment();
      }
      Damage d;
      const Read r = read_frame(d);
      if (r == Read::kOk) return true;
      const bool last = idx + 1 == segs.size();
      if (!last) {
        if (r == Read::kEnd && off == fsize) {
          ++idx;
          open = false;
          f.reset();
          continue;
        }
        corrupt(r == Read::kEnd ? std::to_string(fsize - off) + " bytes after the last frame of a sealed segment"
                                : d.why + " in a sealed segment (not the newest: its writes were all synced)",
                r == Read::kEnd ? off : d.at, r == Read::kEnd || d.seq == 0 ? expected : d.seq);
      }
      if (r == Read::kEnd && off == fsize) return false;
      classify(d, r == Read::kEnd);
      return false;
    }
  }

  void extend(const std::vector<SegmentInfo>& all) {
    for (const SegmentInfo& s : all) {
      if (s.first_seq > segs.back().first_seq) segs.push_back(s);
    }
    torn = false;
    if (open) {
      fsize = f->size();
      invalidate();
    }
  }
};

Scanner::Scanner(Storage& storage, const Keyring* keyring, std::vector<SegmentInfo> segments, const Expect& expect)
    : impl_(std::make_unique<Impl>(storage, keyring, std::move(segments), expect)) {
  if (impl_->segs.empty()) throw std::invalid_argument("Scanner: no segment");
  // Every segment's header against its name first, so a segment copied or
  // renamed into the wrong place is named as such, wherever it sits.
  for (const SegmentInfo& si : impl_->segs) {
    auto f = storage.open(si.path, OpenMode::kRead);
    SegmentHeader h;
    if (f->read(&h, sizeof h, 0) != sizeof h) continue;  // reported when reached
    if (std::memcmp(h.magic, kSegmentMagic, 7) != 0) throw FormatError("not a journal segment: " + si.path, si.path);
    if (h.header_crc == segment_header_crc(h) && h.first_seq != si.first_seq) {
      throw CorruptionError("journal segment " + si.path + " starts at seq " + std::to_string(h.first_seq) +
                                ", not the seq its name says (a segment copied or renamed)",
                            si.path, 0, si.first_seq);
    }
  }
  impl_->open_segment();
}
Scanner::~Scanner() = default;
bool Scanner::next() { return impl_->next(); }
std::uint64_t Scanner::first_seq() const noexcept { return impl_->fh.first_seq; }
std::uint32_t Scanner::count() const noexcept { return impl_->fh.count; }
const std::uint8_t* Scanner::record(std::uint32_t i) const noexcept {
  return impl_->body + std::size_t{i} * impl_->stride + sizeof(RecordHeader);
}
const Digest& Scanner::chain() const noexcept { return impl_->chain; }
std::uint64_t Scanner::last_seq() const noexcept { return impl_->expected - 1; }
const Digest& Scanner::origin_chain() const noexcept { return impl_->origin; }
std::uint64_t Scanner::origin_seq() const noexcept { return impl_->origin_seq; }
std::uint64_t Scanner::journal_id() const noexcept { return impl_->ex.journal_id; }
bool Scanner::torn() const noexcept { return impl_->torn; }
const TornTail& Scanner::torn_tail() const noexcept { return impl_->tail; }
const std::string& Scanner::segment_path() const noexcept {
  return impl_->segs[std::min(impl_->idx, impl_->segs.size() - 1)].path;
}
std::uint64_t Scanner::segment_end() const noexcept { return impl_->off; }
std::size_t Scanner::segment_index() const noexcept { return impl_->idx; }
std::uint64_t Scanner::frames() const noexcept { return impl_->frames; }
const SegmentHeader& Scanner::segment_header() const noexcept { return impl_->sh; }
void Scanner::extend(const std::vector<SegmentInfo>& all) { impl_->extend(all); }

}  // namespace shanraq::journal
