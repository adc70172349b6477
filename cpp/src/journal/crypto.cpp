#include "shanraq/journal/crypto.hpp"

#include <isa-l/crc.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <climits>
#include <new>
#include <stdexcept>
#include <string>

namespace shanraq::journal {

std::uint32_t crc32c(const void* p, std::size_t n, std::uint32_t crc) noexcept {
  // ISA-L's crc32_iscsi neither inverts its seed nor its result; the standard
  // CRC32C does both, so the inversions are ours. Its length is an int.
  std::uint32_t c = ~crc;
  auto* b = static_cast<unsigned char*>(const_cast<void*>(p));
  while (n > 0) {
    const std::size_t k = n > static_cast<std::size_t>(INT_MAX) ? static_cast<std::size_t>(INT_MAX) & ~std::size_t{7}
                                                                : n;
    c = crc32_iscsi(b, static_cast<int>(k), c);
    b += k;
    n -= k;
  }
  return ~c;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) throw std::bad_alloc();
  reset();
}
Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }
void Sha256::reset() {
  if (EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) throw std::runtime_error("OpenSSL: SHA-256 init failed");
}
void Sha256::update(const void* p, std::size_t n) {
  if (n != 0 && EVP_DigestUpdate(ctx_, p, n) != 1) throw std::runtime_error("OpenSSL: SHA-256 update failed");
}
Digest Sha256::finish() {
  Digest d;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, d.data(), &len) != 1 || len != d.size()) {
    throw std::runtime_error("OpenSSL: SHA-256 final failed");
  }
  return d;
}
Digest Sha256::of(const void* p, std::size_t n) {
  Sha256 h;
  h.update(p, n);
  return h.finish();
}

Keyring::~Keyring() {
  for (auto& [id, k] : keys_) OPENSSL_cleanse(k.data(), k.size());
}
void Keyring::add(std::uint32_t id, const std::uint8_t (&key)[kKeyBytes]) {
  std::array<std::uint8_t, kKeyBytes> k;
  for (std::size_t i = 0; i < kKeyBytes; ++i) k[i] = key[i];
  add(id, k);
}
void Keyring::add(std::uint32_t id, const std::array<std::uint8_t, kKeyBytes>& key) {
  if (id == 0) throw std::invalid_argument("key id 0 is reserved for 'not encrypted'");
  if (!keys_.emplace(id, key).second) {
    throw std::invalid_argument("key id " + std::to_string(id) + " is already in the keyring");
  }
}
const std::array<std::uint8_t, kKeyBytes>* Keyring::find(std::uint32_t id) const noexcept {
  auto it = keys_.find(id);
  return it == keys_.end() ? nullptr : &it->second;
}

Gcm::Gcm() : ctx_(EVP_CIPHER_CTX_new()) {
  if (ctx_ == nullptr) throw std::bad_alloc();
}
Gcm::~Gcm() { EVP_CIPHER_CTX_free(ctx_); }

namespace {
[[noreturn]] void gcm_fail(const char* what) { throw std::runtime_error(std::string("OpenSSL AES-256-GCM: ") + what); }
int as_int(std::size_t n) {
  if (n > static_cast<std::size_t>(INT_MAX)) gcm_fail("buffer too large");
  return static_cast<int>(n);
}
}  // namespace

void Gcm::encrypt(const std::uint8_t* key, const std::uint8_t* nonce, const void* aad, std::size_t aad_n,
                  const std::uint8_t* in, std::uint8_t* out, std::size_t n, std::uint8_t* tag) {
  int len = 0;
  if (EVP_EncryptInit_ex(ctx_, EVP_aes_256_gcm(), nullptr, key, nonce) != 1) gcm_fail("init");
  if (aad_n != 0 &&
      EVP_EncryptUpdate(ctx_, nullptr, &len, static_cast<const unsigned char*>(aad), as_int(aad_n)) != 1) {
    gcm_fail("aad");
  }
  if (n != 0 && EVP_EncryptUpdate(ctx_, out, &len, in, as_int(n)) != 1) gcm_fail("update");
  if (EVP_EncryptFinal_ex(ctx_, out + n, &len) != 1) gcm_fail("final");
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes), tag) != 1) gcm_fail("tag");
}

bool Gcm::decrypt(const std::uint8_t* key, const std::uint8_t* nonce, const void* aad, std::size_t aad_n,
                  const std::uint8_t* in, std::uint8_t* out, std::size_t n, const std::uint8_t* tag) {
  int len = 0;
  if (EVP_DecryptInit_ex(ctx_, EVP_aes_256_gcm(), nullptr, key, nonce) != 1) gcm_fail("init");
  if (aad_n != 0 &&
      EVP_DecryptUpdate(ctx_, nullptr, &len, static_cast<const unsigned char*>(aad), as_int(aad_n)) != 1) {
    gcm_fail("aad");
  }
  if (n != 0 && EVP_DecryptUpdate(ctx_, out, &len, in, as_int(n)) != 1) gcm_fail("update");
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), const_cast<std::uint8_t*>(tag)) !=
      1) {
    gcm_fail("set tag");
  }
  return EVP_DecryptFinal_ex(ctx_, out + n, &len) == 1;
}

void random_bytes(void* p, std::size_t n) {
  if (RAND_bytes(static_cast<unsigned char*>(p), as_int(n)) != 1) throw std::runtime_error("OpenSSL RAND_bytes failed");
}

}  // namespace shanraq::journal
