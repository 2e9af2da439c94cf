// kvstore-check-history: checks that a history written by `kvstore-std --history FILE` or
// `kvstore-drust --history FILE` is linearizable key by key: every get returned either a miss that
// no set of its key had to precede, or a value that a set of its key wrote, and each key's
// operations can be put in one order that keeps every acknowledged write visible and respects real
// time (an operation that responded before another was invoked comes first).
//
//   kvstore-check-history [--skew NS] FILE
//
// Exit status 0 and `history ok: N operations on K keys`; 1 and a report naming the key, the
// operations and why, for a history that is not linearizable; 2 for a usage error or a file that
// is not a history. --skew NS: how far apart the clocks of the recording processes may be (0 on
// one machine, where every process reads the same CLOCK_MONOTONIC): an operation counts as
// preceding another only when it responded more than NS before the other was invoked.
//
// The file: one operation a line, `node.thread kind key value invoke_ns response_ns` (README.md,
// "History mode"); `#` starts a comment line.
//
// The algorithm (Gibbons and Korach, "Testing shared memories", SIAM J. Comput. 1997: for a
// register whose writes write distinct values, linearizability is decidable in O(n log n)). Each
// key is checked alone: linearizability is local (Herlihy and Wing 1990), so a history is
// linearizable iff each key's is.
//   1. A cluster is a set of one key with the gets that returned its value; the key's initial
//      absence is a cluster too, made of a virtual set before all time and the gets that missed.
//      A get whose value no set of its key wrote, or that responded before its set was invoked,
//      is a violation at once.
//   2. In any linearization of a register with distinct values, each cluster's operations are
//      contiguous: the set, then its gets, until the next set. So clusters must be totally ordered
//      such that if an operation of cluster A responded before an operation of cluster B was
//      invoked, A comes first. With f(A) the earliest response in A and s(B) the latest invoke in
//      B, that is the edge A -> B iff f(A) < s(B). Conversely, any order of the clusters that
//      follows every edge gives a linearization (each cluster's set first, then its gets by invoke
//      time; step 1 ensured no get precedes its own set). So the key is linearizable iff this
//      graph has no cycle.
//   3. A cycle implies a cycle of two: take a shortest cycle and its cluster A with the smallest
//      f; the edge into A gives f(A) <= f(Z) < s(A), and then for the cluster C two steps on,
//      f(A) <= f(B) < s(C): the chord A -> C makes a shorter cycle unless the cycle has length 2.
//      So the check looks for two clusters A, B with f(A) < s(B) and f(B) < s(A): a sweep over the
//      clusters by s, keeping the largest s among those whose f is already below, finds one in
//      O(c log c) if there is one.
// A two-cycle is, for instance, a stale read (a set of value 2 completed after a set of 1 and
// before a get that returned 1 began), a miss after a set completed, or two readers that saw two
// values in opposite orders. What the check does not see: operations that were never recorded
// (a thread that died), and the register's contents outside the recorded window.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

enum class operation_kind { set, get, miss, malformed };

struct operation {
  std::uint64_t key;
  std::uint64_t writer, op;  // the value written or read (set, get)
  std::int64_t invoke_ns, response_ns;
  std::uint32_t node, thread;
  operation_kind kind;
  std::size_t line;  // in the file, so that a report names it
};

// Timestamps are kept below this, so that adding a skew never overflows.
constexpr std::int64_t largest_time = std::int64_t{1} << 62;
// The virtual set of the key's initial absence: before every operation.
constexpr std::int64_t before_all_time = std::numeric_limits<std::int64_t>::min() / 2;

// ---- Reading the history ---------------------------------------------------------------------

struct read_error {
  std::size_t line;
  std::string cause;
};

std::optional<std::uint64_t> parse_unsigned(std::string_view text, int base) {
  if (text.empty() || text.front() == '-' || text.front() == '+') return std::nullopt;
  const std::string copy(text);
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(copy.c_str(), &end, base);
  if (errno != 0 || end != copy.c_str() + copy.size()) return std::nullopt;
  return value;
}

