// kvstore (the original, std threading only): an in-memory key-value store driven by a YCSB-style
// workload.
//
// The table is sharded into buckets; each bucket is a sorted vector of (key, 32-byte value)
// entries owned by its own mutex (guarded<T>, a mutex that owns its data: guarded.hpp). The
// workload is YCSB's: a load phase inserts every key, then worker threads run a mixed phase of 90%
// gets and 10% sets whose keys follow a Zipf(0.99) popularity (hot keys scrambled over the
// buckets). The program prints the workload, a result checksum that does not depend on how the
// threads interleave, and the mixed phase's throughput. samples/kvstore/README.md says why the
// checksum is deterministic; kvstore_drust.cpp is the port to drust. With --history FILE, every
// operation's invoke and response is written to FILE for kvstore-check-history (check_history.cpp).
//
//   kvstore-std [--keys N] [--ops N] [--threads N] [--buckets N] [--seed N] [--history FILE]
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "guarded.hpp"

namespace {

// ---- Keys, values, the table ------------------------------------------------------------------

// splitmix64's finaliser: a bijection on 64-bit words that mixes every bit into every other.
constexpr std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The key of item `index` (0 is the most popular): a bijection, so keys are distinct, and it
// scrambles popularity over the buckets as YCSB's "scrambled zipfian" does.
constexpr std::uint64_t key_of(std::uint64_t index) { return mix(index ^ 0x6b76'7374'6f72'6521ULL); }

// A 32-byte value: [key, writer, op, seal]. The writer is 0 for the load phase and thread + 1 for
// a set; the op is the writer's op index (the item's index for the load phase). So every value
// ever written is distinct (the history checker tells which set a get saw), and the seal lets a
// get check what it read.
using value_type = std::array<std::uint64_t, 4>;

constexpr std::uint64_t seal(std::uint64_t key, std::uint64_t writer, std::uint64_t op) {
  return mix(key ^ mix(writer ^ mix(op)));
}
constexpr value_type make_value(std::uint64_t key, std::uint64_t writer, std::uint64_t op) {
  return {key, writer, op, seal(key, writer, op)};
}
constexpr bool well_formed(std::uint64_t key, const value_type& value) {
  return value[0] == key && value[3] == seal(value[0], value[1], value[2]);
}

struct entry {
  std::uint64_t key;
  value_type value;
};

// A bucket: its entries sorted by key. Buckets stay small (keys / buckets entries), so a binary
// search and an insert that shifts the tail are cheap.
using bucket = std::vector<entry>;
using locked_bucket = guarded<bucket>;
// The table: one shared, never resized array of buckets; each bucket is locked on its own.
using table = std::vector<std::shared_ptr<locked_bucket>>;

// Where `key` is in a bucket's sorted entries, or where it would go. The search reads through a
// const bucket; the caller then writes one element by index (set), so a write never goes through
// an iterator taken before another non-const access (see README.md, "A drust limit met").
std::size_t position_of(const bucket& entries, std::uint64_t key) {
  const auto at = std::lower_bound(entries.begin(), entries.end(), key,
                                   [](const entry& e, std::uint64_t k) { return e.key < k; });
  return static_cast<std::size_t>(at - entries.begin());
}

locked_bucket& bucket_for(const table& buckets, std::uint64_t key) { return *buckets[key % buckets.size()]; }

std::optional<value_type> get(const table& buckets, std::uint64_t key) {
  const auto held = bucket_for(buckets, key).lock();
  const bucket& entries = *held;
  const std::size_t at = position_of(entries, key);
  if (at == entries.size() || entries[at].key != key) return std::nullopt;
  return entries[at].value;
}

void set(const table& buckets, std::uint64_t key, const value_type& value) {
  auto held = bucket_for(buckets, key).lock();
  bucket& entries = *held;
  const std::size_t at = position_of(entries, key);
  if (at < entries.size() && std::as_const(entries)[at].key == key) {
    entries[at].value = value;
  } else {
    entries.insert(entries.begin() + static_cast<std::ptrdiff_t>(at), entry{key, value});
  }
}

// ---- The workload ---------------------------------------------------------------------------

// Zipf over [0, n) with skew theta, item 0 the most popular: Gray et al., "Quickly generating
// billion-record synthetic databases" (SIGMOD 1994), as YCSB's ZipfianGenerator computes it.
struct zipf_parameters {
  std::uint64_t n;
  double theta, alpha, zetan, eta, half_pow_theta;
};

zipf_parameters make_zipf(std::uint64_t n, double theta) {
  double zetan = 0;
  for (std::uint64_t i = 1; i <= n; ++i) zetan += 1.0 / std::pow(static_cast<double>(i), theta);
  const double zeta2 = 1.0 + std::pow(0.5, theta);
  return {n,
          theta,
          1.0 / (1.0 - theta),
          zetan,
          (1.0 - std::pow(2.0 / static_cast<double>(n), 1.0 - theta)) / (1.0 - zeta2 / zetan),
          std::pow(0.5, theta)};
}

// One thread's random stream (splitmix64): deterministic from its seed, shared with nobody.
class random_stream {
 public:
  explicit random_stream(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return mix(state_ += 0x9e3779b97f4a7c15ULL); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  std::uint64_t zipf(const zipf_parameters& z) {
    const double u = uniform();
    const double uz = u * z.zetan;
    if (uz < 1.0) return 0;
    if (uz < 1.0 + z.half_pow_theta) return 1;
    const auto item = static_cast<std::uint64_t>(static_cast<double>(z.n) * std::pow(z.eta * u - z.eta + 1.0, z.alpha));
    return std::min(item, z.n - 1);
  }

 private:
  std::uint64_t state_;
};

struct options {
  std::uint64_t keys = 20'000;
  std::uint64_t ops = 200'000;
  std::uint64_t threads = 4;
  std::uint64_t buckets = 64;
  std::uint64_t seed = 42;
  bool record_history = false;  // --history: the threads record every operation
};

// ---- History mode (--history FILE) -----------------------------------------------------------

// One operation as its thread saw it, for kvstore-check-history: the value is named by its
// [writer, op] words, which are unique (make_value). Plain values only, so a thread on another
// node returns its records as a std::vector, copied back with its result.
enum class operation_kind : std::uint8_t { set, get, get_miss, get_malformed };

struct history_record {
  std::uint64_t key;
  std::uint64_t writer, op;  // the value written or read (0, 0 for a miss)
  std::int64_t invoke_ns;    // read just before the call
  std::int64_t response_ns;  // read just after it returned
  std::uint32_t node, thread;
  operation_kind kind;
};
using history = std::vector<history_record>;

// steady_clock (CLOCK_MONOTONIC) in ns: every process on one machine reads the same clock, so the
// records of threads on different nodes of a one-host job compare directly (README.md).
std::int64_t now_ns() {
  const auto since_boot = std::chrono::steady_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(since_boot).count();
}

// The node this thread runs on, to name it in the history: drun gives each node's process its
// number in DRUST_NODE; a process started without drun (the original) is node 0.
std::uint32_t this_node() {
  const char* node = std::getenv("DRUST_NODE");
  return node == nullptr ? 0 : static_cast<std::uint32_t>(std::strtoul(node, nullptr, 10));
}

// A thread's history. Off (no --history), it reads no clock and records nothing; on, it keeps the
// records in memory (no I/O, nothing shared) until the thread returns them.
class history_recorder {
 public:
  history_recorder(bool on, std::uint64_t thread, std::uint64_t operations)
      : on_(on), node_(on ? this_node() : 0), thread_(static_cast<std::uint32_t>(thread)) {
    if (on_) records_.reserve(operations);
  }

  // The invoke time, to be passed back with the operation's outcome.
  std::int64_t invoke() const { return on_ ? now_ns() : 0; }

  void set_returned(std::uint64_t key, std::uint64_t writer, std::uint64_t op, std::int64_t invoked) {
    if (on_) records_.push_back({key, writer, op, invoked, now_ns(), node_, thread_, operation_kind::set});
  }

  void get_returned(std::uint64_t key, const std::optional<value_type>& value, std::int64_t invoked) {
    if (!on_) return;
    history_record record{key, 0, 0, invoked, now_ns(), node_, thread_, operation_kind::get_miss};
    if (value) {
      record.kind = well_formed(key, *value) ? operation_kind::get : operation_kind::get_malformed;
      record.writer = (*value)[1];
      record.op = (*value)[2];
    }
    records_.push_back(record);
  }

  history take() { return std::move(records_); }

 private:
  bool on_;
  std::uint32_t node_, thread_;
  history records_;
};

// The history file: one line per operation (README.md, "History mode"). Returns false when it
// cannot be written.
bool write_history(const std::string& path, const history& records) {
  std::FILE* out = std::fopen(path.c_str(), "w");
  if (out == nullptr) return false;
  std::fprintf(out, "# kvstore history 1: node.thread kind key value invoke_ns response_ns\n");
  for (const history_record& r : records) {
    static constexpr const char* kind_names[] = {"set", "get", "get", "get"};
    std::fprintf(out, "%u.%u %s %016llx ", r.node, r.thread, kind_names[static_cast<int>(r.kind)],
                 static_cast<unsigned long long>(r.key));
    if (r.kind == operation_kind::get_miss) {
      std::fputs("miss", out);
    } else if (r.kind == operation_kind::get_malformed) {
      std::fputs("malformed", out);
    } else {
      std::fprintf(out, "%llu.%llu", static_cast<unsigned long long>(r.writer),
                   static_cast<unsigned long long>(r.op));
    }
    std::fprintf(out, " %lld %lld\n", static_cast<long long>(r.invoke_ns),
                 static_cast<long long>(r.response_ns));
  }
  const bool written = std::ferror(out) == 0;
  return std::fclose(out) == 0 && written;
}

// What a worker thread is given besides the table: plain values.
struct worker_task {
  std::uint64_t thread;
  options settings;
  zipf_parameters zipf;
};

struct worker_result {
  std::uint64_t gets = 0, sets = 0, hits = 0, misses = 0, malformed = 0;
};

// What a thread returns: its counts, and its history (empty without --history).
using load_result = std::pair<std::uint64_t, history>;
using run_result = std::pair<worker_result, history>;

// Load phase: thread t inserts the keys of items t, t + threads, t + 2 threads, ...
load_result load(std::shared_ptr<const table> buckets, worker_task task) {
  history_recorder recorder(task.settings.record_history, task.thread, task.settings.keys / task.settings.threads + 1);
  std::uint64_t inserted = 0;
  for (std::uint64_t index = task.thread; index < task.settings.keys; index += task.settings.threads) {
    const std::uint64_t key = key_of(index);
    const std::int64_t invoked = recorder.invoke();
    set(*buckets, key, make_value(key, 0, index));
    recorder.set_returned(key, 0, index, invoked);
    ++inserted;
  }
  return {inserted, recorder.take()};
}

// Mixed phase: this thread's share of the ops, 90% gets and 10% sets of Zipf-popular items. A set
// goes to the item of the same popularity rank among those this thread owns (items whose index is
// the thread's number modulo the thread count), so each key has one writer: the table's final
// contents do not depend on how the threads interleave (README.md).
run_result run(std::shared_ptr<const table> buckets, worker_task task) {
  const options& o = task.settings;
  random_stream random(mix(o.seed) ^ mix(task.thread + 1));
  const std::uint64_t ops = o.ops / o.threads + (task.thread < o.ops % o.threads ? 1 : 0);
  history_recorder recorder(o.record_history, task.thread, ops);
  worker_result result;
  for (std::uint64_t op = 0; op < ops; ++op) {
    std::uint64_t index = random.zipf(task.zipf);
    if (random.next() % 10 != 0) {
      ++result.gets;
      const std::uint64_t key = key_of(index);
      const std::int64_t invoked = recorder.invoke();
      const std::optional<value_type> value = get(*buckets, key);
      recorder.get_returned(key, value, invoked);
      if (!value) {
        ++result.misses;
      } else {
        ++result.hits;
        if (!well_formed(key, *value)) ++result.malformed;
      }
    } else {
      ++result.sets;
      index = index - index % o.threads + task.thread;
      if (index >= o.keys) index -= o.threads;
      const std::uint64_t key = key_of(index);
      const std::int64_t invoked = recorder.invoke();
      set(*buckets, key, make_value(key, task.thread + 1, op));
      recorder.set_returned(key, task.thread + 1, op, invoked);
    }
  }
  return {result, recorder.take()};
}

// A digest of the table's contents: a sum over entries, so the order of buckets and entries does
// not matter.
std::uint64_t digest(const table& buckets, std::uint64_t& entries) {
  std::uint64_t sum = 0;
  entries = 0;
  for (const auto& locked : buckets) {
    const auto held = locked->lock();
    for (const entry& e : std::as_const(*held)) {
      std::uint64_t h = mix(e.key);
      for (const std::uint64_t word : e.value) h = mix(h ^ word);
      sum += h;
      ++entries;
    }
  }
  return sum;
}

// ---- The program -----------------------------------------------------------------------------

void usage() {
  std::fprintf(stderr,
               "usage: kvstore [--keys N] [--ops N] [--threads N] [--buckets N] [--seed N] [--history FILE]\n"
               "  defaults: --keys 20000 --ops 200000 --threads 4 --buckets 64 --seed 42, no history\n");
}

bool parse(int argc, char** argv, options& o, std::string& history_path) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--history" && i + 1 < argc) {
      history_path = argv[++i];
      o.record_history = !history_path.empty();
      continue;
    }
    std::uint64_t* target = flag == "--keys"      ? &o.keys
                            : flag == "--ops"     ? &o.ops
                            : flag == "--threads" ? &o.threads
                            : flag == "--buckets" ? &o.buckets
                            : flag == "--seed"    ? &o.seed
                                                  : nullptr;
    if (target == nullptr || i + 1 == argc) return false;
    char* end = nullptr;
    *target = std::strtoull(argv[++i], &end, 10);
    if (end == argv[i] || *end != '\0') return false;
  }
  return o.keys >= 2 && o.threads >= 1 && o.threads <= o.keys && o.buckets >= 1;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  std::string history_path;
  if (!parse(argc, argv, o, history_path)) {
    usage();
    return 2;
  }
  const zipf_parameters zipf = make_zipf(o.keys, 0.99);

  table made;
  made.reserve(o.buckets);
  for (std::uint64_t i = 0; i < o.buckets; ++i) made.push_back(std::make_shared<locked_bucket>());
  const auto buckets = std::make_shared<const table>(std::move(made));

  history records;  // every thread's, with --history
  std::vector<std::future<load_result>> loads;
  for (std::uint64_t t = 0; t < o.threads; ++t) loads.push_back(std::async(std::launch::async, load, buckets, worker_task{t, o, zipf}));
  std::uint64_t loaded = 0;
  for (auto& f : loads) {
    const load_result r = f.get();
    loaded += r.first;
    records.insert(records.end(), r.second.begin(), r.second.end());
  }

  const auto start = std::chrono::steady_clock::now();
  std::vector<std::future<run_result>> workers;
  for (std::uint64_t t = 0; t < o.threads; ++t) workers.push_back(std::async(std::launch::async, run, buckets, worker_task{t, o, zipf}));
  worker_result total;
  for (auto& f : workers) {
    const auto [r, recorded] = f.get();
    records.insert(records.end(), recorded.begin(), recorded.end());
    total.gets += r.gets;
    total.sets += r.sets;
    total.hits += r.hits;
    total.misses += r.misses;
    total.malformed += r.malformed;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::uint64_t entries = 0;
  const std::uint64_t contents = digest(*buckets, entries);
  std::uint64_t checksum = contents;
  for (const std::uint64_t count : {entries, total.gets, total.sets, total.hits, total.misses, total.malformed}) checksum = mix(checksum ^ count);

  std::printf("kvstore: %llu keys in %llu buckets, %llu threads, %llu ops (90%% get, Zipf 0.99, 32-byte values, seed %llu)\n",
              static_cast<unsigned long long>(o.keys), static_cast<unsigned long long>(o.buckets),
              static_cast<unsigned long long>(o.threads), static_cast<unsigned long long>(o.ops),
              static_cast<unsigned long long>(o.seed));
  std::printf("loaded %llu, entries %llu, gets %llu (hits %llu, misses %llu, malformed %llu), sets %llu\n",
              static_cast<unsigned long long>(loaded), static_cast<unsigned long long>(entries),
              static_cast<unsigned long long>(total.gets), static_cast<unsigned long long>(total.hits),
              static_cast<unsigned long long>(total.misses), static_cast<unsigned long long>(total.malformed),
              static_cast<unsigned long long>(total.sets));
  std::printf("checksum %016llx\n", static_cast<unsigned long long>(checksum));
  std::printf("throughput %.0f ops/s (mixed phase %.3f s)\n", static_cast<double>(o.ops) / seconds, seconds);
  if (o.record_history) {
    if (!write_history(history_path, records)) {
      std::fprintf(stderr, "kvstore: cannot write the history to %s: %s (check that its folder exists and is writable)\n",
                   history_path.c_str(), std::strerror(errno));
      return 1;
    }
    std::printf("history: %zu operations written to %s\n", records.size(), history_path.c_str());
  }
  return total.misses == 0 && total.malformed == 0 && entries == o.keys ? 0 : 1;
}
