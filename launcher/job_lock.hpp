// Which jobs are alive, for removing what dead jobs left behind (cgroups, network namespaces).
//
// A drun that creates system-wide resources for its job (--cpu-quota, --netns) first locks the
// file /run/drust/<job>.lock (flock) and holds it until those resources are gone. The kernel drops
// the lock when drun dies, even by SIGKILL, so a resource named after a job whose lock nobody holds
// is stale, and the next drun removes it. Unlike a pid in a file, a lock cannot be mistaken for
// another process that reused the pid.
//
//   auto lock = job_lock::acquire(plan.job_id);        // before creating anything
//   if (!job_is_alive(other_job)) remove_its_cgroups();
#pragma once

#include <string>

#include "common/status.hpp"

namespace drust::launcher {

inline constexpr const char* job_lock_directory = "/run/drust";

// Creates /run/drust (mode 1777, as /tmp: drun of every user records its jobs there) if it is
// missing. The error names the directory and the fix (run drun as root).
absl::Status make_lock_directory();

// Opens (creating it, mode 0600) a lock file such as /run/drust/network.lock. In a directory every
// user may write, another user could have put something there first under the name drun wants, to
// block drun's jobs (a file of theirs that they keep locked) or to redirect its writes (a symbolic
// link): drun takes only a regular file of its own user (root's when it runs as root) and refuses
// anything else with an error that names the file, its owner and the fix. The directory itself
// must be root's, sticky, and not a link.
absl::StatusOr<int> open_lock_file(const ::std::string& path);

class job_lock {
 public:
  // Creates /run/drust if needed and locks the job's file (open_lock_file). The error names the
  // file and the fix (run drun as root; remove a file another user made).
  static absl::StatusOr<job_lock> acquire(const ::std::string& job_id);

  job_lock(job_lock&& other) noexcept;
  job_lock& operator=(job_lock&& other) noexcept;
  job_lock(const job_lock&) = delete;
  job_lock& operator=(const job_lock&) = delete;
  ~job_lock();  // removes the file, then unlocks

 private:
  job_lock(::std::string path, int fd) : path_(::std::move(path)), fd_(fd) {}
  void release() noexcept;

  ::std::string path_;
  int fd_ = -1;
};

// False when no process holds the job's lock: then the job's drun is gone. True when the lock is
// held, and also when drun cannot tell (the file cannot be opened): never remove what may be alive.
bool job_is_alive(const ::std::string& job_id);

// Something a dead job left behind and drun removed: for --verbose, and to remove the job's other
// leftovers (its /dev/shm files) too.
struct removed_leftover {
  ::std::string job_id;
  ::std::string what;  // "/sys/fs/cgroup/cpu/drust-<job>", "drust-<job>-n0", ...
};

// A job id as drun draws them: 16 lower-case hex digits (the names of stale resources are parsed).
bool looks_like_job_id(const ::std::string& text);

}  // namespace drust::launcher