// "A.B" as two numbers (a thread's node.thread, a value's writer.op).
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_pair(std::string_view text) {
  const std::size_t dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const auto first = parse_unsigned(text.substr(0, dot), 10);
  const auto second = parse_unsigned(text.substr(dot + 1), 10);
  if (!first || !second) return std::nullopt;
  return std::pair{*first, *second};
}

// One line into an operation; the cause of the problem otherwise.
std::optional<std::string> parse_line(const std::string& text, operation& out) {
  std::istringstream fields(text);
  std::string thread, kind, key, value, invoke, response, extra;
  if (!(fields >> thread >> kind >> key >> value >> invoke >> response) || (fields >> extra)) {
    return "expected 6 fields: node.thread kind key value invoke_ns response_ns";
  }
  const auto thread_id = parse_pair(thread);
  if (!thread_id || thread_id->first > UINT32_MAX || thread_id->second > UINT32_MAX) {
    return "the thread '" + thread + "' is not node.thread (two numbers)";
  }
  out.node = static_cast<std::uint32_t>(thread_id->first);
  out.thread = static_cast<std::uint32_t>(thread_id->second);
  const auto key_number = parse_unsigned(key, 16);
  if (!key_number) return "the key '" + key + "' is not a hexadecimal number";
  out.key = *key_number;
  out.writer = out.op = 0;
  if (kind == "set" || kind == "get") {
    if (kind == "get" && value == "miss") {
      out.kind = operation_kind::miss;
    } else if (kind == "get" && value == "malformed") {
      out.kind = operation_kind::malformed;
    } else {
      const auto written = parse_pair(value);
      if (!written)
        return "the value '" + value + "' is not writer.op" +
               (kind == "get" ? ", miss or malformed" : "");
      out.kind = kind == "set" ? operation_kind::set : operation_kind::get;
      out.writer = written->first;
      out.op = written->second;
    }
  } else {
    return "the kind '" + kind + "' is neither set nor get";
  }
  const auto invoked = parse_unsigned(invoke, 10);
  const auto responded = parse_unsigned(response, 10);
  if (!invoked || !responded || *invoked >= largest_time || *responded >= largest_time) {
    return "the times '" + invoke + "' and '" + response + "' are not two numbers of ns below 2^62";
  }
  if (*responded < *invoked)
    return "the response (" + response + " ns) comes before the invoke (" + invoke + " ns)";
  out.invoke_ns = static_cast<std::int64_t>(*invoked);
  out.response_ns = static_cast<std::int64_t>(*responded);
  return std::nullopt;
}

std::optional<read_error> read_history(std::istream& in, std::vector<operation>& operations) {
  std::string text;
  for (std::size_t line = 1; std::getline(in, text); ++line) {
    const std::size_t first = text.find_first_not_of(" \t\r");
    if (first == std::string::npos || text[first] == '#') continue;
    operation parsed{};
    if (auto problem = parse_line(text, parsed)) return read_error{line, *std::move(problem)};
    parsed.line = line;
    operations.push_back(parsed);
  }
  return std::nullopt;
}

// ---- Checking one key ------------------------------------------------------------------------

// A set and the gets that returned its value; or (set == nullptr) the key's initial absence and
// the gets that missed.
struct cluster {
  const operation* set = nullptr;
  // f: the earliest response, and its operation (for the absence: its virtual set's, nullptr).
  std::int64_t earliest_response = before_all_time;
  const operation* earliest_responder = nullptr;
  // s: the latest invoke, and its operation.
  std::int64_t latest_invoke = before_all_time;
  const operation* latest_invoker = nullptr;

  // Adds an operation (the set itself, or a get of the value). The absence's earliest response
  // stays its virtual set's, before all time.
  void add(const operation& o) {
    if (set != nullptr && (earliest_responder == nullptr || o.response_ns < earliest_response)) {
      earliest_response = o.response_ns;
      earliest_responder = &o;
    }
    if (latest_invoker == nullptr || o.invoke_ns > latest_invoke) {
      latest_invoke = o.invoke_ns;
      latest_invoker = &o;
    }
  }
};

