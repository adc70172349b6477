#include "shanraq/journal/storage.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

namespace shanraq::journal {

[[noreturn]] void throw_io(const std::string& what, const std::string& path, int err) {
  const std::string msg = what + " " + path + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT || err == EFBIG) throw DiskFullError(msg, path, err);
  if (err == EACCES || err == EPERM || err == EROFS) throw PermissionError(msg, path, err);
  throw IoError(msg, path, err);
}

namespace {

// Zeros for zero_fill, written 1 MiB at a time.
const std::vector<char>& zeros() {
  static const std::vector<char> z(std::size_t{1} << 20, 0);
  return z;
}

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }
  const std::string& path() const noexcept override { return path_; }

  void write(const iovec* iov, int iovcnt, std::uint64_t offset) override {
    // Resume after short writes without mutating the caller's iovecs.
    std::vector<iovec> rest;
    const iovec* v = iov;
    int cnt = iovcnt;
    while (cnt > 0) {
      const ssize_t w = ::pwritev(fd_, v, cnt, static_cast<off_t>(offset));
      if (w < 0) {
        if (errno == EINTR) continue;
        throw_io("cannot write", path_, errno);
      }
      if (w == 0) throw_io("cannot write", path_, ENOSPC);
      offset += static_cast<std::uint64_t>(w);
      std::size_t done = static_cast<std::size_t>(w);
      if (rest.empty()) rest.assign(v, v + cnt);
      std::size_t i = 0;
      while (i < rest.size() && done >= rest[i].iov_len) done -= rest[i++].iov_len;
      rest.erase(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(i));
      if (!rest.empty()) {
        rest[0].iov_base = static_cast<char*>(rest[0].iov_base) + done;
        rest[0].iov_len -= done;
      }
      v = rest.data();
      cnt = static_cast<int>(rest.size());
    }
  }

  std::size_t read(void* p, std::size_t n, std::uint64_t offset) override {
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = ::pread(fd_, static_cast<char*>(p) + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        throw_io("cannot read", path_, errno);
      }
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    return got;
  }

  void datasync() override {
    if (::fdatasync(fd_) != 0)
      throw DurabilityError("fdatasync failed on " + path_ + ": " + std::strerror(errno), path_, errno);
  }
  void sync() override {
    if (::fsync(fd_) != 0)
      throw DurabilityError("fsync failed on " + path_ + ": " + std::strerror(errno), path_, errno);
  }
  void truncate(std::uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) throw_io("cannot truncate", path_, errno);
  }
  void allocate(std::uint64_t size) override {
    const int rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(size));
    if (rc != 0) throw_io("cannot allocate", path_, rc);
  }
  std::uint64_t size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) throw_io("cannot stat", path_, errno);
    return static_cast<std::uint64_t>(st.st_size);
  }

 private:
  int fd_;
  std::string path_;
};

class PosixStorage final : public Storage {
 public:
  std::unique_ptr<File> open(const std::string& path, OpenMode mode) override {
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::kRead:
        flags |= O_RDONLY;
        break;
      case OpenMode::kReadWrite:
        flags |= O_RDWR;
        break;
      case OpenMode::kCreate:
        flags |= O_RDWR | O_CREAT | O_EXCL;
        break;
    }
    const int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) throw_io("cannot open", path, errno);
    return std::make_unique<PosixFile>(fd, path);
  }
  void rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) throw_io("cannot rename to " + to + ":", from, errno);
  }
  void remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_io("cannot remove", path, errno);
  }
  void remove_dir(const std::string& path) override {
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) throw_io("cannot remove directory", path, errno);
  }
  void sync_dir(const std::string& dir) override {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw_io("cannot open directory", dir, errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) throw DurabilityError("fsync failed on directory " + dir + ": " + std::strerror(err), dir, err);
  }
  void make_dir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw_io("cannot create directory", dir, errno);
    if (!is_dir(dir)) throw IoError("not a directory: " + dir, dir, ENOTDIR);
  }
  bool exists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }
  bool is_dir(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }
  std::vector<std::string> list(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) throw_io("cannot list directory", dir, errno);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }
  std::shared_ptr<void> lock(const std::string& dir) override {
    const std::string path = dir + "/LOCK";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw_io("cannot open lock file", path, errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK)
        throw LockedError("journal directory " + dir + " is in use by another writer (" + path + " is locked)");
      throw_io("cannot lock", path, err);
    }
    return std::shared_ptr<void>(nullptr, [fd](void*) { ::close(fd); });
  }
};

}  // namespace

