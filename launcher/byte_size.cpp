#include "byte_size.hpp"

#include <array>
#include <limits>
#include <utility>

namespace drust::launcher {

namespace {

struct size_unit {
  ::std::string_view suffix;
  ::std::uint64_t bytes;
};

constexpr ::std::array<size_unit, 9> size_units{{
    {"B", 1},
    {"K", kibibyte},
    {"KiB", kibibyte},
    {"M", mebibyte},
    {"MiB", mebibyte},
    {"G", gibibyte},
    {"GiB", gibibyte},
    {"T", 1024 * gibibyte},
    {"TiB", 1024 * gibibyte},
}};

absl::Status bad_size(::std::string_view text) {
  return absl::InvalidArgumentError(
      absl::StrCat("\"", ::std::string(text),
                   "\" is not a size: write a whole number of bytes, optionally followed by K, M, G, T "
                   "(or KiB, MiB, GiB, TiB), e.g. \"512MiB\""));
}

}  // namespace

absl::StatusOr<::std::uint64_t> parse_byte_size(::std::string_view text) {
  ::std::size_t digits_end = 0;
  ::std::uint64_t count = 0;
  while (digits_end < text.size() && text[digits_end] >= '0' && text[digits_end] <= '9') {
    auto digit = static_cast<::std::uint64_t>(text[digits_end] - '0');
    if (count > (::std::numeric_limits<::std::uint64_t>::max() - digit) / 10) {
      return absl::InvalidArgumentError(absl::StrCat("\"", ::std::string(text), "\" is too large"));
    }
    count = count * 10 + digit;
    ++digits_end;
  }
  if (digits_end == 0) return bad_size(text);

  ::std::string_view suffix = text.substr(digits_end);
  if (!suffix.empty() && suffix.front() == ' ') suffix.remove_prefix(1);
  if (suffix.empty()) return count;
  for (const size_unit& unit : size_units) {
    if (suffix != unit.suffix) continue;
    if (count > ::std::numeric_limits<::std::uint64_t>::max() / unit.bytes) {
      return absl::InvalidArgumentError(absl::StrCat("\"", ::std::string(text), "\" is too large"));
    }
    return count * unit.bytes;
  }
  return bad_size(text);
}

::std::string format_byte_size(::std::uint64_t bytes) {
  constexpr ::std::array<::std::pair<::std::uint64_t, const char*>, 4> units{{
      {1024 * gibibyte, "TiB"},
      {gibibyte, "GiB"},
      {mebibyte, "MiB"},
      {kibibyte, "KiB"},
  }};
  for (const auto& [unit_bytes, name] : units) {
    if (bytes != 0 && bytes % unit_bytes == 0) return absl::StrCat(bytes / unit_bytes, name);
  }
  return absl::StrCat(bytes, "B");
}

}  // namespace drust::launcher
