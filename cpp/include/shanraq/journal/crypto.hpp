// The journal's checksums and cryptography, all from well-kept libraries:
// CRC32C from Intel ISA-L (crc32_iscsi: SSE4.2/PCLMUL on x86-64, the CRC32
// and PMULL instructions on aarch64), SHA-256 and AES-256-GCM from OpenSSL's
// libcrypto (EVP interface). Nothing here is hand-written cryptography: these
// are thin RAII wrappers that keep OpenSSL's headers out of ours.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>

struct evp_md_ctx_st;
struct evp_cipher_ctx_st;

namespace shanraq::journal {

// CRC32C (Castagnoli, the iSCSI polynomial) of [p, p + n), continuing from
// `crc` (0 to start): the standard value, e.g. crc32c("123456789") ==
// 0xE3069283. Any thread.
std::uint32_t crc32c(const void* p, std::size_t n, std::uint32_t crc = 0) noexcept;

using Digest = std::array<std::uint8_t, 32>;

// Incremental SHA-256. Not thread-safe; one per thread. std::bad_alloc or
// std::runtime_error if OpenSSL cannot set up a context.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void reset();
  void update(const void* p, std::size_t n);
  Digest finish();  // the digest; reset() before reuse
  static Digest of(const void* p, std::size_t n);

 private:
  evp_md_ctx_st* ctx_;
};

inline constexpr std::size_t kKeyBytes = 32;
inline constexpr std::size_t kNonceBytes = 12;
inline constexpr std::size_t kTagBytes = 16;

// Caller-supplied AES-256 keys by id. Id 0 is reserved for "not encrypted".
// The journal encrypts new segments and snapshots under the current key and
// opens old ones under whichever key their header names, so rotating is
// adding a key and making it current (Journal::rotate_key). Copies of the
// key bytes live here until the keyring is destroyed (then wiped).
class Keyring {
 public:
  Keyring() = default;
  ~Keyring();
  Keyring(const Keyring&) = default;
  Keyring& operator=(const Keyring&) = default;
  // std::invalid_argument for id 0 or a second key with the same id.
  void add(std::uint32_t id, const std::uint8_t (&key)[kKeyBytes]);
  void add(std::uint32_t id, const std::array<std::uint8_t, kKeyBytes>& key);
  const std::array<std::uint8_t, kKeyBytes>* find(std::uint32_t id) const noexcept;
  bool empty() const noexcept { return keys_.empty(); }

 private:
  std::map<std::uint32_t, std::array<std::uint8_t, kKeyBytes>> keys_;
};

// AES-256-GCM with a reusable context. encrypt/decrypt work in place (out ==
// in is allowed). decrypt returns false when the tag does not verify (wrong
// key or altered bytes); nothing else is reported as false.
class Gcm {
 public:
  Gcm();
  ~Gcm();
  Gcm(const Gcm&) = delete;
  Gcm& operator=(const Gcm&) = delete;
  void encrypt(const std::uint8_t* key, const std::uint8_t* nonce, const void* aad, std::size_t aad_n,
               const std::uint8_t* in, std::uint8_t* out, std::size_t n, std::uint8_t* tag);
  bool decrypt(const std::uint8_t* key, const std::uint8_t* nonce, const void* aad, std::size_t aad_n,
               const std::uint8_t* in, std::uint8_t* out, std::size_t n, const std::uint8_t* tag);

 private:
  evp_cipher_ctx_st* ctx_;
};

// Cryptographically random bytes (OpenSSL RAND_bytes): nonces and journal ids.
void random_bytes(void* p, std::size_t n);

}  // namespace shanraq::journal
