// A job's plan: every decision drun makes before it starts anything.
//
// The command line and the cluster file are combined here, once: which nodes run where, with how
// many cores and how much heap, which provider, where the controller listens. Everything after
// this point only carries the plan out, so a bad input is found before any process starts.
//
//   drun_options options;  options.node_count = 2;  options.command = {"./app"};
//   auto plan = make_job_plan(options, ::std::nullopt, default_host_facts());
//   if (plan.ok()) DRUST_RETURN_IF_ERROR(resolve_local_programs(*plan));
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster_file.hpp"
#include "common/status.hpp"

namespace drust::launcher {

inline constexpr ::std::uint64_t default_heap_size = 1ull << 30;
inline constexpr ::std::uint64_t partition_alignment = 2ull << 20;  // a huge page
inline constexpr int most_nodes = 4096;                              // a typo like -n 40000 must not fork-bomb

// What the command line (and drun's environment) asked for.
struct drun_options {
  ::std::optional<int> node_count;                           // -n
  ::std::optional<::std::string> cluster_path;               // --cluster
  ::std::vector<::std::string> command;                      // the program and its arguments
  bool tag_output = false;                                   // --tag-output
  ::std::optional<::std::string> provider;                   // --provider, as written
  ::std::optional<::std::string> provider_from_environment;  // DRUST_PROVIDER in drun's environment
  ::std::optional<::std::uint64_t> heap_size;                // --heap
  ::std::optional<::std::uint64_t> cache_size;               // --cache
  ::std::optional<int> heap_pressure;                        // --heap-pressure
  ::std::optional<int> cores;                                // --cores
  ::std::chrono::milliseconds bootstrap_timeout{30'000};     // --bootstrap-timeout
  ::std::chrono::milliseconds hang_timeout{10'000};          // --hang-timeout
  bool verbose = false;                                      // --verbose
  bool stats = false;                                        // --stats
  // The simulated cluster (docs/simulation.md): local nodes only.
  ::std::optional<double> cpu_quota;                         // --cpu-quota: cores per node
  bool separate_networks = false;                            // --netns
  ::std::optional<::std::chrono::microseconds> net_delay;    // --net-delay (needs --netns)
  // --cpu-bind: whether nodes sharing this machine each run on their own share of its CPUs.
  enum class cpu_binding { automatic, spread, none };
  cpu_binding bind_cpus = cpu_binding::automatic;  // spread while no two nodes need share a CPU
};

struct planned_node {
  int id = 0;
  ::std::string name;
  ::std::string host;                 // as the user wrote it
  bool local = true;                  // forked by drun, else started through ssh
  ::std::string program;              // the path executed on `host`
  ::std::string program_as_written;   // for argv[0] and messages: "./app", as the user wrote it
  int cores = 1;
  // The CPUs the node's process may run on (its affinity), or empty: wherever the kernel puts it.
  // Local nodes sharing this machine get disjoint shares of drun's CPUs (--cpu-bind spread).
  ::std::vector<int> cpus;
  ::std::uint64_t heap_size = 0;
  ::std::uint64_t cache_size = 0;
  int heap_pressure = default_heap_pressure;  // percent
  ::std::string fabric_host;          // DRUST_FABRIC_HOST
};

struct job_plan {
  ::std::string job_id;               // 16 hex digits
  ::std::string cookie;               // 32 hex digits
  ::std::string provider;             // full libfabric name, never "auto"
  ::std::uint64_t partition_size = 0;
  controller_address controller;      // where the controller listens
  ::std::string controller_advertised_host;  // the host nodes connect to (never a wildcard)
  ::std::vector<planned_node> nodes;
  ::std::string program;              // as given to drun, for messages ("./app")
  ::std::vector<::std::string> arguments;  // the program's arguments
  bool tag_output = false;
  bool verbose = false;
  bool stats = false;                 // print the nodes' counters at the end
  ::std::chrono::milliseconds bootstrap_timeout{30'000};
  // A started node silent for this long is taken as hung (stopped, deadlocked, cut off).
  ::std::chrono::milliseconds hang_timeout{10'000};
  // The simulated cluster: every node in a cgroup with this quota, and/or in its own network
  // namespace (then the controller's and the nodes' fabric addresses are filled in by run_job,
  // once the network exists).
  ::std::optional<double> cpu_quota;
  bool separate_networks = false;
  ::std::optional<::std::chrono::microseconds> net_delay;

  bool every_node_is_local() const;
};

// Where the plan learns about hosts; tests replace these.
struct host_facts {
  ::std::function<bool(const ::std::string&)> is_local;
  ::std::function<int()> local_cores;
  // The CPUs this process may run on (unset: 0 .. local_cores() - 1).
  ::std::function<::std::vector<int>()> local_cpus;
  ::std::function<absl::StatusOr<::std::map<::std::string, int>>(const ::std::vector<::std::string>&)> remote_cores;
  // This machine's address towards a remote host, or empty (unset: always empty).
  ::std::function<::std::string(const ::std::string&)> address_towards;
};

// This machine's answers (hosts.hpp); remote hosts are asked through ssh within `timeout`.
host_facts default_host_facts(::std::chrono::milliseconds timeout = ::std::chrono::seconds(15));

// Combines the options with the cluster file (when --cluster was given; `cluster` is then its
// parsed content). Precedence: command line > DRUST_PROVIDER (provider only) > file > defaults.
// Errors are ready to print after "drun: ".
// Shares `cpus` among `nodes` processes, in order: disjoint runs of consecutive CPUs (the first
// ones one CPU longer when they do not divide evenly), or, with more nodes than CPUs, one CPU each,
// taken in turn.
::std::vector<::std::vector<int>> spread_cpus(const ::std::vector<int>& cpus, int nodes);

absl::StatusOr<job_plan> make_job_plan(const drun_options& options, const ::std::optional<cluster_file>& cluster,
                                       const host_facts& facts);

// Checks that every local node's program exists and may be executed, and replaces a bare name with
// its path in PATH. Its error ("cannot run './app': No such file or directory") means exit 127.
absl::Status resolve_local_programs(job_plan& plan);

}  // namespace drust::launcher
