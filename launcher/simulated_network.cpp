#include "simulated_network.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "helper_commands.hpp"
#include "job_lock.hpp"
#include "provider.hpp"

namespace drust::launcher {

namespace {

using ::std::chrono::microseconds;

constexpr auto command_timeout = ::std::chrono::seconds(10);
constexpr const char* namespace_directory = "/run/netns";
constexpr const char* namespace_prefix = "drust-";         // drust-<job>-n<i>
constexpr const char* bridge_alias_prefix = "drust-job-";  // the bridge's alias: drust-job-<job>
constexpr int prefix_length = 19;  // 8190 addresses: the bridge and 4096 nodes fit

struct ipv4_range {
  ::std::uint32_t first = 0;
  ::std::uint32_t last = 0;
  bool overlaps(const ipv4_range& other) const {
    return first <= other.last && other.first <= last;
  }
};

ipv4_range range_of(::std::uint32_t address, ::std::uint32_t mask) {
  return {address & mask, (address & mask) | ~mask};
}

::std::uint32_t mask_of(int length) {
  return length == 0 ? 0 : ~::std::uint32_t{0} << (32 - length);
}

::std::string dotted(::std::uint32_t address) {
  in_addr raw{htonl(address)};
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &raw, text, sizeof text);
  return text;
}

// The IPv4 networks this machine uses: its interfaces' subnets and its routes (but the default).
::std::vector<ipv4_range> networks_in_use() {
  ::std::vector<ipv4_range> used;
  ifaddrs* addresses = nullptr;
  if (::getifaddrs(&addresses) == 0) {
    for (ifaddrs* each = addresses; each != nullptr; each = each->ifa_next) {
      if (each->ifa_addr == nullptr || each->ifa_netmask == nullptr ||
          each->ifa_addr->sa_family != AF_INET)
        continue;
      auto address = ntohl(reinterpret_cast<sockaddr_in*>(each->ifa_addr)->sin_addr.s_addr);
      auto mask = ntohl(reinterpret_cast<sockaddr_in*>(each->ifa_netmask)->sin_addr.s_addr);
      used.push_back(range_of(address, mask));
    }
    ::freeifaddrs(addresses);
  }
  // /proc/net/route: Iface Destination Gateway Flags RefCnt Use Metric Mask ..., in host-order hex.
  ::std::ifstream routes("/proc/net/route");
  ::std::string line;
  ::std::getline(routes, line);
  while (::std::getline(routes, line)) {
    ::std::istringstream fields(line);
    ::std::string interface, destination, gateway, flags, references, use, metric, mask;
    if (!(fields >> interface >> destination >> gateway >> flags >> references >> use >> metric >>
          mask))
      continue;
    auto network = ntohl(static_cast<::std::uint32_t>(::std::stoul(destination, nullptr, 16)));
    auto netmask = ntohl(static_cast<::std::uint32_t>(::std::stoul(mask, nullptr, 16)));
    if (netmask != 0) used.push_back(range_of(network, netmask));
  }
  return used;
}

// The first /19 of 10.200.0.0 - 10.254.255.255 that this machine does not use.
absl::StatusOr<::std::uint32_t> free_subnet() {
  const ::std::vector<ipv4_range> used = networks_in_use();
  for (::std::uint32_t second = 200; second <= 254; ++second) {
    for (::std::uint32_t third = 0; third < 256; third += 32) {
      ::std::uint32_t base = (10u << 24) | (second << 16) | (third << 8);
      ipv4_range candidate = range_of(base, mask_of(prefix_length));
      bool free = true;
      for (const ipv4_range& taken : used) free = free && !candidate.overlaps(taken);
      if (free) return base;
    }
  }
  return absl::ResourceExhaustedError(
      "--netns found no free /19 subnet in 10.200.0.0-10.254.255.255 (every one overlaps an "
      "address or a route "
      "of this machine); remove leftover interfaces or routes there");
}

::std::string trimmed(::std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// Runs `commands` side by side; the error names the first that failed and what it printed.
absl::Status run_all(const ::std::vector<::std::vector<::std::string>>& commands) {
  auto results = run_helper_commands(commands, command_timeout);
  for (::std::size_t i = 0; i < commands.size(); ++i) {
    const helper_command_result& result = results[i];
    if (result.started && !result.timed_out && result.exit_status == 0) continue;
    ::std::string what = absl::StrJoin(commands[i], " ");
    if (!result.started || result.exit_status == 127) {
      return absl::FailedPreconditionError(
          absl::StrCat("--netns: cannot run `", what, "`: is iproute2 installed (./drust setup)?"));
    }
    ::std::string said = trimmed(result.errors.empty() ? result.output : result.errors);
    if (result.timed_out) said = "it did not finish in 10 s";
    return absl::UnavailableError(absl::StrCat("--netns: `", what, "` failed: ", said));
  }
  return absl::OkStatus();
}

// The processes whose network namespace is the one named /run/netns/<name>.
::std::vector<pid_t> processes_in_namespace(const ::std::string& name) {
  ::std::vector<pid_t> pids;
  struct stat target {};
  if (::stat(absl::StrCat(namespace_directory, "/", name).c_str(), &target) != 0) return pids;
  if (DIR* proc = ::opendir("/proc"); proc != nullptr) {
    while (dirent* entry = ::readdir(proc)) {
      char* end = nullptr;
      long pid = ::std::strtol(entry->d_name, &end, 10);
      if (pid <= 0 || *end != '\0') continue;
      struct stat space {};
      if (::stat(absl::StrCat("/proc/", pid, "/ns/net").c_str(), &space) == 0 &&
          space.st_ino == target.st_ino && space.st_dev == target.st_dev) {
        pids.push_back(static_cast<pid_t>(pid));
      }
    }
    ::closedir(proc);
  }
  return pids;
}

// SIGKILLs every process in the namespaces and waits (at most 2 s) until they are gone: a
// namespace with a process left keeps its veth alive after its name is deleted.
void empty_namespaces(const ::std::vector<::std::string>& names) {
  auto deadline = ::std::chrono::steady_clock::now() + ::std::chrono::seconds(2);
  while (true) {
    bool any = false;
    for (const ::std::string& name : names) {
      for (pid_t pid : processes_in_namespace(name)) {
        any = true;
        ::kill(pid, SIGKILL);
      }
    }
    if (!any || ::std::chrono::steady_clock::now() >= deadline) return;
    ::usleep(10'000);
  }
}

::std::string read_first_line(const ::std::string& path) {
  ::std::ifstream file(path);
  ::std::string line;
  ::std::getline(file, line);
  return line;
}

// A lock held while a subnet is chosen and given to the bridge, so that two jobs starting at once
// do not take the same one: /run/drust/network.lock, opened by open_lock_file (only a file of
// drun's own user is taken, so no other user can hold it to block every --netns job).
class subnet_choice_lock {
 public:
  explicit subnet_choice_lock(int fd) : fd_(fd) { ::flock(fd_, LOCK_EX); }
  subnet_choice_lock(const subnet_choice_lock&) = delete;
  subnet_choice_lock& operator=(const subnet_choice_lock&) = delete;
  ~subnet_choice_lock() { ::close(fd_); }

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<microseconds> parse_net_delay(::std::string_view text) {
  auto wrong = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("must be a time with a unit (us, ms or s), from 1us to 10s, e.g. 100us, 1ms "
                     "or 20ms; got \"",
                     ::std::string(text), "\""));
  };
  double value = 0;
  auto [end, error] =
      ::std::from_chars(text.data(), text.data() + text.size(), value, ::std::chars_format::fixed);
  if (error != ::std::errc() || !::std::isfinite(value)) return wrong();
  ::std::string_view unit(end, static_cast<::std::size_t>(text.data() + text.size() - end));
  double scale = 0;
  if (unit == "us") {
    scale = 1;
  } else if (unit == "ms") {
    scale = 1e3;
  } else if (unit == "s") {
    scale = 1e6;
  } else {
    return wrong();
  }
  long long delay = ::std::llround(value * scale);
  if (delay < 1 || delay > 10'000'000) return wrong();
  return microseconds(delay);
}

absl::StatusOr<::std::string> provider_across_namespaces(const ::std::string& provider,
                                                         const ::std::string& chosen_by) {
  const ::std::string socket_provider = automatic_provider(false);
  if (provider == auto_provider || provider == socket_provider) return socket_provider;
  return absl::InvalidArgumentError(
      absl::StrCat("--netns gives each node its own network stack, which provider ", provider, " (",
                   chosen_by, ") cannot cross: use --provider tcp, or leave the provider as auto"));
}

::std::string format_net_delay(microseconds delay) {
  if (delay.count() % 1000 == 0) return absl::StrCat(delay.count() / 1000, "ms");
  return absl::StrCat(delay.count(), "us");
}

absl::StatusOr<::std::unique_ptr<simulated_network>> simulated_network::create(
    const settings& wanted) {
  ::std::unique_ptr<simulated_network> network(new simulated_network());
  if (absl::Status built = network->build(wanted); !built.ok()) {
    network->remove().IgnoreError();
    return built;
  }
  return network;
}

absl::Status simulated_network::build(const settings& wanted) {
  // Interface names have at most 15 characters: 8 hex digits of the job id name them; the
  // bridge's alias carries the whole id for the removal of a dead job's network.
  const ::std::string tag = "d" + wanted.job_id.substr(0, 8);
  bridge_ = tag + "br";
  {
    DRUST_RETURN_IF_ERROR(make_lock_directory());
    DRUST_ASSIGN_OR_RETURN(int lock_fd, open_lock_file(absl::StrCat(job_lock_directory, "/network.lock")));
    subnet_choice_lock choosing(lock_fd);
    DRUST_ASSIGN_OR_RETURN(::std::uint32_t subnet, free_subnet());
    bridge_address_ = dotted(subnet + 1);
    for (int node = 0; node < wanted.nodes; ++node) {
      node_addresses_.push_back(dotted(subnet + 2 + static_cast<::std::uint32_t>(node)));
    }
    DRUST_RETURN_IF_ERROR(run_all({{"ip", "link", "add", "name", bridge_, "type", "bridge"}}));
    bridge_created_ = true;
    DRUST_RETURN_IF_ERROR(run_all(
        {{"ip", "link", "set", "dev", bridge_, "alias", bridge_alias_prefix + wanted.job_id}}));
    DRUST_RETURN_IF_ERROR(
        run_all({{"ip", "addr", "add", absl::StrCat(bridge_address_, "/", prefix_length), "dev",
                  bridge_}}));
  }
  DRUST_RETURN_IF_ERROR(run_all({{"ip", "link", "set", "dev", bridge_, "up"}}));

  // Each step for every node at once: the nodes' commands do not depend on each other.
  ::std::vector<::std::vector<::std::string>> add_namespaces;
  for (int node = 0; node < wanted.nodes; ++node) {
    namespaces_.push_back(absl::StrCat(namespace_prefix, wanted.job_id, "-n", node));
    add_namespaces.push_back({"ip", "netns", "add", namespaces_.back()});
  }
  absl::Status added = run_all(add_namespaces);
  if (!added.ok())
    return absl::Status(added.code(), absl::StrCat(added.message(), " (--netns needs root)"));
  for (const ::std::string& name : namespaces_) {
    int fd = ::open(absl::StrCat(namespace_directory, "/", name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_status(absl::StrCat("cannot open ", namespace_directory, "/", name));
    namespace_fds_.push_back(fd);
  }

  ::std::vector<::std::vector<::std::string>> add_links, attach_links, configure, bring_up,
      loopback, delays;
  for (int node = 0; node < wanted.nodes; ++node) {
    const ::std::string& space = namespaces_[static_cast<::std::size_t>(node)];
    links_.push_back(absl::StrCat(tag, "n", node));
    // Created with its peer already in the namespace: no moment where eth0 is in drun's namespace.
    add_links.push_back({"ip", "link", "add", "name", links_.back(), "type", "veth", "peer", "name",
                         "eth0", "netns", space});
    attach_links.push_back({"ip", "link", "set", "dev", links_.back(), "master", bridge_, "up"});
    configure.push_back(
        {"ip", "-n", space, "addr", "add",
         absl::StrCat(node_addresses_[static_cast<::std::size_t>(node)], "/", prefix_length), "dev",
         "eth0"});
    bring_up.push_back({"ip", "-n", space, "link", "set", "dev", "eth0", "up"});
    loopback.push_back({"ip", "-n", space, "link", "set", "dev", "lo", "up"});
    if (wanted.delay) {
      delays.push_back({"tc", "-n", space, "qdisc", "add", "dev", "eth0", "root", "netem", "delay",
                        format_net_delay(*wanted.delay)});
    }
  }
  for (const auto* step : {&add_links, &attach_links, &configure, &bring_up, &loopback}) {
    DRUST_RETURN_IF_ERROR(run_all(*step));
  }
  if (!delays.empty()) {
    absl::Status delayed = run_all(delays);
    if (!delayed.ok() && (absl::StrContains(delayed.message(), "qdisc kind is unknown") ||
                          absl::StrContains(delayed.message(), "No such file or directory"))) {
      ::std::string tc_said(delayed.message());
      tc_said.erase(0, ::std::min(tc_said.size(), tc_said.find("failed: ") + 8));
      return absl::FailedPreconditionError(absl::StrCat(
          "--net-delay needs the netem queueing discipline, which this kernel lacks (tc: ", tc_said,
          "): load the sch_netem kernel module (modprobe sch_netem) or use a kernel built with "
          "CONFIG_NET_SCH_NETEM"));
    }
    DRUST_RETURN_IF_ERROR(delayed);
  }
  return absl::OkStatus();
}

simulated_network::~simulated_network() {
  for (int fd : namespace_fds_) ::close(fd);
}

absl::Status simulated_network::remove() {
  for (int fd : namespace_fds_) ::close(fd);
  namespace_fds_.clear();
  empty_namespaces(namespaces_);
  ::std::vector<::std::string> problems;
  // The veth pairs first: deleting a namespace frees its end of a pair only later, in the kernel's
  // background cleanup, and the job must leave nothing behind when drun exits.
  ::std::vector<::std::vector<::std::string>> delete_links, delete_namespaces;
  for (::std::size_t node = 0; node < namespaces_.size(); ++node) {
    if (node < links_.size()) delete_links.push_back({"ip", "link", "delete", "dev", links_[node]});
    delete_namespaces.push_back({"ip", "netns", "delete", namespaces_[node]});
  }
  auto link_results = run_helper_commands(delete_links, command_timeout);
  for (::std::size_t i = 0; i < link_results.size(); ++i) {
    // A link whose namespace never got its peer does not exist: not a problem.
    if (link_results[i].exit_status != 0 && ::if_nametoindex(links_[i].c_str()) != 0)
      problems.push_back(links_[i]);
  }
  auto namespace_results = run_helper_commands(delete_namespaces, command_timeout);
  for (::std::size_t i = 0; i < namespace_results.size(); ++i) {
    if (namespace_results[i].exit_status != 0)
      problems.push_back("network namespace " + namespaces_[i]);
  }
  namespaces_.clear();
  links_.clear();
  if (bridge_created_) {
    auto bridge_result =
        run_helper_commands({{"ip", "link", "delete", "dev", bridge_}}, command_timeout);
    if (bridge_result[0].exit_status != 0) problems.push_back("bridge " + bridge_);
    bridge_created_ = false;
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("cannot remove ", absl::StrJoin(problems, ", "),
                   "; remove them by hand with `ip link delete` / `ip netns delete`"));
}

::std::vector<removed_leftover> remove_stale_networks() {
  ::std::vector<removed_leftover> removed;
  ::std::vector<::std::string> stale_namespaces;
  ::std::vector<::std::string> stale_jobs;  // the job of each command
  if (DIR* listing = ::opendir(namespace_directory); listing != nullptr) {
    while (dirent* entry = ::readdir(listing)) {
      ::std::string name = entry->d_name;
      // drust-<16 hex>-n<i>
      if (name.rfind(namespace_prefix, 0) != 0 || name.size() < 6 + 16 + 3) continue;
      ::std::string job_id = name.substr(6, 16);
      if (name.compare(22, 2, "-n") != 0 || !looks_like_job_id(job_id) || job_is_alive(job_id))
        continue;
      stale_namespaces.push_back(name);
    }
    ::closedir(listing);
  }
  empty_namespaces(stale_namespaces);
  ::std::vector<::std::vector<::std::string>> commands;
  for (const ::std::string& name : stale_namespaces) {
    commands.push_back({"ip", "netns", "delete", name});
    stale_jobs.push_back(name.substr(6, 16));
  }
  if (struct if_nameindex* interfaces = ::if_nameindex(); interfaces != nullptr) {
    for (struct if_nameindex* each = interfaces; each->if_index != 0; ++each) {
      ::std::string alias =
          read_first_line(absl::StrCat("/sys/class/net/", each->if_name, "/ifalias"));
      if (alias.rfind(bridge_alias_prefix, 0) != 0) continue;
      ::std::string job_id = alias.substr(::std::strlen(bridge_alias_prefix));
      if (!looks_like_job_id(job_id) || job_is_alive(job_id)) continue;
      commands.push_back({"ip", "link", "delete", "dev", each->if_name});
      stale_jobs.push_back(job_id);
    }
    ::if_freenameindex(interfaces);
  }
  auto results = run_helper_commands(commands, command_timeout);
  for (::std::size_t i = 0; i < results.size(); ++i) {
    if (results[i].exit_status == 0) removed.push_back({stale_jobs[i], commands[i].back()});
  }
  return removed;
}

}  // namespace drust::launcher
