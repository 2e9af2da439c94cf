// Starting one node process: forked here for a local host, through ssh for a remote one.
//
// The node gets the program's arguments and the DRUST_* variables of docs/design/bootstrap.md.
// The job's cookie is never on a command line, where `ps` would show it to every user: a local
// node finds it in its environment (readable only by its user and root), a remote node's shell
// reads it from the first line of ssh's stdin (docs/RELIABILITY.md, "Security of a job").
// A local node runs in its own process group (so signals reach what it started too) and is killed
// by the kernel if drun dies; a remote node exits when its controller connection closes.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "common/status.hpp"
#include "job_plan.hpp"

namespace drust::launcher {

// What confines a local node besides its process group (docs/simulation.md), entered in the
// child before exec so that no code of the program runs outside it.
struct node_confinement {
  ::std::string cgroup_procs_file;   // --cpu-quota: the cgroup.procs file of the node's cgroup, or empty
  int network_namespace_fd = -1;     // --netns: the node's network namespace, open, or -1
  ::std::string network_namespace;   // its name, for messages
};

struct started_node {
  pid_t pid = -1;       // the node process, or the ssh client that runs it
  int output_fd = -1;   // read ends of its stdout and stderr with --tag-output, else -1
  int errors_fd = -1;
};

// The variable that carries the job's cookie.
inline constexpr const char* cookie_variable = "DRUST_COOKIE";

// The DRUST_* variables for `node`, in the order of docs/design/bootstrap.md.
::std::vector<::std::pair<::std::string, ::std::string>> node_environment(const job_plan& plan,
                                                                         const planned_node& node,
                                                                         const ::std::string& controller_address);

// The ssh command line that starts a remote node, every variable but the cookie on it:
//   ssh -o BatchMode=yes host 'IFS= read -r DRUST_COOKIE && export DRUST_COOKIE && exec env K=V ... program args'
::std::vector<::std::string> remote_node_command(const job_plan& plan, const planned_node& node,
                                                 const ::std::string& controller_address);

// What drun writes first to that ssh's stdin: the cookie and a newline. Drun's own stdin follows
// for node 0 when it reads it (reads_drun_stdin); for the other nodes the input ends there.
::std::string remote_cookie_line(const job_plan& plan);

// Whether `node` reads drun's stdin: node 0 does, unless it is a terminal. Every node runs in its
// own process group, and a background group that reads its terminal is stopped (SIGTTIN), which
// would hang the job; /dev/null gives the program an honest end of input instead.
bool reads_drun_stdin(const planned_node& node);

// Starts `node`, a local one inside `confinement`; a node that does not read drun's stdin reads
// /dev/null. The error says why the program could not be executed (NotFound: exit status 127) or
// could not be confined.
absl::StatusOr<started_node> start_node(const job_plan& plan, const planned_node& node,
                                        const ::std::string& controller_address,
                                        const node_confinement& confinement = {});

}  // namespace drust::launcher
