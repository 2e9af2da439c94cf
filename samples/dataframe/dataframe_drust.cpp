// dataframe_drust: the port of dataframe_std.cpp to drust. The table's chunks live in the global
// heap and the queries run on every node of the cluster (`drun -n 4 dataframe-drust`); without
// drun it is a one-node cluster and behaves as dataframe-std. The checksum is the original's on
// any number of nodes.
//
// The port is dataframe_std.cpp with the swaps of docs/porting.md and nothing else:
//   - the includes <future>, <memory>, <thread> became <drust/std/future>, <drust/std/memory>,
//     <drust/std/thread>, and <drust/std/vector> joined <vector>;
//   - std:: became drust::std:: on async, future, thread::hardware_concurrency (the cluster's
//     cores), shared_ptr, make_shared, and on vector for the data that lives in the global heap:
//     a chunk's columns, a partition (its chunks), the partial results of the scan and the merged
//     groups of a key range. The vectors that stay on one node stay std::vector: main's lists of
//     futures, of partitions and of merged ranges, the labels, a scan worker's dense table of
//     groups, the join's dimension (sent to each worker by value). (That is why <vector> stays.)
// Further changes: none (samples/port-stats counts them; README.md). The port stays line for line
// with the original, so clang-format is off here: re-flowing the longer drust names would show in
// the diff as changes that are not.
//
// Where it runs: worker p makes partition p (its chunks' columns are allocated on its node) and
// hands it back as a drust::std::shared_ptr; a query's scan worker for partition p is given that
// pointer, so data-affinity placement (docs/design/scheduler.md, rule 1) sends it to the node that
// holds the partition when that node has a free core. The chunks' partial results stay on the scan
// workers' nodes; each merge worker reads its key range of every chunk's partial result through
// its cache, and main reads the merged groups the same way.
//
//   dataframe-drust [--rows N] [--groups K] [--chunk-rows N] [--threads W] [--seed S]
// clang-format off
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <drust/std/future>
#include <limits>
#include <drust/std/memory>
#include <span>
#include <string>
#include <string_view>
#include <drust/std/thread>
#include <unordered_map>
#include <utility>
#include <vector>
#include <drust/std/vector>

namespace {

// The table is cut in 16 chunks unless --chunk-rows says otherwise: enough for 16 workers, and
// few, because a chunk's partial result for a query by id3 or id6 holds up to rows / K groups, so
// the partial results to write and merge grow with the number of chunks.
constexpr std::int64_t default_chunks = 16;

struct options {
  std::int64_t rows = 1'000'000;
  std::int64_t groups = 100;    // db-benchmark's K
  std::int64_t chunk_rows = 0;  // 0: rows / default_chunks, rounded up
  int threads = 0;              // 0: drust::std::thread::hardware_concurrency()
  std::uint64_t seed = 1;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr,
      "dataframe: %s\n"
      "usage: dataframe [--rows N] [--groups K] [--chunk-rows N] [--threads W] [--seed S]\n"
      "  db-benchmark's G1 table of N rows (default 1000000) with K groups (default 100,\n"
      "  at most 4096), in chunks of --chunk-rows rows (default: N / 16, rounded up),\n"
      "  queried by W worker threads (default: the hardware's)\n",
      why);
  std::exit(2);
}

std::int64_t parse_number(const std::string& flag, const char* text) {
  char* end = nullptr;
  const long long value = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || value < 0)
    usage((flag + " needs a non-negative integer").c_str());
  return value;
}

