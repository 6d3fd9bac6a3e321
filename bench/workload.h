// Workload: which key and which operation each request uses, and what it looks like on the wire
// (paths, bodies). Pure and deterministic given the caller's RNG, so a seed reproduces a run's
// request sequence per connection.
//
// Thread-safety: KeyChooser is immutable after construction and shared by all connections; each
// connection passes its own RNG.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "bench/config.h"
#include "bench/zipfian.h"

namespace chorus::bench {

enum class Op { kGet = 0, kPut = 1 };
constexpr int kOpCount = 2;
const char* op_name(Op op);

// "bench-<n>".
std::string key_name(uint64_t n);

// "/v1/kv/bench-<n>" plus "?<param>=<quorum>" when quorum is not empty. Key names need no
// percent-encoding: they are unreserved characters only.
std::string kv_path(uint64_t n, std::string_view param, std::string_view quorum);

// {"value":"<value_bytes printable ASCII letters>"}; the letters derive from seed. Every PUT of a
// run sends this body: the store's cost does not depend on the bytes, and building one body keeps
// the generator off the critical path.
std::string put_body(size_t value_bytes, uint64_t seed);

// Picks the key of each request: uniform over [0, keys), or YCSB scrambled zipfian.
class KeyChooser {
 public:
  KeyChooser(Distribution distribution, uint64_t keys, double zipf_theta);
  uint64_t next(std::mt19937_64& rng) const;

 private:
  uint64_t keys_;
  std::optional<ScrambledZipfianGenerator> zipfian_;
};

// GET with probability read_ratio, else PUT.
Op choose_op(double read_ratio, std::mt19937_64& rng);

// A 2xx, or a 404 on GET (the key was not written yet), counts as success.
bool is_success(Op op, int http_status);

}  // namespace chorus::bench
