#include "job_plan.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "byte_size.hpp"
#include "hosts.hpp"
#include "program_path.hpp"
#include "provider.hpp"
#include "random_id.hpp"
#include "simulated_network.hpp"

namespace drust::launcher {

namespace {

// One node as the inputs describe it, before defaults and precedence are applied.
struct requested_node {
  ::std::string name;
  ::std::string host;
  ::std::optional<int> cores;
  ::std::optional<::std::uint64_t> heap_size;
  ::std::optional<::std::string> program;
  ::std::optional<::std::uint64_t> cache_size;
  ::std::optional<int> heap_pressure;
};

::std::vector<requested_node> requested_nodes(const drun_options& options, const ::std::optional<cluster_file>& cluster) {
  ::std::vector<requested_node> nodes;
  if (cluster) {
    for (const cluster_node& node : cluster->nodes) {
      nodes.push_back({node.name, node.host, node.cores, node.heap_size, node.program, node.cache_size,
                       node.heap_pressure});
    }
    return nodes;
  }
  for (int i = 0; i < options.node_count.value_or(1); ++i) {
    nodes.push_back({absl::StrCat("n", i), "localhost", {}, {}, {}, {}, {}});
  }
  return nodes;
}

absl::StatusOr<::std::string> choose_provider(const drun_options& options, const ::std::optional<cluster_file>& cluster,
                                              bool every_node_is_local, const ::std::string& cluster_name) {
  ::std::string provider(auto_provider);
  ::std::string chosen_by = "--provider";
  if (options.provider) {
    auto normalized = normalize_provider(*options.provider);
    if (!normalized.ok()) return absl::InvalidArgumentError(absl::StrCat("--provider: ", normalized.status().message()));
    provider = *normalized;
  } else if (options.provider_from_environment) {
    auto normalized = normalize_provider(*options.provider_from_environment);
    if (!normalized.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("DRUST_PROVIDER in the environment: ", normalized.status().message()));
    }
    provider = *normalized;
    chosen_by = "DRUST_PROVIDER in the environment";
  } else if (cluster && cluster->provider) {
    provider = *cluster->provider;
    chosen_by = absl::StrCat(cluster_name, "'s \"provider\"");
  }
  if (options.separate_networks) return provider_across_namespaces(provider, chosen_by);
  if (provider == auto_provider) return automatic_provider(every_node_is_local);
  if (provider == "shm" && !every_node_is_local) {
    return absl::InvalidArgumentError(absl::StrCat(
        "provider shm connects processes of one host only, but ", cluster_name,
        " has nodes on other hosts; use tcp (or a fabric such as verbs), or leave the provider as auto"));
  }
  return provider;
}

bool is_wildcard_address(const ::std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "*";
}

::std::string this_host_name() {
  ::std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return "localhost";
  return name.data();
}

}  // namespace

::std::vector<::std::vector<int>> spread_cpus(const ::std::vector<int>& cpus, int nodes) {
  ::std::vector<::std::vector<int>> shares(static_cast<::std::size_t>(::std::max(nodes, 0)));
  if (cpus.empty()) return shares;
  const ::std::size_t count = cpus.size();
  if (shares.size() > count) {
    for (::std::size_t node = 0; node < shares.size(); ++node) shares[node] = {cpus[node % count]};
    return shares;
  }
  ::std::size_t next = 0;
  for (::std::size_t node = 0; node < shares.size(); ++node) {
    const ::std::size_t length = count / shares.size() + (node < count % shares.size() ? 1 : 0);
    shares[node].assign(cpus.begin() + static_cast<::std::ptrdiff_t>(next),
                        cpus.begin() + static_cast<::std::ptrdiff_t>(next + length));
    next += length;
  }
  return shares;
}

bool job_plan::every_node_is_local() const {
  return ::std::all_of(nodes.begin(), nodes.end(), [](const planned_node& node) { return node.local; });
}

host_facts default_host_facts(::std::chrono::milliseconds timeout) {
  host_facts facts;
  facts.is_local = is_local_host;
  facts.local_cores = local_core_count;
  facts.local_cpus = local_cpu_list;
  facts.remote_cores = [timeout](const ::std::vector<::std::string>& hosts) { return remote_core_counts(hosts, timeout); };
  facts.address_towards = address_towards;
  return facts;
}

