// --cpu-quota: every local node of a job runs under a CPU quota of F cores, one cgroup per node.
//
// The cgroups are /sys/fs/cgroup/<...>/drust-<job>/node-<i>: cgroup v2 (cpu.max) where a writable
// v2 hierarchy offers the cpu controller, else cgroup v1's cpu hierarchy (cpu.cfs_quota_us over
// cpu.cfs_period_us). Each node enters its cgroup in the child, before exec, so none of the
// program's code ever runs unconstrained, and all it starts (threads, processes) stays inside.
//
//   auto hierarchy = find_cpu_hierarchy();              // before the job: a clear error if none
//   auto cgroups = cpu_quota_cgroups::create(*hierarchy, job_id, nodes, 0.25);
//   ... fork; in the child: write "0" to cgroups->procs_file(node); exec ...
//   cgroups->remove();                                  // kills what is left inside, removes them
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "job_lock.hpp"

namespace drust::launcher {

inline constexpr double least_cpu_quota = 0.01;  // 1 ms per 100 ms period: the kernel's floor

// "0.25" -> 0.25 cores. The error is ready to print after "drun: --cpu-quota ".
absl::StatusOr<double> parse_cpu_quota(::std::string_view text);

// A mounted cgroup hierarchy with the cpu controller that drun can write.
struct cpu_hierarchy {
  int version = 2;     // 1 or 2
  ::std::string root;  // its mount point: /sys/fs/cgroup, /sys/fs/cgroup/cpu, ...
};

// The hierarchy --cpu-quota uses: v2 first, then v1. The error says what was tried, why each
// failed, and the fix (run as root, or delegate a cgroup).
absl::StatusOr<cpu_hierarchy> find_cpu_hierarchy();

// One cgroup per node under a parent named after the job.
class cpu_quota_cgroups {
 public:
  static constexpr ::std::chrono::microseconds period{100'000};

  // Creates drust-<job>/node-0 .. node-<nodes-1> with a quota of `cores` each. On an error,
  // what was created is removed again.
  static absl::StatusOr<cpu_quota_cgroups> create(const cpu_hierarchy& hierarchy,
                                                  const ::std::string& job_id, int nodes,
                                                  double cores);

  // The cgroups of a job that exist already under `job_directory` (a dead job's, to remove them).
  static cpu_quota_cgroups existing(const ::std::string& job_directory);

  // The file a process writes "0" to in order to enter node `node`'s cgroup.
  const ::std::string& procs_file(int node) const {
    return procs_files_[static_cast<::std::size_t>(node)];
  }
  const ::std::string& job_directory() const { return job_directory_; }

  // SIGKILLs what is still inside (processes a node left behind) and removes every cgroup of the
  // job. Returns an error naming what could not be removed, after trying for `patience`.
  absl::Status remove(::std::chrono::milliseconds patience = ::std::chrono::seconds(3));

 private:
  ::std::string job_directory_;
  ::std::vector<::std::string> node_directories_;
  ::std::vector<::std::string> procs_files_;
};

// Removes the cgroups of dead jobs (job_lock.hpp) from every cpu hierarchy, killing what is left
// in them. Best effort: what cannot be removed (no permission) is left alone. Returns the
// directories it removed.
::std::vector<removed_leftover> remove_stale_cpu_cgroups();

}  // namespace drust::launcher
