// Removing a job's shared-memory files after it ends.
//
// Node runtimes name their files /dev/shm/drust-<job>-*; a node that is killed cannot remove its
// own, so drun removes whatever is left, on this machine and (best effort, through ssh) on the
// remote hosts; and as it starts, what jobs whose drun was killed left on this machine.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace drust::launcher {

// "drust-<job>-": the prefix of the job's file names in /dev/shm.
::std::string shared_memory_prefix(const ::std::string& job_id);

// Removes this machine's files of the job; returns how many it removed.
int remove_local_shared_memory(const ::std::string& job_id);

// Removes the files in /dev/shm of jobs that are gone: the files drust-<job>-* of a job that no
// process belongs to (DRUST_JOB in its environment) and none of whose files any process maps, all
// of this user (any user's, for root) and the newest older than 10 s (so that a job whose nodes
// are just creating theirs is left alone).
// A drun killed by SIGKILL takes its nodes with it (PR_SET_PDEATHSIG) and leaves such files; every
// drun removes them as it starts. Returns the jobs whose files it removed.
::std::vector<::std::string> remove_unused_shared_memory();

// Runs `ssh host rm -f /dev/shm/drust-<job>-*` on every host at once, for at most `timeout`.
void remove_remote_shared_memory(const ::std::string& job_id, const ::std::vector<::std::string>& hosts,
                                 ::std::chrono::milliseconds timeout);

}  // namespace drust::launcher