options parse_options(int argc, char** argv) {
  options parsed;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help") usage("help");
    std::string value;
    if (const auto equals = flag.find('='); equals != std::string::npos) {
      value = flag.substr(equals + 1);
      flag.resize(equals);
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    std::int64_t* target = flag == "--rows"         ? &parsed.rows
                           : flag == "--groups"     ? &parsed.groups
                           : flag == "--chunk-rows" ? &parsed.chunk_rows
                                                    : nullptr;
    if (flag == "--threads" || flag == "--seed") {
      if (value.empty()) usage((flag + " needs a value").c_str());
      const std::int64_t number = parse_number(flag, value.c_str());
      if (flag == "--threads")
        parsed.threads = static_cast<int>(std::min<std::int64_t>(number, 1 << 20));
      else
        parsed.seed = static_cast<std::uint64_t>(number);
    } else if (target != nullptr) {
      if (value.empty()) usage((flag + " needs a value").c_str());
      *target = parse_number(flag, value.c_str());
    } else {
      usage(("unknown flag " + flag).c_str());
    }
  }
  if (parsed.rows < 1) usage("--rows must be at least 1");
  if (parsed.chunk_rows == 0)
    parsed.chunk_rows = (parsed.rows + default_chunks - 1) / default_chunks;
  // q2 groups by (id1, id2) into a dense table of K * K groups; rows / K must fit a code.
  if (parsed.groups < 1 || parsed.groups > 4096) usage("--groups must be between 1 and 4096");
  if (parsed.rows / parsed.groups > std::numeric_limits<std::int32_t>::max())
    usage("--rows / --groups must be below 2^31");
  return parsed;
}

// ---- Random streams ---------------------------------------------------------------------------

// splitmix64's finaliser: a bijection on 64-bit words that mixes every bit into every other.
constexpr std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// One chunk's random stream (splitmix64): deterministic from its seed, shared with nobody.
class random_stream {
 public:
  explicit random_stream(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return mix(state_ += 0x9e3779b97f4a7c15ull); }
  // In [0, n).
  std::int32_t below(std::int64_t n) {
    return static_cast<std::int32_t>(next() % static_cast<std::uint64_t>(n));
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)

 private:
  std::uint64_t state_;
};

// ---- The table --------------------------------------------------------------------------------

// G1's shape: rows, K, and how the rows are cut in chunks.
struct table_shape {
  std::int64_t rows;
  std::int64_t groups;  // K: id1, id2, id4 and id5 take K values
  std::int64_t chunk_rows;
  std::uint64_t seed;
  std::int64_t large_groups() const {
    return std::max<std::int64_t>(1, rows / groups);
  }  // id3, id6
  std::int64_t chunks() const { return (rows + chunk_rows - 1) / chunk_rows; }
};

// One chunk: the same rows of every column. id1..id3 are categorical, as db-benchmark's pandas
// and data.table solutions load them: a code per row, 0 for "id001" (id3: "id0000000001").
// id4..id6 and v1..v3 are G1's values: id4, id5 in 1..K, id6 in 1..rows/K, v1 in 1..5,
// v2 in 1..15, v3 in [0, 100] with 6 decimals.
struct chunk {
  drust::std::vector<std::int32_t> id1, id2, id3;
  drust::std::vector<std::int32_t> id4, id5, id6;
  drust::std::vector<std::int32_t> v1, v2;
  drust::std::vector<double> v3;
};

// A worker's chunks: chunk p, p + parts, p + 2 parts, ... of the table, for partition p.
using partition = drust::std::vector<chunk>;

// Chunk `index` of the table, drawn from the chunk's own random stream (column by column within a
// row, in G1's order): the same whatever worker makes it.
chunk make_chunk(const table_shape& shape, std::int64_t index) {
  const auto rows =
      static_cast<std::size_t>(std::min(shape.chunk_rows, shape.rows - index * shape.chunk_rows));
  random_stream random(mix(shape.seed) ^ mix(static_cast<std::uint64_t>(index) + 1));
  const std::int64_t k = shape.groups, large = shape.large_groups();
  chunk made;
  for (auto* column :
       {&made.id1, &made.id2, &made.id3, &made.id4, &made.id5, &made.id6, &made.v1, &made.v2})
    column->reserve(rows);
  made.v3.reserve(rows);
  for (std::size_t row = 0; row < rows; ++row) {
    made.id1.push_back(random.below(k));
    made.id2.push_back(random.below(k));
    made.id3.push_back(random.below(large));
    made.id4.push_back(random.below(k) + 1);
    made.id5.push_back(random.below(k) + 1);
    made.id6.push_back(random.below(large) + 1);
    made.v1.push_back(random.below(5) + 1);
    made.v2.push_back(random.below(15) + 1);
    made.v3.push_back(std::round(random.uniform() * 1e8) / 1e6);
  }
  return made;
}