absl::StatusOr<job_plan> make_job_plan(const drun_options& options, const ::std::optional<cluster_file>& cluster,
                                       const host_facts& facts) {
  if (options.command.empty()) {
    return absl::InvalidArgumentError("no program given; usage: drun -n N ./app [args...]");
  }
  if (options.node_count && (*options.node_count < 1 || *options.node_count > most_nodes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("-n must be between 1 and ", most_nodes, ", got ", *options.node_count));
  }
  const ::std::string cluster_name = options.cluster_path.value_or("the job");

  job_plan plan;
  DRUST_ASSIGN_OR_RETURN(plan.job_id, random_hex(16));
  DRUST_ASSIGN_OR_RETURN(plan.cookie, random_hex(32));
  plan.program = options.command.front();
  plan.arguments.assign(options.command.begin() + 1, options.command.end());
  plan.tag_output = options.tag_output;
  plan.verbose = options.verbose;
  plan.stats = options.stats;
  plan.bootstrap_timeout = options.bootstrap_timeout;
  plan.hang_timeout = options.hang_timeout;

  ::std::vector<requested_node> requested = requested_nodes(options, cluster);
  ::std::map<::std::string, int> nodes_per_host;
  for (::std::size_t i = 0; i < requested.size(); ++i) {
    planned_node node;
    node.id = static_cast<int>(i);
    node.name = requested[i].name;
    node.host = requested[i].host;
    node.local = facts.is_local(node.host);
    ++nodes_per_host[node.host];
    plan.nodes.push_back(::std::move(node));
  }

  // Cores: --cores, else the file, else the host's cores shared among its nodes.
  ::std::vector<::std::string> hosts_to_ask;
  for (::std::size_t i = 0; i < requested.size(); ++i) {
    if (options.cores || requested[i].cores || plan.nodes[i].local) continue;
    if (::std::find(hosts_to_ask.begin(), hosts_to_ask.end(), requested[i].host) == hosts_to_ask.end()) {
      hosts_to_ask.push_back(requested[i].host);
    }
  }
  ::std::map<::std::string, int> remote_cores;
  if (!hosts_to_ask.empty()) {
    DRUST_ASSIGN_OR_RETURN(remote_cores, facts.remote_cores(hosts_to_ask));
  }
  // Local nodes share this machine whatever name each was given ("localhost", "127.0.0.1", ...).
  int local_nodes = static_cast<int>(
      ::std::count_if(plan.nodes.begin(), plan.nodes.end(), [](const planned_node& node) { return node.local; }));
  for (::std::size_t i = 0; i < requested.size(); ++i) {
    planned_node& node = plan.nodes[i];
    if (options.cores) {
      node.cores = *options.cores;
    } else if (options.cpu_quota) {
      // A node under a quota of F cores stands for a machine of F cores: it can run ceil(F)
      // threads at once, whatever this machine has.
      node.cores = ::std::max(1, static_cast<int>(::std::ceil(*options.cpu_quota - 1e-9)));
    } else if (requested[i].cores) {
      node.cores = *requested[i].cores;
    } else if (node.local) {
      node.cores = ::std::max(1, facts.local_cores() / ::std::max(1, local_nodes));
    } else {
      node.cores = ::std::max(1, remote_cores[node.host] / nodes_per_host[node.host]);
    }
  }

  // CPUs: local nodes that share this machine each run on their own share of drun's CPUs, as
  // nodes of a real cluster run on their own machines. Left to the kernel, two nodes' threads that
  // talk to each other land on one CPU as often as not, and then every message waits for the
  // other's time slice (docs/launcher.md, "CPU binding"). With more nodes than CPUs, nodes must
  // share CPUs either way, and the kernel balancing them over all CPUs serves compute-bound nodes
  // better than a fixed share does: binding them is asked for (spread), not the default. One
  // local node keeps every CPU.
  using binding = drun_options::cpu_binding;
  if (options.bind_cpus != binding::none && local_nodes >= 2) {
    ::std::vector<int> cpus;
    if (facts.local_cpus) {
      cpus = facts.local_cpus();
    } else {
      for (int cpu = 0; cpu < facts.local_cores(); ++cpu) cpus.push_back(cpu);
    }
    const bool room = static_cast<int>(cpus.size()) >= local_nodes;
    const ::std::vector<::std::vector<int>> shares =
        room || options.bind_cpus == binding::spread ? spread_cpus(cpus, local_nodes)
                                                     : ::std::vector<::std::vector<int>>(static_cast<::std::size_t>(local_nodes));
    ::std::size_t next = 0;
    for (planned_node& node : plan.nodes) {
      if (node.local) node.cpus = shares[next++];
    }
  }

  // Heap: --heap, else the file, else 1 GiB. Every partition has the size of the largest heap.
  ::std::uint64_t largest_heap = 0;
  for (::std::size_t i = 0; i < requested.size(); ++i) {
    planned_node& node = plan.nodes[i];
    node.heap_size = options.heap_size.value_or(requested[i].heap_size.value_or(default_heap_size));
    if (node.heap_size < minimum_heap_size) {
      return absl::InvalidArgumentError(absl::StrCat("--heap must be at least ", format_byte_size(minimum_heap_size),
                                                     ", got ", format_byte_size(node.heap_size)));
    }
    largest_heap = ::std::max(largest_heap, node.heap_size);
  }

  // Read cache and heap pressure: the command line, else the node's entry, else the file's
  // job-wide value, else a quarter of the node's heap and 90 %.
  if (options.cache_size && *options.cache_size == 0) return absl::InvalidArgumentError("--cache must be larger than 0");
  if (options.heap_pressure && (*options.heap_pressure < 1 || *options.heap_pressure > 100)) {
    return absl::InvalidArgumentError(absl::StrCat("--heap-pressure must be a whole percentage from 1 to 100, got ",
                                                   *options.heap_pressure));
  }
  const int job_heap_pressure = cluster && cluster->heap_pressure ? *cluster->heap_pressure : default_heap_pressure;
  for (::std::size_t i = 0; i < requested.size(); ++i) {
    planned_node& node = plan.nodes[i];
    const ::std::uint64_t job_cache_size = cluster && cluster->cache_size ? *cluster->cache_size : node.heap_size / 4;
    node.cache_size = options.cache_size.value_or(requested[i].cache_size.value_or(job_cache_size));
    node.heap_pressure = options.heap_pressure.value_or(requested[i].heap_pressure.value_or(job_heap_pressure));
  }
  plan.partition_size = (largest_heap + partition_alignment - 1) / partition_alignment * partition_alignment;

  // Programs: the file's, else drun's. A remote host gets an absolute path, since ssh starts in the
  // user's home directory rather than here.
  for (::std::size_t i = 0; i < requested.size(); ++i) {
    planned_node& node = plan.nodes[i];
    node.program = requested[i].program.value_or(plan.program);
    node.program_as_written = node.program;
    if (!node.local && !requested[i].program) {
      auto found = find_local_program(plan.program);
      node.program = absolute_path(found.ok() ? *found : plan.program);
    }
  }

  const bool every_node_is_local = plan.every_node_is_local();
  if (options.net_delay && !options.separate_networks) {
    return absl::InvalidArgumentError("--net-delay delays each node's network link, which only --netns gives it: add --netns");
  }
  if ((options.cpu_quota || options.separate_networks) && !every_node_is_local) {
    const planned_node& remote =
        *::std::find_if(plan.nodes.begin(), plan.nodes.end(), [](const planned_node& node) { return !node.local; });
    return absl::InvalidArgumentError(absl::StrCat(
        options.cpu_quota ? "--cpu-quota" : "--netns", " simulates a cluster on this machine, but ", cluster_name,
        " has nodes on other hosts (nodes[", remote.id, "] on \"", remote.host,
        "\"): run a simulated cluster with -n N, or a real one without these options"));
  }
  plan.cpu_quota = options.cpu_quota;
  plan.separate_networks = options.separate_networks;
  plan.net_delay = options.net_delay;
  DRUST_ASSIGN_OR_RETURN(plan.provider, choose_provider(options, cluster, every_node_is_local, cluster_name));

  // The controller: loopback when the job stays on this machine, else where the file says.
  if (cluster && cluster->controller) {
    plan.controller = *cluster->controller;
  } else if (every_node_is_local) {
    plan.controller = {"127.0.0.1", 0};
  } else {
    const planned_node& remote =
        *::std::find_if(plan.nodes.begin(), plan.nodes.end(), [](const planned_node& node) { return !node.local; });
    return absl::InvalidArgumentError(absl::StrCat(
        cluster_name, ": controller is required because nodes[", remote.id, "] runs on another host (\"", remote.host,
        "\"): add \"controller\": \"<address of this machine that ", remote.host,
        " can reach>:<port>\", e.g. \"10.0.0.1:7000\""));
  }
  plan.controller_advertised_host = plan.controller.host;
  if (is_wildcard_address(plan.controller.host)) {
    // Listening everywhere: announce the address this machine uses towards the (first) remote
    // host, which that host can reach; the host name is the fallback (it may map to loopback).
    ::std::string towards;
    auto remote = ::std::find_if(plan.nodes.begin(), plan.nodes.end(), [](const planned_node& node) { return !node.local; });
    if (remote != plan.nodes.end() && facts.address_towards) towards = facts.address_towards(remote->host);
    plan.controller_advertised_host = towards.empty() ? this_host_name() : towards;
  }

  // Fabric addresses: loopback on a one-host job; otherwise local nodes must be reachable from the
  // other hosts, at the address the cluster file gave for this machine.
  for (planned_node& node : plan.nodes) {
    if (!node.local) {
      node.fabric_host = node.host;
    } else {
      node.fabric_host = every_node_is_local ? "127.0.0.1" : plan.controller_advertised_host;
    }
  }
  return plan;
}

absl::Status resolve_local_programs(job_plan& plan) {
  for (planned_node& node : plan.nodes) {
    if (!node.local) continue;
    DRUST_ASSIGN_OR_RETURN(node.program, find_local_program(node.program));
  }
  return absl::OkStatus();
}

}  // namespace drust::launcher
