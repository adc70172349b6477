// Errors of the journal (shanraq/journal). Each names what went wrong and
// where: the file, the byte offset and the sequence number involved, so an
// operator can find the damage; the bindings map each class to one Python
// exception (phase 2).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace shanraq::journal {

// Base of everything below.
class JournalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A system call failed (open, write, fsync, rename, ...): `path` and the
// errno. Disk-full and permission errors are subclasses so callers can tell
// them apart without decoding errno.
class IoError : public JournalError {
 public:
  IoError(const std::string& what, std::string path, int err)
      : JournalError(what), path_(std::move(path)), errno_(err) {}
  const std::string& path() const noexcept { return path_; }
  int error_number() const noexcept { return errno_; }

 private:
  std::string path_;
  int errno_;
};

// ENOSPC, EDQUOT or EFBIG: the disk (or the quota, or RLIMIT_FSIZE) is full.
class DiskFullError : public IoError {
 public:
  using IoError::IoError;
};

// EACCES or EPERM.
class PermissionError : public IoError {
 public:
  using IoError::IoError;
};

// fsync/fdatasync failed. The journal stops for good (it cannot know what the
// kernel dropped from its cache: retrying an fsync after EIO may report
// success for data that never reached the disk); reopen to recover from what
// is on disk.
class DurabilityError : public IoError {
 public:
  using IoError::IoError;
};

// The bytes on disk are not what the journal wrote: a checksum, the hash
// chain, a sequence number or a structure does not check. Never repaired
// silently; `path`, `offset` (byte offset in the file, or -1 when the whole
// file is at fault) and `seq` (the sequence number expected there, or 0).
class CorruptionError : public JournalError {
 public:
  CorruptionError(const std::string& what, std::string path, std::int64_t offset, std::uint64_t seq)
      : JournalError(what), path_(std::move(path)), offset_(offset), seq_(seq) {}
  const std::string& path() const noexcept { return path_; }
  std::int64_t offset() const noexcept { return offset_; }
  std::uint64_t seq() const noexcept { return seq_; }

 private:
  std::string path_;
  std::int64_t offset_;
  std::uint64_t seq_;
};

// A file that is not ours, another format version, another machine (tag or
// wire version) or another journal (journal id) than the one opened.
class FormatError : public JournalError {
 public:
  FormatError(const std::string& what, std::string path) : JournalError(what), path_(std::move(path)) {}
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

// Encryption: the key id a file names is not in the keyring (missing key), or
// the key with that id does not open it (wrong key), or no keyring was given
// for an encrypted journal.
class KeyError : public JournalError {
 public:
  KeyError(const std::string& what, std::string path, std::uint32_t key_id)
      : JournalError(what), path_(std::move(path)), key_id_(key_id) {}
  const std::string& path() const noexcept { return path_; }
  std::uint32_t key_id() const noexcept { return key_id_; }

 private:
  std::string path_;
  std::uint32_t key_id_;
};

// Another process (or another Journal in this one) holds the directory.
class LockedError : public JournalError {
 public:
  using JournalError::JournalError;
};

}  // namespace shanraq::journal
