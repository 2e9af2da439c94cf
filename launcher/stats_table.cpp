#include "stats_table.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>

#include "common/status.hpp"

namespace drust::launcher {

namespace {

using nlohmann::json;

constexpr ::std::string_view title = "drust stats (per node)";
// Each column's name on two lines, so that the table fits a terminal.
// The columns (threads, CPU time, bytes read remotely, cache hit rate, moves) and the rest
// fit 140 columns: the cache's hit rate shares a column with its misses and evictions. Page faults
// last: on a virtual machine a first touch of memory can cost more CPU than the work
// (docs/PERFORMANCE.md, "First touch of memory").
constexpr ::std::array<::std::string_view, 14> headers_above = {
    "",      "heap MiB", "live", "allocated", "remote", "read",     "cache",
    "",      "frees",    "shared_ptr", "messages", "threads", "CPU", "page",
};
constexpr ::std::array<::std::string_view, 14> headers = {
    "node",  "used/capacity", "objects",    "by node",   "reads",   "bytes", "hit %/miss/evict",
    "moves", "sent/recv",     "msgs/freed", "sent/recv", "started", "s",   "faults",
};

// A counter as a number, or nullopt when it is not a whole number from 0 up.
::std::optional<::std::uint64_t> count_of(const json& value) {
  if (value.is_number_unsigned()) return value.get<::std::uint64_t>();
  if (value.is_number_integer() && value.get<::std::int64_t>() >= 0) return value.get<::std::uint64_t>();
  return ::std::nullopt;
}

::std::uint64_t counter(const json& stats, const char* name) {
  auto field = stats.find(name);
  return field != stats.end() ? count_of(*field).value_or(0) : 0;
}

::std::string one_decimal(double value) {
  ::std::array<char, 32> text{};
  ::std::snprintf(text.data(), text.size(), "%.1f", value);
  return text.data();
}

// A JSON number as a double (0 when missing or not a number from 0 up), for CPU seconds.
double seconds(const json& stats, const char* name) {
  auto field = stats.find(name);
  if (field == stats.end() || !field->is_number()) return 0;
  return ::std::max(field->get<double>(), 0.0);
}

// "76.9": the share of immutable borrows of remote objects the cache served, or "-" with none.
::std::string hit_rate(const json& stats) {
  const ::std::uint64_t hits = counter(stats, "cache_hits");
  const ::std::uint64_t borrows = hits + counter(stats, "cache_misses");
  if (borrows == 0) return "-";
  return one_decimal(100.0 * static_cast<double>(hits) / static_cast<double>(borrows));
}

::std::string mebibytes(::std::uint64_t bytes) { return one_decimal(static_cast<double>(bytes) / (1 << 20)); }

// "5/3/0/0": the blocks this node allocated, by home node.
::std::string by_node(const json& stats) {
  auto field = stats.find("allocations_by_node");
  if (field == stats.end() || !field->is_array() || field->empty()) return "-";
  ::std::string text;
  for (const json& count : *field) {
    if (!text.empty()) text += '/';
    auto blocks = count_of(count);
    text += blocks ? ::std::to_string(*blocks) : "?";
  }
  return text;
}

::std::vector<::std::string> row_of(int node, const json& stats) {
  return {
      ::std::to_string(node),
      absl::StrCat(mebibytes(counter(stats, "heap_used")), "/", mebibytes(counter(stats, "heap_capacity"))),
      ::std::to_string(counter(stats, "live_objects")),
      by_node(stats),
      ::std::to_string(counter(stats, "remote_reads")),
      readable_bytes(counter(stats, "remote_read_bytes")),
      absl::StrCat(hit_rate(stats), "/", counter(stats, "cache_misses"), "/", counter(stats, "cache_evictions")),
      ::std::to_string(counter(stats, "moves")),
      absl::StrCat(counter(stats, "remote_frees"), "/", counter(stats, "remote_frees_received")),
      // Reference-count messages this node sent (round trips and batched releases), and the shared
      // objects whose last reference went here (their home ran the destructor).
      absl::StrCat(counter(stats, "shared_acquire_messages") + counter(stats, "shared_release_messages"), "/",
                   counter(stats, "shared_objects_destroyed")),
      absl::StrCat(counter(stats, "messages_sent"), "/", counter(stats, "messages_received")),
      ::std::to_string(counter(stats, "threads_started")),
      one_decimal(seconds(stats, "cpu_seconds")),
      ::std::to_string(counter(stats, "page_faults")),
  };
}

}  // namespace

::std::string readable_bytes(::std::uint64_t bytes) {
  constexpr ::std::array<const char*, 4> units = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return absl::StrCat(bytes, "B");
  double value = static_cast<double>(bytes);
  ::std::size_t unit = 0;
  for (value /= 1024; value >= 1024 && unit + 1 < units.size(); value /= 1024) ++unit;
  return one_decimal(value) + units[unit];
}

::std::string format_stats_table(const ::std::vector<::std::optional<json>>& stats) {
  ::std::vector<::std::vector<::std::string>> rows;
  ::std::array<::std::size_t, headers.size()> widths{};
  for (::std::size_t column = 0; column < headers.size(); ++column) {
    widths[column] = ::std::max(headers_above[column].size(), headers[column].size());
  }
  for (::std::size_t node = 0; node < stats.size(); ++node) {
    if (!stats[node]) continue;
    rows.push_back(row_of(static_cast<int>(node), *stats[node]));
    for (::std::size_t column = 0; column < headers.size(); ++column) {
      widths[column] = ::std::max(widths[column], rows.back()[column].size());
    }
  }

  // Every column right-aligned, two spaces apart, so that the digits line up.
  auto line_of = [&](const auto& cells, ::std::size_t count) {
    ::std::string line;
    for (::std::size_t column = 0; column < count; ++column) {
      if (column > 0) line += "  ";
      ::std::string_view cell = cells[column];
      line.append(widths[column] - ::std::min(widths[column], cell.size()), ' ');
      line += cell;
    }
    return line + "\n";
  };
  ::std::string table =
      ::std::string(title) + "\n" + line_of(headers_above, headers.size()) + line_of(headers, headers.size());
  ::std::size_t next_row = 0;
  for (::std::size_t node = 0; node < stats.size(); ++node) {
    if (stats[node]) {
      table += line_of(rows[next_row++], headers.size());
    } else {
      ::std::array<::std::string, 2> cells = {::std::to_string(node), "no stats: the node ended before it sent them"};
      ::std::string line = line_of(cells, 1);
      line.pop_back();
      table += absl::StrCat(line, "  ", cells[1], "\n");
    }
  }
  return table;
}

}  // namespace drust::launcher
