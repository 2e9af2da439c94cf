// Byte sizes as people write them: "1GiB", "256 MiB", "64M", 1048576.
//
// Used for drun's --heap and --cache options and the cluster file's heap, cache and cache_size
// fields. The suffixes are binary (K = KiB = 1024), as in the memory limits of most schedulers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.hpp"

namespace drust::launcher {

inline constexpr ::std::uint64_t kibibyte = 1024;
inline constexpr ::std::uint64_t mebibyte = 1024 * kibibyte;
inline constexpr ::std::uint64_t gibibyte = 1024 * mebibyte;

// Parses digits with an optional suffix (B, K, M, G, T, KiB, MiB, GiB, TiB), optionally separated by
// one space. The error says which forms are accepted; the caller adds where the text came from.
absl::StatusOr<::std::uint64_t> parse_byte_size(::std::string_view text);

// "1GiB", "256MiB", "12345B": the largest binary unit that divides `bytes` exactly.
::std::string format_byte_size(::std::uint64_t bytes);

}  // namespace drust::launcher
