// Workload: keys, operation mix and request shapes (see workload.h).
#include "bench/workload.h"

namespace chorus::bench {

const char* op_name(Op op) {
  return op == Op::kGet ? "get" : "put";
}

std::string key_name(uint64_t n) {
  return "bench-" + std::to_string(n);
}

std::string kv_path(uint64_t n, std::string_view param, std::string_view quorum) {
  std::string path = "/v1/kv/" + key_name(n);
  if (!quorum.empty()) {
    path += '?';
    path += param;
    path += '=';
    path += quorum;
  }
  return path;
}

std::string put_body(size_t value_bytes, uint64_t seed) {
  static constexpr std::string_view kLetters =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, kLetters.size() - 1);
  std::string body = "{\"value\":\"";
  body.reserve(body.size() + value_bytes + 2);
  for (size_t i = 0; i < value_bytes; ++i) body += kLetters[pick(rng)];
  body += "\"}";
  return body;
}

KeyChooser::KeyChooser(Distribution distribution, uint64_t keys, double zipf_theta) : keys_(keys) {
  if (distribution == Distribution::kZipfian) zipfian_.emplace(keys, zipf_theta);
}

uint64_t KeyChooser::next(std::mt19937_64& rng) const {
  if (zipfian_) return zipfian_->value_for(std::uniform_real_distribution<double>(0.0, 1.0)(rng));
  return std::uniform_int_distribution<uint64_t>(0, keys_ - 1)(rng);
}

Op choose_op(double read_ratio, std::mt19937_64& rng) {
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng) < read_ratio ? Op::kGet : Op::kPut;
}

bool is_success(Op op, int http_status) {
  if (http_status >= 200 && http_status < 300) return true;
  return op == Op::kGet && http_status == 404;
}

}  // namespace chorus::bench