// Worker `part` of `parts`: makes its partition and hands it over, read-only from now on.
drust::std::shared_ptr<const partition> make_partition(table_shape shape, int part, int parts) {
  partition chunks;
  for (std::int64_t index = part; index < shape.chunks(); index += parts)
    chunks.push_back(make_chunk(shape, index));
  return drust::std::make_shared<const partition>(std::move(chunks));
}

// The table: chunk i is chunk i / parts of partition i % parts. The labels of the categorical
// codes stay with the program that prints and hashes the results.
struct dataframe {
  table_shape shape;
  std::vector<drust::std::shared_ptr<const partition>> partitions;
  std::vector<std::string> id1_levels;  // id1 and id2: "id001", ...
  std::vector<std::string> id3_levels;  // "id0000000001", ...
};

std::vector<std::string> make_levels(std::int64_t count, int digits) {
  std::vector<std::string> levels;
  char label[32];
  for (std::int64_t code = 0; code < count; ++code) {
    std::snprintf(label, sizeof label, "id%0*lld", digits, static_cast<long long>(code + 1));
    levels.emplace_back(label);
  }
  return levels;
}

// ---- Group-by -----------------------------------------------------------------------------------

// What the sum and mean queries add up per group. The join adds v3 * weight into v3.
struct totals {
  std::int64_t rows = 0;
  std::int64_t v1 = 0, v2 = 0;
  double v3 = 0;
  void merge(const totals& other) {
    rows += other.rows;
    v1 += other.v1;
    v2 += other.v2;
    v3 += other.v3;
  }
};

// The largest v1 and the smallest v2 of a group.
struct extremes {
  std::int64_t rows = 0;
  std::int32_t max_v1 = std::numeric_limits<std::int32_t>::min();
  std::int32_t min_v2 = std::numeric_limits<std::int32_t>::max();
  void merge(const extremes& other) {
    rows += other.rows;
    max_v1 = std::max(max_v1, other.max_v1);
    min_v2 = std::min(min_v2, other.min_v2);
  }
};

// A group of one chunk's partial result: its key (a code in [0, levels)) and what it added up.
template <typename Accumulator>
struct keyed {
  std::int32_t key;
  Accumulator value;
};

// The keys [0, levels) cut in `count` ranges of `width` keys (the last may be shorter). A chunk's
// partial result is cut the same way, and one merge worker per range merges that range of every
// chunk: the merge runs in parallel, yet each group is merged over the chunks in chunk order.
struct key_ranges {
  std::int64_t levels;
  std::int64_t width;
  std::int64_t count;
};

key_ranges make_key_ranges(std::int64_t levels, std::int64_t wanted) {
  const std::int64_t width = (levels + wanted - 1) / wanted;
  return {levels, width, (levels + width - 1) / width};
}

// One piece of a chunk's partial result: the groups of one key range that occur in the chunk, in
// key order.
template <typename Accumulator>
using partial = drust::std::vector<keyed<Accumulator>>;

// A chunk's partial result: a piece per key range.
template <typename Accumulator>
using chunk_partial = drust::std::vector<partial<Accumulator>>;

// Every chunk's partial result: chunk i is chunk i / parts of partition i % parts.
template <typename Accumulator>
using scan_result = drust::std::vector<drust::std::vector<chunk_partial<Accumulator>>>;

// A query is a value with `levels` (its number of groups) and `scan(chunk, groups)`, which adds
// the chunk's rows into a dense table of groups indexed by key.

// q1: sum v1 by id1.
struct sum_v1_by_id1 {
  using accumulator = totals;
  std::int64_t levels;
  void scan(const chunk& rows, std::vector<totals>& groups) const {
    const std::span<const std::int32_t> id1 = rows.id1, v1 = rows.v1;
    for (std::size_t row = 0; row < id1.size(); ++row) {
      totals& group = groups[id1[row]];
      ++group.rows;
      group.v1 += v1[row];
    }
  }
};

