// Status and Result<T>: how every module reports success or failure across its boundary.
//
// A Status is either OK or carries one of a few codes plus a human-readable message. Result<T>
// holds either a value or a non-OK Status. Both are cheap to move and are [[nodiscard]]: a caller
// must look at them. Exceptions never cross a module boundary; library exceptions are caught at
// the edge and turned into a Status here.
//
// Thread-safety: values; share by copy.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "core/assert.h"

namespace chorus {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kNotFound,
    kCorruption,
    kIOError,
    kInvalidArgument,
    kUnavailable,       // not enough replicas, peer unreachable, overloaded queue
    kTimeout,           // a deadline passed
    kTooLarge,          // a size limit was exceeded
    kBusy,              // a bounded resource is full; retry later
    kPermissionDenied,  // the caller's identity does not allow this (DESIGN.md §10)
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status NotFound(std::string msg = {}) { return Status(Code::kNotFound, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status Timeout(std::string msg) { return Status(Code::kTimeout, std::move(msg)); }
  static Status TooLarge(std::string msg) { return Status(Code::kTooLarge, std::move(msg)); }
  static Status Busy(std::string msg) { return Status(Code::kBusy, std::move(msg)); }
  static Status PermissionDenied(std::string msg) {
    return Status(Code::kPermissionDenied, std::move(msg));
  }

  bool ok() const { return code_ == Code::kOk; }
  bool is_not_found() const { return code_ == Code::kNotFound; }
  bool is_corruption() const { return code_ == Code::kCorruption; }
  bool is_timeout() const { return code_ == Code::kTimeout; }
  bool is_unavailable() const { return code_ == Code::kUnavailable; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "NotFound: <message>" or "OK".
  std::string to_string() const;
  static const char* code_name(Code code);

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// Either a T or a non-OK Status. Constructing from an OK Status is a programming error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    CHORUS_ASSERT(!status_.ok(), "Result built from an OK Status has no value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & {
    CHORUS_ASSERT(ok());
    return *value_;
  }
  const T& value() const& {
    CHORUS_ASSERT(ok());
    return *value_;
  }
  T&& value() && {
    CHORUS_ASSERT(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace chorus

// Return early from the enclosing function when `expr` yields a non-OK Status.
#define CHORUS_RETURN_IF_ERROR(expr)         \
  do {                                       \
    ::chorus::Status _chorus_st = (expr);    \
    if (!_chorus_st.ok()) return _chorus_st; \
  } while (0)