std::string describe(const operation& o) {
  char text[256];
  const char* value_text = "";
  char value[48];
  switch (o.kind) {
    case operation_kind::miss:
      value_text = "miss";
      break;
    case operation_kind::malformed:
      value_text = "a malformed value";
      break;
    default:
      std::snprintf(value, sizeof value, "%llu.%llu", static_cast<unsigned long long>(o.writer),
                    static_cast<unsigned long long>(o.op));
      value_text = value;
  }
  std::snprintf(text, sizeof text,
                "line %zu: thread %u.%u %s %s, invoked %lld ns, responded %lld ns", o.line, o.node,
                o.thread, o.kind == operation_kind::set ? "set" : "get ->", value_text,
                static_cast<long long>(o.invoke_ns), static_cast<long long>(o.response_ns));
  return text;
}

std::string value_name(const cluster& c) {
  if (c.set == nullptr) return "the initial absence (miss)";
  return "value " + std::to_string(c.set->writer) + "." + std::to_string(c.set->op);
}

// Why cluster `before` must be linearized before cluster `after` (the edge before -> after).
std::string why_before(const cluster& before, const cluster& after) {
  std::string why = "  " + value_name(before) + " must come before " + value_name(after) + ": ";
  if (before.earliest_responder == nullptr)
    return why + "the absence precedes every set of the key\n";
  return why + "[" + describe(*before.earliest_responder) + "] responded before [" +
         describe(*after.latest_invoker) + "] was invoked\n";
}

// The operations of one key (all with the same key): the violation report, or nothing.
std::optional<std::string> check_key(const std::vector<const operation*>& operations,
                                     std::int64_t skew_ns) {
  char key_text[32];
  std::snprintf(key_text, sizeof key_text, "%016llx",
                static_cast<unsigned long long>(operations.front()->key));
  const std::string key = key_text;

  // Step 1: the clusters, and the gets that cannot belong to one.
  std::vector<cluster> clusters(1);  // clusters[0]: the initial absence
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::size_t> cluster_of_value;  // by writer.op
  for (const operation* o : operations) {
    if (o->kind != operation_kind::set) continue;
    const auto [at, inserted] = cluster_of_value.try_emplace({o->writer, o->op}, clusters.size());
    if (!inserted) {
      return "key " + key +
             ": two sets wrote the same value, which the check cannot tell apart\n  [" +
             describe(*clusters[at->second].set) + "]\n  [" + describe(*o) + "]\n";
    }
    cluster c;
    c.set = o;
    c.add(*o);
    clusters.push_back(c);
  }
  for (const operation* o : operations) {
    switch (o->kind) {
      case operation_kind::set:
        break;
      case operation_kind::malformed:
        return "key " + key + ": a get read a malformed value (its key or seal is wrong: " +
               "a torn or misplaced write)\n  [" + describe(*o) + "]\n";
      case operation_kind::miss:
        clusters[0].add(*o);
        break;
      case operation_kind::get: {
        const auto written = cluster_of_value.find({o->writer, o->op});
        if (written == cluster_of_value.end()) {
          return "key " + key + ": a get returned a value that no set of this key wrote " +
                 "(a value from nowhere)\n  [" + describe(*o) + "]\n";
        }
        cluster& c = clusters[written->second];
        if (o->response_ns + skew_ns < c.set->invoke_ns) {
          return "key " + key +
                 ": a get returned a value before the set that wrote it was invoked\n  [" +
                 describe(*o) + "]\n  [" + describe(*c.set) + "]\n";
        }
        c.add(*o);
        break;
      }
    }
  }

  // Steps 2 and 3: two clusters A, B with f(A) + skew < s(B) and f(B) + skew < s(A). Sweep B by
  // increasing s; the clusters A with f(A) + skew < s(B) are then a growing prefix by f, of which
  // the two with the largest s are kept (two, because A must differ from B).
  const auto earliest = [&](std::size_t c) { return clusters[c].earliest_response + skew_ns; };
  std::vector<std::size_t> by_earliest(clusters.size()), by_latest(clusters.size());
  for (std::size_t c = 0; c < clusters.size(); ++c) by_earliest[c] = by_latest[c] = c;
  std::sort(by_earliest.begin(), by_earliest.end(),
            [&](std::size_t a, std::size_t b) { return earliest(a) < earliest(b); });
  std::sort(by_latest.begin(), by_latest.end(), [&](std::size_t a, std::size_t b) {
    return clusters[a].latest_invoke < clusters[b].latest_invoke;
  });
  std::optional<std::size_t> largest, second_largest;  // by latest_invoke, among those admitted
  std::size_t admitted = 0;
  for (const std::size_t b : by_latest) {
    for (; admitted < by_earliest.size() &&
           earliest(by_earliest[admitted]) < clusters[b].latest_invoke;
         ++admitted) {
      const std::size_t a = by_earliest[admitted];
      if (!largest || clusters[a].latest_invoke > clusters[*largest].latest_invoke) {
        second_largest = largest;
        largest = a;
      } else if (!second_largest ||
                 clusters[a].latest_invoke > clusters[*second_largest].latest_invoke) {
        second_largest = a;
      }
    }
    const std::optional<std::size_t> a = largest == b ? second_largest : largest;
    if (a && clusters[*a].latest_invoke > earliest(b)) {
      return "key " + key + ": no order of the key's values fits real time" +
             (skew_ns > 0 ? " (with a skew of " + std::to_string(skew_ns) + " ns)"
                          : std::string()) +
             ":\n" + why_before(clusters[*a], clusters[b]) + why_before(clusters[b], clusters[*a]);
    }
  }
  return std::nullopt;
}

