// What every process drun forks does before exec, so that it starts as if from a shell, and, for
// the simulated cluster (docs/simulation.md), inside its cgroup and network namespace.
//
// drun blocks the signals it reads through a signalfd and ignores SIGPIPE; a child inherits both,
// and a program started with SIGTERM blocked could not be stopped. Only async-signal-safe calls:
// these run between fork and exec.
#pragma once

#include <sys/types.h>

namespace drust::launcher {

// Default dispositions for every signal and an empty signal mask.
void reset_signals_in_child() noexcept;

// Asks the kernel to SIGKILL this process when `parent` (drun) dies, closing the race where drun
// died before the request was made. Returns false when the parent is already gone.
bool die_with_parent_in_child(pid_t parent) noexcept;

// Moves this process into the cgroup whose cgroup.procs is `procs_file` (writing "0" names the
// writer), so the program starts under the cgroup's limits. Returns false with errno set.
bool enter_cgroup_in_child(const char* procs_file) noexcept;

// Moves this process into the network namespace open at `namespace_fd`. Returns false with errno set.
bool enter_network_namespace_in_child(int namespace_fd) noexcept;

}  // namespace drust::launcher
