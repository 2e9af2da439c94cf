// Removing a job's shared-memory files after it ends.
//
// Node runtimes name their files /dev/shm/drust-<job>-*; a node that is killed cannot remove its
// own, so drun removes whatever is left, on this machine and (best effort, through ssh) on the
// remote hosts.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace drust::launcher {

// "drust-<job>-": the prefix of the job's file names in /dev/shm.
::std::string shared_memory_prefix(const ::std::string& job_id);

// Removes this machine's files of the job; returns how many it removed.
int remove_local_shared_memory(const ::std::string& job_id);

// Runs `ssh host rm -f /dev/shm/drust-<job>-*` on every host at once, for at most `timeout`.
void remove_remote_shared_memory(const ::std::string& job_id, const ::std::vector<::std::string>& hosts,
                                 ::std::chrono::milliseconds timeout);

}  // namespace drust::launcher
