// Facts about the hosts of a job: which are this machine, and how many cores each has.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/status.hpp"

namespace drust::launcher {

// True for names of this machine: "localhost", 127.x.y.z, "::1", and gethostname()'s full or short
// name. Nodes on such hosts are forked by drun; the others are started through ssh.
bool is_local_host(const ::std::string& host);

// The cores this process may run on (its affinity mask), at least 1.
int local_core_count();
// Their numbers, ascending (at least one).
::std::vector<int> local_cpu_list();

// Asks each remote host for its online cores (`ssh -o BatchMode=yes host getconf
// _NPROCESSORS_ONLN`), all at once, waiting at most `timeout`. The error names the host, the
// command, what ssh said, and how to avoid the question (give "cores" in the cluster file).
absl::StatusOr<::std::map<::std::string, int>> remote_core_counts(const ::std::vector<::std::string>& hosts,
                                                                  ::std::chrono::milliseconds timeout);

// The address of this machine that the kernel would use to reach `remote_host` (the source address
// of its route there; a UDP socket is connected, nothing is sent), or empty when it cannot tell.
// A controller listening on a wildcard address announces this one, which the remote host can reach,
// rather than the host name, which may resolve to a loopback address (Debian maps it to 127.0.1.1).
::std::string address_towards(const ::std::string& remote_host);

// The ssh command line drun uses to reach `host` (BatchMode: never ask for a password).
::std::vector<::std::string> ssh_command(const ::std::string& host);

}  // namespace drust::launcher
