#include "security/gossip_seal.h"

#include <cstring>
#include <memory>

#include <openssl/evp.h>

#include "core/coding.h"
#include "core/text.h"
#include "security/crypto.h"

namespace chorus::security {

namespace {

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, void (*)(EVP_CIPHER_CTX*)>;

CipherCtx new_ctx() {
  return CipherCtx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
}

const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// AES-256-GCM with a 12-byte nonce; `aad` authenticated, not encrypted. False only if OpenSSL
// fails (it does not for valid lengths).
bool gcm_encrypt(const GossipKey& key, std::string_view nonce, std::string_view aad,
                 std::string_view plain, std::string* out_cipher, std::string* out_tag) {
  CipherCtx ctx = new_ctx();
  int len = 0;
  out_cipher->resize(plain.size());
  out_tag->resize(kSealTagBytes);
  return ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kSealNonceBytes, nullptr) == 1 &&
         EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), bytes_of(nonce)) == 1 &&
         EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes_of(aad), static_cast<int>(aad.size())) ==
             1 &&
         EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out_cipher->data()), &len,
                           bytes_of(plain), static_cast<int>(plain.size())) == 1 &&
         EVP_EncryptFinal_ex(ctx.get(), nullptr, &len) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kSealTagBytes, out_tag->data()) == 1;
}

// False when the tag does not verify under `key` (wrong key, or tampered bytes).
bool gcm_decrypt(const GossipKey& key, std::string_view nonce, std::string_view aad,
                 std::string_view cipher, std::string_view tag, std::string* out_plain) {
  CipherCtx ctx = new_ctx();
  int len = 0;
  out_plain->resize(cipher.size());
  std::string tag_copy(tag);  // EVP's ctrl takes a non-const pointer
  return ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kSealNonceBytes, nullptr) == 1 &&
         EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), bytes_of(nonce)) == 1 &&
         EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes_of(aad), static_cast<int>(aad.size())) ==
             1 &&
         EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out_plain->data()), &len,
                           bytes_of(cipher), static_cast<int>(cipher.size())) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kSealTagBytes, tag_copy.data()) ==
             1 &&
         EVP_DecryptFinal_ex(ctx.get(), nullptr, &len) == 1;
}

}  // namespace

// ---- GossipKeyring ---------------------------------------------------------------------------

Result<GossipKeyring> GossipKeyring::parse(std::string_view text) {
  GossipKeyring ring;
  size_t line_number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_number;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = "line " + std::to_string(line_number);
    Result<std::string> key = base64_decode(line);
    if (!key.ok()) return Status::InvalidArgument(where + " is not base64");
    if (key->size() != kGossipKeyBytes) {
      return Status::InvalidArgument(where + " holds " + std::to_string(key->size()) +
                                     " bytes; a gossip key is 32 bytes (AES-256)");
    }
    if (ring.keys_.size() == kGossipKeysMax) {
      return Status::InvalidArgument("more than " + std::to_string(kGossipKeysMax) + " keys");
    }
    GossipKey k{};
    std::memcpy(k.data(), key->data(), k.size());
    ring.keys_.push_back(k);
  }
  if (ring.keys_.empty()) return Status::InvalidArgument("no key (one base64 32-byte key a line)");
  return ring;
}

Result<GossipKeyring> GossipKeyring::load(const std::string& path) {
  Result<std::string> text = read_small_file(path, kGossipKeyFileBytesMax);
  if (!text.ok()) return text.status();
  Result<GossipKeyring> ring = parse(text.value());
  if (!ring.ok()) return Status::InvalidArgument(path + ": " + ring.status().message());
  return ring;
}

std::string GossipKeyring::generate_key() {
  return base64_encode(random_bytes(kGossipKeyBytes));
}

// ---- GossipSealer ----------------------------------------------------------------------------

GossipSealer::GossipSealer(std::shared_ptr<const GossipKeyring> keyring)
    : keyring_(std::move(keyring)), instance_(decode_big_endian64(random_bytes(8).data())) {}

void GossipSealer::set_keyring(std::shared_ptr<const GossipKeyring> keyring) {
  std::atomic_store(&keyring_, std::move(keyring));
}

std::shared_ptr<const GossipKeyring> GossipSealer::keyring() const {
  return std::atomic_load(&keyring_);
}

std::string GossipSealer::seal(std::string_view payload) {
  const std::shared_ptr<const GossipKeyring> ring = keyring();
  std::string plain;
  plain.reserve(kSealHeaderBytes + payload.size());
  put_big_endian64(&plain, instance_);
  put_big_endian64(&plain, next_sequence_++);
  plain.append(payload);
  const std::string version(1, static_cast<char>(kSealVersion));
  const std::string nonce = random_bytes(kSealNonceBytes);
  std::string cipher;
  std::string tag;
  if (!gcm_encrypt(ring->primary(), nonce, version, plain, &cipher, &tag)) {
    std::fprintf(stderr, "fatal: AES-256-GCM encryption failed\n");
    std::abort();
  }
  std::string out;
  out.reserve(kSealOverheadBytes + payload.size());
  out.append(version).append(nonce).append(cipher).append(tag);
  return out;
}

GossipSealer::Opened GossipSealer::open(std::string_view datagram) {
  Opened result;
  if (datagram.size() < kSealOverheadBytes ||
      static_cast<uint8_t>(datagram.front()) != kSealVersion) {
    result.outcome = Outcome::kMalformed;
    return result;
  }
  const std::string_view version = datagram.substr(0, 1);
  const std::string_view nonce = datagram.substr(1, kSealNonceBytes);
  const std::string_view cipher =
      datagram.substr(1 + kSealNonceBytes, datagram.size() - 1 - kSealNonceBytes - kSealTagBytes);
  const std::string_view tag = datagram.substr(datagram.size() - kSealTagBytes);
  const std::shared_ptr<const GossipKeyring> ring = keyring();
  std::string plain;
  bool opened = false;
  for (const GossipKey& key : ring->keys()) {
    if (gcm_decrypt(key, nonce, version, cipher, tag, &plain)) {
      opened = true;
      break;
    }
  }
  if (!opened) {
    result.outcome = Outcome::kUnauthentic;
    return result;
  }
  const uint64_t instance = decode_big_endian64(plain.data());
  const uint64_t sequence = decode_big_endian64(plain.data() + 8);
  if (!admit(instance, sequence)) {
    result.outcome = Outcome::kReplayed;
    return result;
  }
  result.outcome = Outcome::kOpened;
  result.payload = plain.substr(kSealHeaderBytes);
  return result;
}

bool GossipSealer::admit(uint64_t instance, uint64_t sequence) {
  ++opened_;
  auto it = windows_.find(instance);
  if (it == windows_.end()) {
    if (windows_.size() >= kReplayInstancesMax) {
      auto oldest = windows_.begin();
      for (auto w = windows_.begin(); w != windows_.end(); ++w) {
        if (w->second.last_heard < oldest->second.last_heard) oldest = w;
      }
      windows_.erase(oldest);
    }
    windows_[instance] = Window{sequence, 1, opened_};
    return true;
  }
  Window& w = it->second;
  w.last_heard = opened_;
  if (sequence > w.highest) {
    const uint64_t shift = sequence - w.highest;
    w.seen = shift >= kReplayWindow ? 0 : w.seen << shift;
    w.seen |= 1;
    w.highest = sequence;
    return true;
  }
  const uint64_t age = w.highest - sequence;
  if (age >= kReplayWindow) return false;
  const uint64_t bit = uint64_t{1} << age;
  if ((w.seen & bit) != 0) return false;
  w.seen |= bit;
  return true;
}

}  // namespace chorus::security