// q2: sum v1 by id1 and id2 (key id1 * K + id2).
struct sum_v1_by_id1_id2 {
  using accumulator = totals;
  std::int64_t levels;
  std::int32_t k;
  void scan(const chunk& rows, std::vector<totals>& groups) const {
    const std::span<const std::int32_t> id1 = rows.id1, id2 = rows.id2, v1 = rows.v1;
    for (std::size_t row = 0; row < id1.size(); ++row) {
      totals& group = groups[id1[row] * k + id2[row]];
      ++group.rows;
      group.v1 += v1[row];
    }
  }
};

// q3: sum v1 and mean v3 by id3.
struct sum_v1_mean_v3_by_id3 {
  using accumulator = totals;
  std::int64_t levels;
  void scan(const chunk& rows, std::vector<totals>& groups) const {
    const std::span<const std::int32_t> id3 = rows.id3, v1 = rows.v1;
    const std::span<const double> v3 = rows.v3;
    for (std::size_t row = 0; row < id3.size(); ++row) {
      totals& group = groups[id3[row]];
      ++group.rows;
      group.v1 += v1[row];
      group.v3 += v3[row];
    }
  }
};

// q4 (mean v1, v2, v3 by id4) and q5 (sum v1, v2, v3 by id6): the same sums, by a numeric key in
// 1..levels.
struct sum_v1_v2_v3 {
  using accumulator = totals;
  std::int64_t levels;
  bool by_id6;  // else by id4
  void scan(const chunk& rows, std::vector<totals>& groups) const {
    const std::span<const std::int32_t> key = by_id6 ? rows.id6 : rows.id4;
    const std::span<const std::int32_t> v1 = rows.v1, v2 = rows.v2;
    const std::span<const double> v3 = rows.v3;
    for (std::size_t row = 0; row < key.size(); ++row) {
      totals& group = groups[key[row] - 1];
      ++group.rows;
      group.v1 += v1[row];
      group.v2 += v2[row];
      group.v3 += v3[row];
    }
  }
};

// q6: max(v1) - min(v2) by id3.
struct range_v1_v2_by_id3 {
  using accumulator = extremes;
  std::int64_t levels;
  void scan(const chunk& rows, std::vector<extremes>& groups) const {
    const std::span<const std::int32_t> id3 = rows.id3, v1 = rows.v1, v2 = rows.v2;
    for (std::size_t row = 0; row < id3.size(); ++row) {
      extremes& group = groups[id3[row]];
      ++group.rows;
      group.max_v1 = std::max(group.max_v1, v1[row]);
      group.min_v2 = std::min(group.min_v2, v2[row]);
    }
  }
};

// The filter: the rows with v3 > 50 and id4 <= K / 2, their count and the sum of their v3 (one
// group).
struct filtered_sum_v3 {
  using accumulator = totals;
  std::int64_t levels;
  std::int32_t id4_limit;
  void scan(const chunk& rows, std::vector<totals>& groups) const {
    const std::span<const std::int32_t> id4 = rows.id4;
    const std::span<const double> v3 = rows.v3;
    totals& group = groups[0];
    for (std::size_t row = 0; row < id4.size(); ++row) {
      if (v3[row] > 50.0 && id4[row] <= id4_limit) {
        ++group.rows;
        group.v3 += v3[row];
      }
    }
  }
};

// The join's small side: a dimension table keyed by id4 (a third of the id4 values have no row,
// so the inner join drops their rows).
struct dimension_row {
  std::int32_t id4;
  std::int32_t region;
  double weight;
};
constexpr std::int32_t regions = 4;

std::vector<dimension_row> make_dimension(std::int64_t k) {
  std::vector<dimension_row> rows;
  for (std::int32_t id4 = 1; id4 <= k; ++id4) {
    if (id4 % 3 != 0) rows.push_back({id4, id4 % regions, 0.5 + 0.25 * (id4 % 5)});
  }
  return rows;
}