void usage() {
  std::cerr << "usage: kvstore-check-history [--skew NS] FILE\n"
               "  FILE: a history written by kvstore-std or kvstore-drust --history FILE\n"
               "  --skew NS: how far apart the recording processes' clocks may be (default 0: one "
               "machine)\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t skew_ns = 0;
  std::string path;
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    if (argument == "--skew" && i + 1 < argc) {
      const auto skew = parse_unsigned(argv[++i], 10);
      if (!skew || *skew >= largest_time) {
        std::cerr << "kvstore-check-history: --skew '" << argv[i]
                  << "' is not a number of ns below 2^62\n";
        return 2;
      }
      skew_ns = static_cast<std::int64_t>(*skew);
    } else if (path.empty() && !argument.starts_with("--")) {
      path = argument;
    } else {
      usage();
      return 2;
    }
  }
  if (path.empty()) {
    usage();
    return 2;
  }

  std::ifstream in(path);
  if (!in) {
    std::cerr << "kvstore-check-history: cannot open " << path << ": " << std::strerror(errno)
              << " (give the file that --history wrote)\n";
    return 2;
  }
  std::vector<operation> operations;
  if (const auto problem = read_history(in, operations)) {
    std::cerr << "kvstore-check-history: " << path << ":" << problem->line << ": " << problem->cause
              << " (README.md, \"History mode\", describes the format)\n";
    return 2;
  }
  if (in.bad()) {
    std::cerr << "kvstore-check-history: reading " << path << " failed: " << std::strerror(errno)
              << "\n";
    return 2;
  }

  // Group by key, in file order within a key (so that a report names the first lines).
  std::vector<const operation*> by_key(operations.size());
  for (std::size_t i = 0; i < operations.size(); ++i) by_key[i] = &operations[i];
  std::stable_sort(by_key.begin(), by_key.end(),
                   [](const operation* a, const operation* b) { return a->key < b->key; });

  constexpr std::size_t reports_shown = 10;
  std::size_t keys = 0, violating_keys = 0;
  std::vector<const operation*> one_key;
  for (std::size_t begin = 0; begin < by_key.size();) {
    std::size_t end = begin;
    while (end < by_key.size() && by_key[end]->key == by_key[begin]->key) ++end;
    one_key.assign(by_key.begin() + static_cast<std::ptrdiff_t>(begin),
                   by_key.begin() + static_cast<std::ptrdiff_t>(end));
    ++keys;
    if (const auto report = check_key(one_key, skew_ns)) {
      if (violating_keys < reports_shown) std::cout << "violation: " << *report;
      ++violating_keys;
    }
    begin = end;
  }
  if (violating_keys != 0) {
    std::cout << "history NOT linearizable: " << violating_keys << " of " << keys << " keys violate"
              << (violating_keys > reports_shown
                      ? " (the first " + std::to_string(reports_shown) + " shown)"
                      : std::string())
              << ", " << operations.size() << " operations\n";
    return 1;
  }
  std::cout << "history ok: " << operations.size() << " operations on " << keys << " keys\n";
  return 0;
}
