#include "runtime/node_config.hpp"

#include <cstdlib>
#include <string>
#include <thread>

namespace drust::runtime {

namespace {

const char* variable(const char* name) {
  const char* value = ::std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

absl::StatusOr<::std::uint64_t> number(const char* name, ::std::uint64_t fallback) {
  const char* text = variable(name);
  if (text == nullptr) return fallback;
  char* end = nullptr;
  errno = 0;
  unsigned long long value = ::std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') {
    return absl::InvalidArgumentError(absl::StrCat(name, "='", text, "' is not a number"));
  }
  return value;
}

// An on/off setting: `fallback` when unset; another value is an error that names `what`.
absl::StatusOr<bool> switch_setting(const char* name, bool fallback, const char* what) {
  const char* text = variable(name);
  if (text == nullptr) return fallback;
  const ::std::string value(text);
  if (value != "on" && value != "off") {
    return absl::InvalidArgumentError(absl::StrCat(name, "='", value, "' is neither 'on' nor 'off' (", what, ")"));
  }
  return value == "on";
}

absl::StatusOr<::std::string> required(const char* name) {
  const char* text = variable(name);
  if (text == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(name, " is not set: start the program with drun"));
  }
  return ::std::string(text);
}

}  // namespace

absl::StatusOr<node_config> node_config::from_environment() {
  node_config config;
  config.cores = static_cast<int>(::std::max(1u, ::std::thread::hardware_concurrency()));
  DRUST_ASSIGN_OR_RETURN(config.heap_size, number("DRUST_HEAP_SIZE", config.heap_size));
  config.partition_size = config.heap_size;
  DRUST_ASSIGN_OR_RETURN(config.cache_size, number("DRUST_CACHE_SIZE", config.heap_size / 4));
  DRUST_ASSIGN_OR_RETURN(::std::uint64_t pressure, number("DRUST_HEAP_PRESSURE", 90));
  if (pressure < 1 || pressure > 100) {
    return absl::InvalidArgumentError(absl::StrCat("DRUST_HEAP_PRESSURE=", pressure, " is not a percentage from 1 to 100"));
  }
  config.heap_pressure = static_cast<double>(pressure) / 100.0;
  DRUST_ASSIGN_OR_RETURN(config.read_mirror, switch_setting("DRUST_MIRROR", config.read_mirror,
                                                             "the read mirror; docs/design/coherence.md"));
  DRUST_ASSIGN_OR_RETURN(config.mutex_leases, switch_setting("DRUST_MUTEX_LEASES", config.mutex_leases,
                                                             "mutex leases; docs/design/sync.md"));
  DRUST_ASSIGN_OR_RETURN(config.huge_pages, switch_setting("DRUST_HUGE_PAGES", config.huge_pages,
                                                           "huge pages for the heap; docs/design/heap.md"));
  if (variable("DRUST_NODE") == nullptr) return config;  // a one-node cluster

  config.in_job = true;
  DRUST_ASSIGN_OR_RETURN(::std::uint64_t node, number("DRUST_NODE", 0));
  DRUST_ASSIGN_OR_RETURN(::std::uint64_t nodes, number("DRUST_NODES", 0));
  if (nodes == 0 || node >= nodes) {
    return absl::InvalidArgumentError(absl::StrCat("DRUST_NODE=", node, " is not below DRUST_NODES=", nodes));
  }
  config.node = static_cast<int>(node);
  config.nodes = static_cast<int>(nodes);
  DRUST_ASSIGN_OR_RETURN(config.job, required("DRUST_JOB"));
  DRUST_ASSIGN_OR_RETURN(config.cookie, required("DRUST_COOKIE"));
  // Read once, here, before the program starts threads; the processes the program starts must not
  // inherit the job's secret (docs/RELIABILITY.md, "Security of a job").
  ::unsetenv("DRUST_COOKIE");
  DRUST_ASSIGN_OR_RETURN(config.controller, required("DRUST_CONTROLLER"));
  DRUST_ASSIGN_OR_RETURN(config.provider, required("DRUST_PROVIDER"));
  config.fabric_host = variable("DRUST_FABRIC_HOST") ? variable("DRUST_FABRIC_HOST") : "127.0.0.1";
  DRUST_ASSIGN_OR_RETURN(config.partition_size, number("DRUST_PARTITION_SIZE", config.heap_size));
  DRUST_ASSIGN_OR_RETURN(config.cache_size, number("DRUST_CACHE_SIZE", config.heap_size / 4));
  DRUST_ASSIGN_OR_RETURN(::std::uint64_t cores, number("DRUST_CORES", static_cast<::std::uint64_t>(config.cores)));
  config.cores = static_cast<int>(::std::max<::std::uint64_t>(1, cores));
  return config;
}

}  // namespace drust::runtime