// The join: the table inner-joined with the dimension on id4 (a hash join, probed by every row),
// then sum v1 and sum v3 * weight by region.
struct join_on_id4 {
  using accumulator = totals;
  std::int64_t levels;
  const std::unordered_map<std::int32_t, dimension_row>* by_id4;
  void scan(const chunk& rows, std::vector<totals>& groups) const {
    const std::span<const std::int32_t> id4 = rows.id4, v1 = rows.v1;
    const std::span<const double> v3 = rows.v3;
    for (std::size_t row = 0; row < id4.size(); ++row) {
      const auto match = by_id4->find(id4[row]);
      if (match == by_id4->end()) continue;
      totals& group = groups[match->second.region];
      ++group.rows;
      group.v1 += v1[row];
      group.v3 += v3[row] * match->second.weight;
    }
  }
};

// The partial results of a partition's chunks, in the partition's order. Each chunk is added up
// on its own into a dense table of groups, of which the groups that occur are kept.
template <typename Query>
drust::std::vector<chunk_partial<typename Query::accumulator>> group_chunks(const partition& chunks,
                                                                     key_ranges ranges,
                                                                     const Query& query) {
  using accumulator = typename Query::accumulator;
  std::vector<accumulator> groups(static_cast<std::size_t>(query.levels));
  drust::std::vector<chunk_partial<accumulator>> partials;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    std::fill(groups.begin(), groups.end(), accumulator{});
    query.scan(chunks[i], groups);
    chunk_partial<accumulator> pieces;
    for (std::int64_t first = 0; first < ranges.levels; first += ranges.width) {
      partial<accumulator> piece;
      for (std::int64_t key = first; key < std::min(first + ranges.width, ranges.levels); ++key) {
        if (groups[key].rows > 0) piece.push_back({static_cast<std::int32_t>(key), groups[key]});
      }
      pieces.push_back(std::move(piece));
    }
    partials.push_back(std::move(pieces));
  }
  return partials;
}

// A query's scan worker: one partition.
template <typename Query>
drust::std::vector<chunk_partial<typename Query::accumulator>> group_partition(
    drust::std::shared_ptr<const partition> chunks, key_ranges ranges, Query query) {
  return group_chunks(*chunks, ranges, query);
}

// The join's scan worker: it builds the hash table of the dimension (sent to every worker by
// value: a broadcast join), then probes it with its partition's rows.
drust::std::vector<chunk_partial<totals>> join_partition(drust::std::shared_ptr<const partition> chunks,
                                                  key_ranges ranges,
                                                  std::vector<dimension_row> dimension) {
  std::unordered_map<std::int32_t, dimension_row> by_id4;
  for (const dimension_row& row : dimension) by_id4.emplace(row.id4, row);
  return group_chunks(*chunks, ranges, join_on_id4{regions, &by_id4});
}

// A query's merge worker: the groups of key range `range`, merged over the chunks in chunk order,
// so that each group's sums add the same numbers in the same order whatever the number of workers.
template <typename Accumulator>
drust::std::vector<Accumulator> merge_range(drust::std::shared_ptr<const scan_result<Accumulator>> partials,
                                     std::int64_t chunks, key_ranges ranges, std::int64_t range) {
  const std::int64_t first = range * ranges.width;
  drust::std::vector<Accumulator> groups(
      static_cast<std::size_t>(std::min(ranges.width, ranges.levels - first)));
  const std::size_t parts = partials->size();
  for (std::size_t index = 0; index < static_cast<std::size_t>(chunks); ++index) {
    for (const keyed<Accumulator>& group : (*partials)[index % parts][index / parts][range])
      groups[group.key - first].merge(group.value);
  }
  return groups;
}

