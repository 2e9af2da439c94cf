// drun: starts a drust program as a cluster of node processes and supervises it.
//
//   drun -n 4 ./app args...                 four nodes on this machine
//   drun --cluster cluster.json ./app ...   the nodes the cluster file lists
//   drun -n 4 --cpu-quota 1 --netns ./app   four simulated machines of one core each
//
// The command line is read here; job_plan.cpp decides, job.cpp runs. docs/launcher.md is the
// user's guide.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "byte_size.hpp"
#include "cluster_file.hpp"
#include "cpu_quota.hpp"
#include "job.hpp"
#include "job_plan.hpp"
#include "program_path.hpp"
#include "provider.hpp"
#include "simulated_network.hpp"

namespace drust::launcher {
namespace {

constexpr int usage_error = 2;
constexpr int cannot_run_program = 127;

int fail(const ::std::string& message, int status = 1) {
  ::std::cerr << "drun: " << message << "\n";
  return status;
}

// "90" -> 90; anything but a whole number from 1 to 100 (a trailing '%' allowed) -> nullopt.
::std::optional<int> parse_percentage(::std::string text) {
  if (!text.empty() && text.back() == '%') text.pop_back();
  if (text.empty() || text.size() > 3) return ::std::nullopt;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return ::std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value < 1 || value > 100) return ::std::nullopt;
  return value;
}

// Reads the command line into `options`; returns an exit status when drun should stop now
// (--help, or a usage error already printed).
::std::optional<int> read_command_line(int argc, char** argv, drun_options& options) {
  CLI::App app{"drun: run a drust program as a cluster of node processes.\n\n"
               "  drun (-n N | --cluster FILE) [OPTIONS] PROGRAM [ARGS...]\n\n"
               "Everything after PROGRAM belongs to the program. See docs/launcher.md.",
               "drun"};
  app.prefix_command();

  int node_count = 0;
  ::std::string cluster_path;
  ::std::string provider;
  ::std::string heap;
  ::std::string cache;
  ::std::string heap_pressure;
  int cores = 0;
  double bootstrap_seconds = 30;
  double hang_seconds = 10;
  auto* nodes_option = app.add_option("-n,--nodes", node_count, "Start N nodes on this machine")
                           ->type_name("N")
                           ->check(CLI::Range(1, most_nodes));
  auto* cluster_option =
      app.add_option("--cluster", cluster_path, "Start the nodes a cluster file lists (docs/cluster-file.md)")
          ->type_name("FILE");
  nodes_option->excludes(cluster_option);
  app.add_flag("--tag-output", options.tag_output, "Prefix each line a node prints with [n<id>]");
  auto* provider_option =
      app.add_option("--provider", provider, "libfabric provider: " + known_provider_names() + " (default auto)")
          ->type_name("PROVIDER");
  auto* heap_option = app.add_option("--heap", heap, "Heap per node, e.g. 512MiB (default 1GiB)")->type_name("SIZE");
  auto* cache_option =
      app.add_option("--cache", cache, "Read cache per node, e.g. 256MiB (default a quarter of the heap)")
          ->type_name("SIZE");
  auto* heap_pressure_option =
      app.add_option("--heap-pressure", heap_pressure,
                     "Percent of a node's heap in use past which its new objects go to another node (default 90)")
          ->type_name("PERCENT");
  auto* cores_option =
      app.add_option("--cores", cores, "Cores each node offers (default: the host's cores / its nodes)")
          ->type_name("C")
          ->check(CLI::PositiveNumber);
  app.add_option("--bootstrap-timeout", bootstrap_seconds, "Seconds the nodes have to join (default 30)")
      ->type_name("SECONDS")
      ->check(CLI::PositiveNumber);
  // Nodes report to drun every 250 ms, so a limit under a second would mistake a busy node's
  // scheduling delay for a hang.
  app.add_option("--hang-timeout", hang_seconds,
                 "Seconds a started node may go without a word to drun before it is taken as hung and the "
                 "job is stopped (default 10, at least 1)")
      ->type_name("SECONDS")
      ->check(CLI::Range(1.0, 86400.0));
  app.add_flag("--verbose", options.verbose, "Print the job id, controller address, provider and node pids");
  app.add_flag("--stats", options.stats, "At the end, print each node's counters (heap, cache, moves, messages)");
  ::std::string cpu_quota;
  ::std::string net_delay;
  auto* cpu_quota_option =
      app.add_option("--cpu-quota", cpu_quota,
                     "Run each node under a CPU quota of F cores, e.g. 0.25 or 1.5 (a cgroup per node; docs/simulation.md)")
          ->type_name("F");
  ::std::string cpu_bind = "auto";
  app.add_option("--cpu-bind", cpu_bind,
                 "spread: nodes sharing this machine each run on their own share of its CPUs; none: wherever "
                 "the kernel puts them; auto (default): spread while there are at least as many CPUs as "
                 "nodes, else none (docs/launcher.md)")
      ->type_name("MODE")
      ->check(CLI::IsMember({"auto", "spread", "none"}));
  app.add_flag("--netns", options.separate_networks,
               "Each node in its own network namespace, joined by veth pairs and a bridge; provider tcp");
  auto* net_delay_option =
      app.add_option("--net-delay", net_delay, "With --netns: add this latency to each node's link (netem), e.g. 100us, 1ms")
          ->type_name("DELAY");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    ::std::string message = error.what();
    if (message.find("excludes") != ::std::string::npos) {
      message = "give either -n N or --cluster FILE, not both";
    }
    return fail(message + "; see drun --help", usage_error);
  }