void File::zero_fill(std::uint64_t size) {
  const auto& z = zeros();
  for (std::uint64_t at = this->size(); at < size;) {
    const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(z.size(), size - at));
    write(z.data(), k, at);
    at += k;
  }
  datasync();
}

Storage& posix_storage() {
  static PosixStorage s;
  return s;
}

// ---- fault injection -----------------------------------------------------------------------

class FaultyFile final : public File {
 public:
  FaultyFile(FaultyStorage& s, std::unique_ptr<File> inner) : s_(s), inner_(std::move(inner)) {}
  const std::string& path() const noexcept override { return inner_->path(); }

  void write(const iovec* iov, int iovcnt, std::uint64_t offset) override {
    std::size_t n = 0;
    for (int i = 0; i < iovcnt; ++i) n += iov[i].iov_len;
    std::size_t keep = n;
    bool crash_after = false;
    bool full = false;
    {
      std::lock_guard<std::mutex> g(s_.mu_);
      s_.check_alive();
      const std::uint64_t k = ++s_.writes_;
      if (k == s_.plan_.misdirected_write) {
        offset = static_cast<std::uint64_t>(static_cast<std::int64_t>(offset) + s_.plan_.misdirect_by);
      }
      if (k == s_.plan_.torn_write) {
        keep = std::min(n, s_.plan_.torn_keep);
        crash_after = true;
      }
      const std::uint64_t end = inner_->size();
      if (offset + keep > end) {
        const std::uint64_t grow = offset + keep - std::max(end, offset);
        const std::uint64_t room = s_.plan_.space_bytes > s_.used_ ? s_.plan_.space_bytes - s_.used_ : 0;
        if (grow > room) {
          keep = static_cast<std::size_t>(keep - (grow - room));
          full = true;
          s_.used_ += room;
        } else {
          s_.used_ += grow;
        }
      }
      if (keep != 0) s_.unsynced_[path()].push_back({offset, keep});
    }
    if (keep != 0) {
      std::vector<iovec> part;
      std::size_t left = keep;
      for (int i = 0; i < iovcnt && left != 0; ++i) {
        const std::size_t k = std::min(left, iov[i].iov_len);
        part.push_back({iov[i].iov_base, k});
        left -= k;
      }
      if (s_.plan_.split_writes == 0) {
        inner_->write(part.data(), static_cast<int>(part.size()), offset);
      } else {
        std::uint64_t at = offset;
        for (const iovec& v : part) {
          for (std::size_t done = 0; done < v.iov_len;) {
            const std::size_t k = std::min(s_.plan_.split_writes, v.iov_len - done);
            inner_->write(static_cast<const char*>(v.iov_base) + done, k, at);
            done += k;
            at += k;
            sched_yield();
          }
        }
      }
    }
    if (crash_after) {
      std::lock_guard<std::mutex> g(s_.mu_);
      s_.crashed_ = true;
      throw SimulatedCrash("simulated crash after a torn write to " + path());
    }
    if (full) throw_io("cannot write", path(), ENOSPC);
  }
  std::size_t read(void* p, std::size_t n, std::uint64_t offset) override {
    {
      std::lock_guard<std::mutex> g(s_.mu_);
      s_.check_alive();
    }
    return inner_->read(p, n, offset);
  }
  void datasync() override { sync_impl(false); }
  void sync() override { sync_impl(true); }
  void truncate(std::uint64_t size) override {
    {
      std::lock_guard<std::mutex> g(s_.mu_);
      s_.check_alive();
    }
    inner_->truncate(size);
  }
  std::uint64_t size() override { return inner_->size(); }
  void allocate(std::uint64_t size) override {
    {
      std::lock_guard<std::mutex> g(s_.mu_);
      s_.check_alive();
      const std::uint64_t end = inner_->size();
      if (size > end) {
        const std::uint64_t room = s_.plan_.space_bytes > s_.used_ ? s_.plan_.space_bytes - s_.used_ : 0;
        if (size - end > room) throw_io("cannot allocate", path(), ENOSPC);
        s_.used_ += size - end;
      }
    }
    inner_->allocate(size);
  }

