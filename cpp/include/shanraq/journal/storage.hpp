// The journal's only way to the file system: a small interface with a POSIX
// implementation and a fault-injecting wrapper the tests use (torn writes,
// misdirected writes, fsync failing with EIO, a full disk, and a power cut
// that loses what was written but not yet synced). Every failure throws an
// IoError subclass naming the path and errno.
//
// Threads: a Storage may be used from several threads at once (the journal's
// writer and segment preparer run beside its owner); one File from one
// thread at a time.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shanraq/journal/errors.hpp"

namespace shanraq::journal {

class File {
 public:
  virtual ~File() = default;
  virtual const std::string& path() const noexcept = 0;
  // Writes every byte of the buffers at `offset` (short writes are resumed).
  virtual void write(const iovec* iov, int iovcnt, std::uint64_t offset) = 0;
  void write(const void* p, std::size_t n, std::uint64_t offset) {
    iovec v{const_cast<void*>(p), n};
    write(&v, 1, offset);
  }
  // Reads up to n bytes at `offset`; fewer only at the end of the file.
  virtual std::size_t read(void* p, std::size_t n, std::uint64_t offset) = 0;
  // fdatasync / fsync: DurabilityError on failure.
  virtual void datasync() = 0;
  virtual void sync() = 0;
  virtual void truncate(std::uint64_t size) = 0;
  virtual std::uint64_t size() = 0;
  // Extends the file to `size` bytes with zeros that are really written (so
  // later writes over them need no metadata update at fdatasync: measured
  // to cut fdatasync latency several times over fallocate's unwritten
  // extents on ext4, docs/durability.md), then syncs.
  virtual void zero_fill(std::uint64_t size);
  // fallocate(): reserves `size` bytes as unwritten extents (no sync).
  virtual void allocate(std::uint64_t size) = 0;
};

enum class OpenMode : std::uint8_t {
  kRead,       // existing file, read only
  kReadWrite,  // existing file
  kCreate,     // new file (O_EXCL): an existing one is an error
};

class Storage {
 public:
  virtual ~Storage() = default;
  virtual std::unique_ptr<File> open(const std::string& path, OpenMode mode) = 0;
  virtual void rename(const std::string& from, const std::string& to) = 0;
  virtual void remove(const std::string& path) = 0;
  // Removes an empty directory.
  virtual void remove_dir(const std::string& path) = 0;
  // fsync of a directory, so names created, renamed or removed in it last.
  virtual void sync_dir(const std::string& dir) = 0;
  // Creates the directory (its parent must exist); an existing one is fine.
  virtual void make_dir(const std::string& dir) = 0;
  virtual bool exists(const std::string& path) = 0;
  virtual bool is_dir(const std::string& path) = 0;
  // Names of the entries of `dir` (no "." or ".."), sorted.
  virtual std::vector<std::string> list(const std::string& dir) = 0;
  // Exclusive lock on `dir` held until the returned object is destroyed;
  // LockedError if someone else holds it.
  virtual std::shared_ptr<void> lock(const std::string& dir) = 0;
};

// The real file system. The same object can be shared.
Storage& posix_storage();

// Throws the IoError subclass that fits `err` (ENOSPC/EDQUOT/EFBIG: disk
// full; EACCES/EPERM: permission).
[[noreturn]] void throw_io(const std::string& what, const std::string& path, int err);

// Thrown by FaultyStorage once it has "crashed": every call after a torn
// write fails, as a dead process's would never happen.
class SimulatedCrash : public JournalError {
 public:
  using JournalError::JournalError;
};

struct FaultPlan {
  // Counted over every write of every file, from 1; 0 means never.
  std::uint64_t torn_write = 0;   // this write keeps only its first torn_keep bytes, then the storage crashes
  std::size_t torn_keep = 0;
  std::uint64_t misdirected_write = 0;  // this write lands misdirect_by bytes away from where it was aimed
  std::int64_t misdirect_by = 0;
  std::uint64_t failing_sync = 0;  // this datasync/sync (counted from 1, files only) fails with EIO
  // Bytes the "disk" holds for writes beyond the end of a file (the rest fail
  // with ENOSPC after a short write), zero_fill included.
  std::uint64_t space_bytes = UINT64_MAX;
  // Non-zero: every write is issued as pieces of this many bytes, with a
  // yield between them, so a process killed mid-write really leaves a torn
  // write behind (one pwritev of a few KiB is never cut by SIGKILL).
  std::size_t split_writes = 0;
};

// Wraps another storage (the POSIX one by default) and injects FaultPlan's
// faults. It also remembers, per path, the ranges written since that file's
// last sync, so power_cut() can model a machine losing power: each 512-byte
// sector of those ranges is kept or turned back to zeros at random.
class FaultyStorage : public Storage {
 public:
  explicit FaultyStorage(FaultPlan plan, Storage& inner = posix_storage());
  std::unique_ptr<File> open(const std::string& path, OpenMode mode) override;
  void rename(const std::string& from, const std::string& to) override;
  void remove(const std::string& path) override;
  void remove_dir(const std::string& path) override;
  void sync_dir(const std::string& dir) override;
  void make_dir(const std::string& dir) override;
  bool exists(const std::string& path) override;
  bool is_dir(const std::string& path) override;
  std::vector<std::string> list(const std::string& dir) override;
  std::shared_ptr<void> lock(const std::string& dir) override;

  // Zeroes a random subset (from `seed`) of the unsynced sectors of every
  // file, then crashes the storage. Call with no journal running on it.
  void power_cut(std::uint64_t seed);
  bool crashed() const;
  std::uint64_t writes() const;
  std::uint64_t syncs() const;

 private:
  friend class FaultyFile;
  struct Range {
    std::uint64_t offset, size;
  };
  void check_alive() const;
  Storage& inner_;
  FaultPlan plan_;
  mutable std::mutex mu_;
  bool crashed_ = false;
  std::uint64_t writes_ = 0;
  std::uint64_t syncs_ = 0;
  std::uint64_t used_ = 0;
  std::map<std::string, std::vector<Range>> unsynced_;
};

}  // namespace shanraq::journal