  if (nodes_option->count() == 0 && cluster_option->count() == 0) {
    return fail("say where to run: -n N (N nodes on this machine) or --cluster FILE; see drun --help", usage_error);
  }
  options.command = app.remaining();
  if (!options.command.empty() && options.command.front() == "--") options.command.erase(options.command.begin());
  if (options.command.empty()) {
    return fail("no program given: drun -n N ./app [args...]", usage_error);
  }
  options.bind_cpus = cpu_bind == "spread" ? drun_options::cpu_binding::spread
                      : cpu_bind == "none"   ? drun_options::cpu_binding::none
                                             : drun_options::cpu_binding::automatic;
  if (nodes_option->count() > 0) options.node_count = node_count;
  if (cluster_option->count() > 0) options.cluster_path = cluster_path;
  if (provider_option->count() > 0) options.provider = provider;
  if (const char* from_environment = ::getenv("DRUST_PROVIDER"); from_environment != nullptr && *from_environment) {
    options.provider_from_environment = from_environment;
  }
  if (heap_option->count() > 0) {
    auto bytes = parse_byte_size(heap);
    if (!bytes.ok()) return fail(absl::StrCat("--heap: ", bytes.status().message()), usage_error);
    options.heap_size = *bytes;
  }
  if (cache_option->count() > 0) {
    auto bytes = parse_byte_size(cache);
    if (!bytes.ok()) return fail(absl::StrCat("--cache: ", bytes.status().message()), usage_error);
    if (*bytes == 0) return fail("--cache must be larger than 0", usage_error);
    options.cache_size = *bytes;
  }
  if (heap_pressure_option->count() > 0) {
    auto percent = parse_percentage(heap_pressure);
    if (!percent) {
      return fail(absl::StrCat("--heap-pressure must be a whole percentage from 1 to 100, got \"", heap_pressure, "\""),
                  usage_error);
    }
    options.heap_pressure = *percent;
  }
  if (cores_option->count() > 0) options.cores = cores;
  if (cpu_quota_option->count() > 0) {
    auto cores_per_node = parse_cpu_quota(cpu_quota);
    if (!cores_per_node.ok()) {
      return fail(absl::StrCat("--cpu-quota ", cores_per_node.status().message(), "; see drun --help"), usage_error);
    }
    options.cpu_quota = *cores_per_node;
  }
  if (net_delay_option->count() > 0) {
    if (!options.separate_networks) {
      return fail("--net-delay delays each node's network link, which only --netns gives it: add --netns; see drun --help",
                  usage_error);
    }
    auto delay = parse_net_delay(net_delay);
    if (!delay.ok()) return fail(absl::StrCat("--net-delay ", delay.status().message(), "; see drun --help"), usage_error);
    options.net_delay = *delay;
  }
  if (options.separate_networks && options.provider) {
    auto normalized = normalize_provider(*options.provider);
    if (normalized.ok()) {
      auto crossing = provider_across_namespaces(*normalized, "--provider");
      if (!crossing.ok()) return fail(absl::StrCat(crossing.status().message(), "; see drun --help"), usage_error);
    }
  }
  options.bootstrap_timeout = ::std::chrono::milliseconds(static_cast<long long>(bootstrap_seconds * 1000));
  options.hang_timeout = ::std::chrono::milliseconds(static_cast<long long>(hang_seconds * 1000));
  return ::std::nullopt;
}

// What the simulated cluster needs of this machine, checked before anything starts: a cgroup drun
// can write for --cpu-quota, root and iproute2 for --netns. An error is printed; returns false.
bool simulation_is_possible(const drun_options& options) {
  if (options.cpu_quota) {
    if (auto hierarchy = find_cpu_hierarchy(); !hierarchy.ok()) {
      fail(::std::string(hierarchy.status().message()));
      return false;
    }
  }
  if (options.separate_networks) {
    if (::geteuid() != 0) {
      fail("--netns creates network namespaces, veth pairs and a bridge, which needs root: run drun as root");
      return false;
    }
    for (const char* tool : {"ip", "tc"}) {
      if (::std::string_view(tool) == "tc" && !options.net_delay) continue;
      if (!find_local_program(tool).ok()) {
        fail(absl::StrCat("--netns", options.net_delay ? " and --net-delay need " : " needs ", "the `", tool,
                          "` command, which is not in PATH: install iproute2 (./drust setup)"));
        return false;
      }
    }
  }
  return true;
}

int drun(int argc, char** argv) {
  drun_options options;
  if (auto stop = read_command_line(argc, argv, options)) return *stop;

  ::std::optional<cluster_file> cluster;
  if (options.cluster_path) {
    auto parsed = read_cluster_file(*options.cluster_path);
    if (!parsed.ok()) return fail(::std::string(parsed.status().message()));
    cluster = ::std::move(*parsed);
  }
  auto plan = make_job_plan(options, cluster, default_host_facts(options.bootstrap_timeout));
  if (!plan.ok()) return fail(::std::string(plan.status().message()));
  if (!simulation_is_possible(options)) return usage_error;
  if (auto found = resolve_local_programs(*plan); !found.ok()) {
    return fail(::std::string(found.message()), cannot_run_program);
  }
  return run_job(*plan);
}

}  // namespace
}  // namespace drust::launcher

int main(int argc, char** argv) { return drust::launcher::drun(argc, argv); }