 private:
  void sync_impl(bool full) {
    {
      std::lock_guard<std::mutex> g(s_.mu_);
      s_.check_alive();
      if (++s_.syncs_ == s_.plan_.failing_sync) {
        throw DurabilityError("fdatasync failed on " + path() + ": Input/output error (injected)", path(), EIO);
      }
    }
    if (full) {
      inner_->sync();
    } else {
      inner_->datasync();
    }
    std::lock_guard<std::mutex> g(s_.mu_);
    s_.unsynced_.erase(path());
  }

  FaultyStorage& s_;
  std::unique_ptr<File> inner_;
};

FaultyStorage::FaultyStorage(FaultPlan plan, Storage& inner) : inner_(inner), plan_(plan) {}

void FaultyStorage::check_alive() const {
  if (crashed_) throw SimulatedCrash("simulated crash: the storage is gone");
}

std::unique_ptr<File> FaultyStorage::open(const std::string& path, OpenMode mode) {
  {
    std::lock_guard<std::mutex> g(mu_);
    check_alive();
  }
  return std::make_unique<FaultyFile>(*this, inner_.open(path, mode));
}
void FaultyStorage::rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> g(mu_);
  check_alive();
  inner_.rename(from, to);
  auto it = unsynced_.find(from);
  if (it != unsynced_.end()) {
    unsynced_[to] = std::move(it->second);
    unsynced_.erase(it);
  }
}
void FaultyStorage::remove(const std::string& path) {
  std::lock_guard<std::mutex> g(mu_);
  check_alive();
  inner_.remove(path);
  unsynced_.erase(path);
}
void FaultyStorage::remove_dir(const std::string& path) {
  std::lock_guard<std::mutex> g(mu_);
  check_alive();
  inner_.remove_dir(path);
}
void FaultyStorage::sync_dir(const std::string& dir) {
  {
    std::lock_guard<std::mutex> g(mu_);
    check_alive();
  }
  inner_.sync_dir(dir);
}
void FaultyStorage::make_dir(const std::string& dir) {
  {
    std::lock_guard<std::mutex> g(mu_);
    check_alive();
  }
  inner_.make_dir(dir);
}
bool FaultyStorage::exists(const std::string& path) { return inner_.exists(path); }
bool FaultyStorage::is_dir(const std::string& path) { return inner_.is_dir(path); }
std::vector<std::string> FaultyStorage::list(const std::string& dir) {
  {
    std::lock_guard<std::mutex> g(mu_);
    check_alive();
  }
  return inner_.list(dir);
}
std::shared_ptr<void> FaultyStorage::lock(const std::string& dir) { return inner_.lock(dir); }

void FaultyStorage::power_cut(std::uint64_t seed) {
  std::lock_guard<std::mutex> g(mu_);
  std::mt19937_64 rng(seed);
  static const char kZero[512] = {};
  for (auto& [path, ranges] : unsynced_) {
    if (!inner_.exists(path)) continue;
    auto f = inner_.open(path, OpenMode::kReadWrite);
    const std::uint64_t size = f->size();
    for (const Range& r : ranges) {
      for (std::uint64_t s = r.offset & ~std::uint64_t{511}; s < r.offset + r.size; s += 512) {
        if (rng() % 2 == 0 || s >= size) continue;
        f->write(kZero, static_cast<std::size_t>(std::min<std::uint64_t>(512, size - s)), s);
      }
    }
  }
  unsynced_.clear();
  crashed_ = true;
}
bool FaultyStorage::crashed() const {
  std::lock_guard<std::mutex> g(mu_);
  return crashed_;
}
std::uint64_t FaultyStorage::writes() const {
  std::lock_guard<std::mutex> g(mu_);
  return writes_;
}
std::uint64_t FaultyStorage::syncs() const {
  std::lock_guard<std::mutex> g(mu_);
  return syncs_;
}

}  // namespace shanraq::journal