// A query's result: every group, by key, in the merge workers' ranges (a group with no rows did
// not occur).
template <typename Accumulator>
struct grouped {
  key_ranges ranges;
  std::vector<drust::std::vector<Accumulator>> by_range;
  std::size_t size() const { return static_cast<std::size_t>(ranges.levels); }
  const Accumulator& operator[](std::size_t key) const {
    return by_range[key / ranges.width][key % ranges.width];
  }
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The queries' time, added up for the throughput.
struct query_clock {
  double seconds = 0;
  int queries = 0;
};

// Runs a query: `worker(partition, ranges, arguments...)` on every partition at once, then the
// merge workers, one per key range. Prints the query's line and returns its groups.
template <typename Accumulator, typename Worker, typename... Arguments>
grouped<Accumulator> run_query(const dataframe& frame, const char* name, std::int64_t levels,
                               query_clock& clock, Worker worker, const Arguments&... arguments) {
  const auto started = std::chrono::steady_clock::now();
  const std::int64_t parts = static_cast<std::int64_t>(frame.partitions.size());
  const key_ranges ranges = make_key_ranges(levels, parts);
  std::vector<drust::std::future<drust::std::vector<chunk_partial<Accumulator>>>> scanning;
  for (const auto& part : frame.partitions)
    scanning.push_back(drust::std::async(std::launch::async, worker, part, ranges, arguments...));
  scan_result<Accumulator> scanned;
  for (auto& part : scanning) scanned.push_back(part.get());
  const auto partials = drust::std::make_shared<const scan_result<Accumulator>>(std::move(scanned));
  std::vector<drust::std::future<drust::std::vector<Accumulator>>> merging;
  for (std::int64_t range = 0; range < ranges.count; ++range) {
    merging.push_back(drust::std::async(std::launch::async, merge_range<Accumulator>, partials,
                                 frame.shape.chunks(), ranges, range));
  }
  grouped<Accumulator> groups{ranges, {}};
  for (auto& range : merging) groups.by_range.push_back(range.get());
  const double seconds = seconds_since(started);
  clock.seconds += seconds;
  ++clock.queries;
  long long occurring = 0;
  for (std::size_t key = 0; key < groups.size(); ++key) occurring += groups[key].rows > 0 ? 1 : 0;
  std::printf("%s: %lld group%s, %.4f s\n", name, occurring, occurring == 1 ? "" : "s", seconds);
  return groups;
}

// FNV-1a over the results, in the order they are added.
class result_hash {
 public:
  // A string with its terminating NUL, so that "ab" then "c" differs from "a" then "bc".
  void add(std::string_view text) {
    add_bytes(text.data(), text.size());
    add_bytes("", 1);
  }
  void add(std::int64_t value) { add_bytes(&value, sizeof value); }
  void add(double value) { add_bytes(&value, sizeof value); }
  std::uint64_t value() const { return state_; }

 private:
  void add_bytes(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) state_ = (state_ ^ bytes[i]) * 0x100000001b3ull;
  }
  std::uint64_t state_ = 0xcbf29ce484222325ull;
};

}  // namespace

