// The memory of a ring: a heap block, or a named POSIX shared-memory segment
// created, attached, unlinked and cleaned up here.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

#include "detail/layout.hpp"
#include "detail/os.hpp"
#include "shanraq/queue/ring.hpp"

namespace shanraq::queue {

namespace {

using detail::errno_text;

std::string normalise_name(const std::string& name) {
  std::string nm = (!name.empty() && name[0] == '/') ? name : "/" + name;
  if (nm.size() < 2 || nm.size() > 255 || nm.find('/', 1) != std::string::npos) {
    throw std::invalid_argument("shared-memory name must be 1..254 characters without '/' (got '" + name + "')");
  }
  return nm;
}

struct Mapping {
  void* base = nullptr;
  std::size_t size = 0;
  bool exists = false;
};

// Maps an existing segment read-write; size 0 if it does not exist.
Mapping map_existing(const std::string& nm) {
  const int fd = ::shm_open(nm.c_str(), O_RDWR, 0);
  if (fd < 0) {
    if (errno == ENOENT) return {nullptr, 0, false};
    throw SystemError(errno_text("shm_open", nm));
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    const std::string msg = errno_text("fstat", nm);
    ::close(fd);
    throw SystemError(msg);
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return {nullptr, 0, true};
  }
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (base == MAP_FAILED) throw SystemError(errno_text("mmap", nm));
  return {base, size, true};
}

// The owner recorded in a segment, 0 if none can be read.
detail::ProcessTag segment_owner(const std::string& nm, bool* exists) {
  Mapping m = map_existing(nm);
  *exists = m.exists;
  detail::ProcessTag owner = 0;
  if (m.base != nullptr && m.size >= sizeof(detail::Header)) {
    const auto* h = static_cast<const detail::Header*>(m.base);
    if (h->magic.load(std::memory_order_acquire) == detail::kMagic && h->version == detail::kLayoutVersion) {
      owner = h->owner;
    }
  }
  if (m.base != nullptr) ::munmap(m.base, m.size);
  return owner;
}

}  // namespace

namespace detail {

Region& Region::operator=(Region&& o) noexcept {
  if (this != &o) {
    release();
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
    name_ = std::move(o.name_);
    shared_ = std::exchange(o.shared_, false);
    owner_ = std::exchange(o.owner_, false);
  }
  return *this;
}

void Region::release() noexcept {
  if (base_ == nullptr) return;
  if (shared_) {
    // Unlink only from the creating process: a forked child inherits the
    // handle but not the ownership.
    const bool unlink = owner_ && pid_of(static_cast<Header*>(base_)->owner) == static_cast<std::int32_t>(::getpid());
    ::munmap(base_, size_);
    if (unlink) ::shm_unlink(name_.c_str());
  } else {
    ::operator delete(base_, std::align_val_t{kCacheLine});
  }
  base_ = nullptr;
}

Region Region::heap(std::size_t bytes) {
  Region r;
  r.base_ = ::operator new(bytes, std::align_val_t{kCacheLine});
  std::memset(r.base_, 0, bytes);
  r.size_ = bytes;
  return r;
}

Region Region::create_shared(const std::string& name, std::size_t bytes, bool replace_stale) {
  const std::string nm = normalise_name(name);
  int fd = ::shm_open(nm.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0 && errno == EEXIST && replace_stale && cleanup_stale(nm)) {
    fd = ::shm_open(nm.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  }
  if (fd < 0) {
    if (errno == EEXIST) {
      throw AlreadyExists("shared-memory segment '" + nm +
                          "' exists and its owner is alive (or unknown); attach to it, or unlink it");
    }
    throw SystemError(errno_text("shm_open", nm));
  }
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const std::string msg = errno_text("ftruncate", nm);
    ::close(fd);
    ::shm_unlink(nm.c_str());
    throw SystemError(msg);
  }
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (base == MAP_FAILED) {
    const std::string msg = errno_text("mmap", nm);
    ::shm_unlink(nm.c_str());
    throw SystemError(msg);
  }
  Region r;
  r.base_ = base;  // ftruncate zero-filled it
  r.size_ = bytes;
  r.name_ = nm;
  r.shared_ = true;
  r.owner_ = true;
  return r;
}

Region Region::attach_shared(const std::string& name) {
  const std::string nm = normalise_name(name);
  Mapping m = map_existing(nm);
  if (m.base == nullptr) {
    if (!m.exists) throw QueueError("no shared-memory ring named '" + nm + "'");
    throw LayoutMismatch("shared-memory segment '" + nm + "' is empty: not a ring");
  }
  Region r;
  r.base_ = m.base;
  r.size_ = m.size;
  r.name_ = nm;
  r.shared_ = true;
  r.owner_ = false;
  return r;
}

}  // namespace detail

bool unlink_segment(const std::string& name) {
  const std::string nm = normalise_name(name);
  if (::shm_unlink(nm.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  throw SystemError(errno_text("shm_unlink", nm));
}

bool segment_owner_alive(const std::string& name) {
  bool exists = false;
  const detail::ProcessTag owner = segment_owner(normalise_name(name), &exists);
  return exists && owner != 0 && detail::process_alive(owner);
}

bool cleanup_stale(const std::string& name) {
  const std::string nm = normalise_name(name);
  bool exists = false;
  const detail::ProcessTag owner = segment_owner(nm, &exists);
  if (!exists || owner == 0 || detail::process_alive(owner)) return false;
  return ::shm_unlink(nm.c_str()) == 0;
}

}  // namespace shanraq::queue
