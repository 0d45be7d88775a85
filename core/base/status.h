// Status and Result<T>: expected failures as values.
//
// A Status is either ok or carries a code and a message that names the place
// (file:line:column, recipe, column or row). Exceptions are used only at the
// boundary where foreign code runs (Lua, plugins, third-party parsers) and are
// turned into a Status there.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace alambic {

enum class StatusCode {
  kOk = 0,
  kInvalid,    // bad input: malformed file, wrong parameter, type error
  kNotFound,   // missing file, dataset, version or run
  kIoError,    // the operating system refused a read or write
  kCancelled,  // stopped by the user or a failing sibling
  kTimedOut,   // exceeded its time limit
  kFailed,     // a recipe or command failed for another reason
  kInternal,   // a bug: an invariant did not hold
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Invalid(std::string msg) { return Status(StatusCode::kInvalid, std::move(msg)); }
  static Status NotFound(std::string msg) { return Status(StatusCode::kNotFound, std::move(msg)); }
  static Status IoError(std::string msg) { return Status(StatusCode::kIoError, std::move(msg)); }
  static Status Cancelled(std::string msg) {
    return Status(StatusCode::kCancelled, std::move(msg));
  }
  static Status TimedOut(std::string msg) { return Status(StatusCode::kTimedOut, std::move(msg)); }
  static Status Failed(std::string msg) { return Status(StatusCode::kFailed, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(StatusCode::kInternal, std::move(msg)); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "prefix: message" (for adding the place).
  Status WithContext(const std::string& prefix) const {
    if (ok()) return *this;
    return Status(code_, prefix + ": " + message_);
  }

 private:
  Status(StatusCode code, std::string msg) : code_(code), message_(std::move(msg)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    assert(!status_.ok() && "Result built from an ok Status has no value");
    if (status_.ok()) status_ = Status::Internal("Result built from an ok Status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T&& operator*() && { return std::move(*value_); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace alambic

#define ALAMBIC_CONCAT_INNER(a, b) a##b
#define ALAMBIC_CONCAT(a, b) ALAMBIC_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when it is not ok.
#define ALAMBIC_RETURN_IF_ERROR(expr) \
  do {                                \
    ::alambic::Status _st = (expr);   \
    if (!_st.ok()) return _st;        \
  } while (0)

// Declares `lhs` from a Result, or returns its Status.
#define ALAMBIC_ASSIGN_OR_RETURN(lhs, expr)                                                   \
  auto ALAMBIC_CONCAT(_res_, __LINE__) = (expr);                                              \
  if (!ALAMBIC_CONCAT(_res_, __LINE__).ok()) return ALAMBIC_CONCAT(_res_, __LINE__).status(); \
  lhs = std::move(ALAMBIC_CONCAT(_res_, __LINE__)).value()
