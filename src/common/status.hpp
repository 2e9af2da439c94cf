// Status helpers shared by every layer of the runtime.
//
// Debian's Abseil has no status macros, so drust defines its two here, once.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define DRUST_STATUS_CONCAT_INNER(a, b) a##b
#define DRUST_STATUS_CONCAT(a, b) DRUST_STATUS_CONCAT_INNER(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not ok.
#define DRUST_RETURN_IF_ERROR(expr)                      \
  do {                                                   \
    if (::absl::Status drust_status_ = (expr); !drust_status_.ok()) { \
      return drust_status_;                              \
    }                                                    \
  } while (false)

// `DRUST_ASSIGN_OR_RETURN(auto x, f());` unwraps an absl::StatusOr or returns its error.
#define DRUST_ASSIGN_OR_RETURN(lhs, expr) \
  DRUST_ASSIGN_OR_RETURN_IMPL(DRUST_STATUS_CONCAT(drust_statusor_, __LINE__), lhs, expr)
#define DRUST_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return ::std::move(tmp).status(); \
  lhs = ::std::move(tmp).value()

namespace drust {

// An error status for a failed system call: "what: strerror(errno)".
inline absl::Status errno_status(::std::string_view what, int error = errno) {
  return absl::InternalError(absl::StrCat(::std::string(what), ": ", ::std::strerror(error)));
}

// At the API surface (src/runtime/*_api.cpp): the value, or the exception that `Throw` (a
// [[noreturn]] function of the status) makes of the error; each API chooses its exceptions.
template <auto Throw, class T>
T value_or_throw(absl::StatusOr<T> result) {
  if (!result.ok()) Throw(result.status());
  return *::std::move(result);
}
template <auto Throw>
void ok_or_throw(const absl::Status& status) {
  if (!status.ok()) Throw(status);
}

}  // namespace drust