int main(int argc, char** argv) {
  const options opts = parse_options(argc, argv);
  const int threads = opts.threads > 0
                          ? opts.threads
                          : static_cast<int>(std::max(1u, drust::std::thread::hardware_concurrency()));
  const table_shape shape{opts.rows, opts.groups, opts.chunk_rows, opts.seed};
  const int parts = static_cast<int>(std::min<std::int64_t>(threads, shape.chunks()));
  const std::int64_t k = shape.groups, large = shape.large_groups();

  // The table: every worker makes its partition.
  const auto made = std::chrono::steady_clock::now();
  std::vector<drust::std::future<drust::std::shared_ptr<const partition>>> making;
  for (int part = 0; part < parts; ++part)
    making.push_back(drust::std::async(std::launch::async, make_partition, shape, part, parts));
  dataframe frame{shape, {}, make_levels(k, 3), make_levels(large, 10)};
  for (auto& part : making) frame.partitions.push_back(part.get());
  std::printf(
      "dataframe: G1 table of %lld rows, K=%lld, %lld chunks of %lld rows, %d workers, "
      "seed %llu: made in %.4f s\n",
      static_cast<long long>(shape.rows), static_cast<long long>(k),
      static_cast<long long>(shape.chunks()), static_cast<long long>(shape.chunk_rows), parts,
      static_cast<unsigned long long>(shape.seed), seconds_since(made));

  // The queries; each result is hashed group by group in key order.
  query_clock clock;
  result_hash checksum;
  const auto q1 = run_query<totals>(frame, "q1 sum v1 by id1", k, clock,
                                    group_partition<sum_v1_by_id1>, sum_v1_by_id1{k});
  for (std::size_t key = 0; key < q1.size(); ++key) {
    if (q1[key].rows == 0) continue;
    checksum.add(frame.id1_levels[key]);
    checksum.add(q1[key].v1);
  }
  const auto q2 = run_query<totals>(frame, "q2 sum v1 by id1, id2", k * k, clock,
                                    group_partition<sum_v1_by_id1_id2>,
                                    sum_v1_by_id1_id2{k * k, static_cast<std::int32_t>(k)});
  for (std::size_t key = 0; key < q2.size(); ++key) {
    if (q2[key].rows == 0) continue;
    checksum.add(frame.id1_levels[key / k]);
    checksum.add(frame.id1_levels[key % k]);
    checksum.add(q2[key].v1);
  }
  const auto q3 =
      run_query<totals>(frame, "q3 sum v1, mean v3 by id3", large, clock,
                        group_partition<sum_v1_mean_v3_by_id3>, sum_v1_mean_v3_by_id3{large});
  for (std::size_t key = 0; key < q3.size(); ++key) {
    if (q3[key].rows == 0) continue;
    checksum.add(frame.id3_levels[key]);
    checksum.add(q3[key].v1);
    checksum.add(q3[key].v3 / static_cast<double>(q3[key].rows));
  }
  const auto q4 = run_query<totals>(frame, "q4 mean v1, v2, v3 by id4", k, clock,
                                    group_partition<sum_v1_v2_v3>, sum_v1_v2_v3{k, false});
  for (std::size_t key = 0; key < q4.size(); ++key) {
    if (q4[key].rows == 0) continue;
    const auto rows = static_cast<double>(q4[key].rows);
    checksum.add(static_cast<std::int64_t>(key + 1));
    checksum.add(static_cast<double>(q4[key].v1) / rows);
    checksum.add(static_cast<double>(q4[key].v2) / rows);
    checksum.add(q4[key].v3 / rows);
  }
  const auto q5 = run_query<totals>(frame, "q5 sum v1, v2, v3 by id6", large, clock,
                                    group_partition<sum_v1_v2_v3>, sum_v1_v2_v3{large, true});
  for (std::size_t key = 0; key < q5.size(); ++key) {
    if (q5[key].rows == 0) continue;
    checksum.add(static_cast<std::int64_t>(key + 1));
    checksum.add(q5[key].v1);
    checksum.add(q5[key].v2);
    checksum.add(q5[key].v3);
  }
  const auto q6 =
      run_query<extremes>(frame, "q6 max v1 - min v2 by id3", large, clock,
                          group_partition<range_v1_v2_by_id3>, range_v1_v2_by_id3{large});
  for (std::size_t key = 0; key < q6.size(); ++key) {
    if (q6[key].rows == 0) continue;
    checksum.add(frame.id3_levels[key]);
    checksum.add(static_cast<std::int64_t>(q6[key].max_v1 - q6[key].min_v2));
  }
  const auto filter = run_query<totals>(frame, "filter v3 > 50 and id4 <= K/2: count, sum v3", 1,
                                        clock, group_partition<filtered_sum_v3>,
                                        filtered_sum_v3{1, static_cast<std::int32_t>(k / 2)});
  checksum.add(filter[0].rows);
  checksum.add(filter[0].v3);
  const auto join = run_query<totals>(frame, "join on id4: sum v1, sum v3 * weight by region",
                                      regions, clock, join_partition, make_dimension(k));
  for (std::size_t key = 0; key < join.size(); ++key) {
    if (join[key].rows == 0) continue;
    checksum.add(static_cast<std::int64_t>(key));
    checksum.add(join[key].rows);
    checksum.add(join[key].v1);
    checksum.add(join[key].v3);
  }

  std::printf("checksum %016llx\n", static_cast<unsigned long long>(checksum.value()));
  std::printf("throughput %.0f rows/s (%d queries over %lld rows in %.4f s)\n",
              static_cast<double>(shape.rows) * clock.queries / clock.seconds, clock.queries,
              static_cast<long long>(shape.rows), clock.seconds);
  return 0;
}
