#include "hosts.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>

#include "absl/strings/ascii.h"
#include "helper_commands.hpp"

namespace drust::launcher {

namespace {

::std::string this_host_name() {
  ::std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return {};
  return name.data();
}

::std::string short_name(const ::std::string& host) { return host.substr(0, host.find('.')); }

}  // namespace

::std::string address_towards(const ::std::string& remote_host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(remote_host.c_str(), "9", &hints, &found) != 0) return {};
  ::std::string address;
  for (addrinfo* a = found; a != nullptr && address.empty(); a = a->ai_next) {
    int fd = ::socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* raw = local.ss_family == AF_INET6
                            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr)
                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr);
      if (::inet_ntop(local.ss_family, raw, text, sizeof text) != nullptr) address = text;
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return address;
}

bool is_local_host(const ::std::string& host) {
  if (host == "localhost" || host == "localhost.localdomain" || host == "::1" || host == "[::1]") return true;
  if (host.rfind("127.", 0) == 0) return true;
  ::std::string own = this_host_name();
  if (own.empty()) return false;
  return host == own || host == short_name(own);
}

int local_core_count() { return static_cast<int>(local_cpu_list().size()); }

::std::vector<int> local_cpu_list() {
  ::std::vector<int> cpus;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
    }
  }
  if (cpus.empty()) {
    const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
    for (long cpu = 0; cpu < ::std::max(online, 1L); ++cpu) cpus.push_back(static_cast<int>(cpu));
  }
  return cpus;
}

::std::vector<::std::string> ssh_command(const ::std::string& host) {
  return {"ssh", "-o", "BatchMode=yes", host};
}

absl::StatusOr<::std::map<::std::string, int>> remote_core_counts(const ::std::vector<::std::string>& hosts,
                                                                  ::std::chrono::milliseconds timeout) {
  ::std::vector<::std::vector<::std::string>> commands;
  for (const ::std::string& host : hosts) {
    auto command = ssh_command(host);
    command.push_back("getconf");
    command.push_back("_NPROCESSORS_ONLN");
    commands.push_back(::std::move(command));
  }
  auto results = run_helper_commands(commands, timeout);

  ::std::map<::std::string, int> counts;
  for (::std::size_t i = 0; i < hosts.size(); ++i) {
    const helper_command_result& result = results[i];
    ::std::string answer(absl::StripAsciiWhitespace(result.output));
    int cores = 0;
    auto [end, error] = ::std::from_chars(answer.data(), answer.data() + answer.size(), cores);
    if (result.exit_status == 0 && error == ::std::errc() && end == answer.data() + answer.size() && cores > 0) {
      counts[hosts[i]] = cores;
      continue;
    }
    ::std::string what_happened =
        !result.started   ? "could not start ssh"
        : result.timed_out ? absl::StrCat("no answer within ", timeout.count() / 1000, " s")
                           : absl::StrCat("exit status ", result.exit_status,
                                          result.errors.empty() ? "" : ": ",
                                          ::std::string(absl::StripAsciiWhitespace(result.errors)));
    return absl::UnavailableError(absl::StrCat(
        "cannot ask host ", hosts[i], " for its number of cores with `ssh -o BatchMode=yes ", hosts[i],
        " getconf _NPROCESSORS_ONLN` (", what_happened,
        "); make ssh to that host work without a password, or give each of its nodes \"cores\" in the cluster file"));
  }
  return counts;
}

}  // namespace drust::launcher
