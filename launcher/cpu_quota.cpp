#include "cpu_quota.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_join.h"
#include "job_lock.hpp"

namespace drust::launcher {

namespace {

constexpr const char* job_directory_prefix = "drust-";
// Set to a cgroup directory delegated to the user; drun then creates its cgroups below it.
constexpr const char* cgroup_parent_variable = "DRUST_CGROUP_PARENT";
constexpr long cgroup2_magic = 0x63677270;  // CGROUP2_SUPER_MAGIC
constexpr long cgroup1_magic = 0x27e0eb;    // CGROUP_SUPER_MAGIC

::std::string read_file(const ::std::string& path) {
  ::std::ifstream file(path);
  ::std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

absl::Status write_file(const ::std::string& path, const ::std::string& text) {
  ::std::FILE* file = ::std::fopen(path.c_str(), "we");
  if (file == nullptr) return errno_status(absl::StrCat("cannot open ", path));
  bool written = ::std::fputs(text.c_str(), file) >= 0;
  int error = errno;
  if (::std::fclose(file) != 0 && written) {
    written = false;
    error = errno;
  }
  if (!written) return errno_status(absl::StrCat("cannot write \"", text, "\" to ", path), error);
  return absl::OkStatus();
}

bool has_word(const ::std::string& text, ::std::string_view word) {
  ::std::istringstream words(text);
  ::std::string each;
  while (words >> each) {
    if (each == word) return true;
  }
  return false;
}

// Why drun cannot create cgroups in `directory`, or empty when it can.
::std::string unwritable_reason(const ::std::string& directory) {
  if (::access(directory.c_str(), W_OK) == 0) return {};
  return ::std::strerror(errno);
}

// The cgroup hierarchies of this machine that have the cpu controller, v2 first. `tried` gets one
// line per hierarchy looked at and rejected.
::std::vector<cpu_hierarchy> cpu_hierarchies(::std::vector<::std::string>* tried) {
  ::std::vector<cpu_hierarchy> found;
  auto reject = [&](const ::std::string& what) {
    if (tried != nullptr) tried->push_back(what);
  };
  if (const char* parent = ::getenv(cgroup_parent_variable); parent != nullptr && *parent != '\0') {
    struct statfs about {};
    if (::statfs(parent, &about) != 0) {
      reject(absl::StrCat(cgroup_parent_variable, "=", parent, ": ", ::std::strerror(errno)));
    } else if (static_cast<long>(about.f_type) == cgroup2_magic) {
      found.push_back({2, parent});
    } else if (static_cast<long>(about.f_type) == cgroup1_magic) {
      found.push_back({1, parent});
    } else {
      reject(absl::StrCat(cgroup_parent_variable, "=", parent, ": not a cgroup directory"));
    }
    return found;  // the user chose: nothing else is tried
  }
  ::std::vector<cpu_hierarchy> version1;
  ::std::ifstream mounts("/proc/self/mounts");
  ::std::string line;
  while (::std::getline(mounts, line)) {
    ::std::istringstream fields(line);
    ::std::string device, mount_point, type, options;
    if (!(fields >> device >> mount_point >> type >> options)) continue;
    if (type == "cgroup2") {
      if (has_word(read_file(mount_point + "/cgroup.controllers"), "cpu")) {
        found.push_back({2, mount_point});
      } else {
        reject(absl::StrCat("cgroup v2 at ", mount_point,
                            ": no cpu controller there (cgroup v1 holds it)"));
      }
    } else if (type == "cgroup") {
      ::std::string each;
      ::std::istringstream list(options);
      while (::std::getline(list, each, ',')) {
        if (each == "cpu") version1.push_back({1, mount_point});
      }
    }
  }
  found.insert(found.end(), version1.begin(), version1.end());
  return found;
}

absl::Status enable_cpu_controller(const ::std::string& directory) {
  if (has_word(read_file(directory + "/cgroup.subtree_control"), "cpu")) return absl::OkStatus();
  return write_file(directory + "/cgroup.subtree_control", "+cpu");
}

// Kills every process in `directory` (a cgroup) and removes it, retrying while the killed ones
// exit; true when it is gone.
bool empty_and_remove(const ::std::string& directory,
                      ::std::chrono::steady_clock::time_point deadline) {
  while (true) {
    if (::rmdir(directory.c_str()) == 0 || errno == ENOENT) return true;
    if (errno != EBUSY || ::std::chrono::steady_clock::now() >= deadline) return false;
    ::std::istringstream pids(read_file(directory + "/cgroup.procs"));
    for (long pid = 0; pids >> pid;) {
      if (pid > 0) ::kill(static_cast<pid_t>(pid), SIGKILL);
    }
    ::std::this_thread::sleep_for(::std::chrono::milliseconds(10));
  }
}

::std::vector<::std::string> subdirectories(const ::std::string& directory) {
  ::std::vector<::std::string> names;
  if (DIR* listing = ::opendir(directory.c_str()); listing != nullptr) {
    while (dirent* entry = ::readdir(listing)) {
      if (entry->d_type == DT_DIR && entry->d_name[0] != '.') names.emplace_back(entry->d_name);
    }
    ::closedir(listing);
  }
  return names;
}

}  // namespace

absl::StatusOr<double> parse_cpu_quota(::std::string_view text) {
  double cores = 0;
  auto [end, error] =
      ::std::from_chars(text.data(), text.data() + text.size(), cores, ::std::chars_format::fixed);
  if (text.empty() || error != ::std::errc() || end != text.data() + text.size() ||
      !::std::isfinite(cores) || cores < least_cpu_quota) {
    return absl::InvalidArgumentError(absl::StrCat("must be a number of cores of at least ",
                                                   least_cpu_quota, ", e.g. 0.25, 1 or 1.5; got \"",
                                                   ::std::string(text), "\""));
  }
  return cores;
}

absl::StatusOr<cpu_hierarchy> find_cpu_hierarchy() {
  ::std::vector<::std::string> tried;
  for (const cpu_hierarchy& hierarchy : cpu_hierarchies(&tried)) {
    ::std::string reason = unwritable_reason(hierarchy.root);
    if (reason.empty() && hierarchy.version == 2) {
      // The cpu controller must be on for the job's cgroup, below this one.
      const ::std::string subtree = hierarchy.root + "/cgroup.subtree_control";
      if (!has_word(read_file(subtree), "cpu") && ::access(subtree.c_str(), W_OK) != 0) {
        reason = absl::StrCat("cannot enable the cpu controller in ", subtree, ": ",
                              ::std::strerror(errno));
      }
    }
    if (reason.empty()) return hierarchy;
    tried.push_back(
        absl::StrCat("cgroup v", hierarchy.version, " at ", hierarchy.root, ": ", reason));
  }
  if (tried.empty())
    tried.emplace_back(
        "no cgroup hierarchy with the cpu controller is mounted (/proc/self/mounts)");
  return absl::FailedPreconditionError(absl::StrCat(
      "--cpu-quota needs a cgroup with the cpu controller that drun may write, and found none "
      "(tried ",
      absl::StrJoin(tried, "; "),
      "); run drun as root, or delegate a cgroup to your user and name it in ",
      cgroup_parent_variable, " (e.g. systemd-run --user -p Delegate=yes --shell, then ",
      cgroup_parent_variable, "=/sys/fs/cgroup/<that cgroup>)"));
}

absl::StatusOr<cpu_quota_cgroups> cpu_quota_cgroups::create(const cpu_hierarchy& hierarchy,
                                                            const ::std::string& job_id, int nodes,
                                                            double cores) {
  cpu_quota_cgroups cgroups;
  cgroups.job_directory_ = absl::StrCat(hierarchy.root, "/", job_directory_prefix, job_id);
  const long long quota_us = ::std::llround(cores * static_cast<double>(period.count()));

  auto build = [&]() -> absl::Status {
    if (hierarchy.version == 2) DRUST_RETURN_IF_ERROR(enable_cpu_controller(hierarchy.root));
    // 0700, as every file of a job: other users need not list the job's processes or read its
    // counters, and drun (the same user) is the only one that writes them.
    if (::mkdir(cgroups.job_directory_.c_str(), 0700) != 0) {
      return errno_status(absl::StrCat("cannot create the cgroup ", cgroups.job_directory_));
    }
    if (hierarchy.version == 2)
      DRUST_RETURN_IF_ERROR(enable_cpu_controller(cgroups.job_directory_));
    for (int node = 0; node < nodes; ++node) {
      ::std::string directory = absl::StrCat(cgroups.job_directory_, "/node-", node);
      if (::mkdir(directory.c_str(), 0700) != 0)
        return errno_status(absl::StrCat("cannot create the cgroup ", directory));
      cgroups.node_directories_.push_back(directory);
      cgroups.procs_files_.push_back(directory + "/cgroup.procs");
      if (hierarchy.version == 2) {
        DRUST_RETURN_IF_ERROR(
            write_file(directory + "/cpu.max", absl::StrCat(quota_us, " ", period.count())));
      } else {
        DRUST_RETURN_IF_ERROR(
            write_file(directory + "/cpu.cfs_period_us", absl::StrCat(period.count())));
        DRUST_RETURN_IF_ERROR(write_file(directory + "/cpu.cfs_quota_us", absl::StrCat(quota_us)));
      }
    }
    return absl::OkStatus();
  };
  if (absl::Status built = build(); !built.ok()) {
    cgroups.remove().IgnoreError();
    return built;
  }
  return cgroups;
}

cpu_quota_cgroups cpu_quota_cgroups::existing(const ::std::string& job_directory) {
  cpu_quota_cgroups cgroups;
  cgroups.job_directory_ = job_directory;
  for (const ::std::string& node : subdirectories(job_directory)) {
    cgroups.node_directories_.push_back(absl::StrCat(job_directory, "/", node));
    cgroups.procs_files_.push_back(cgroups.node_directories_.back() + "/cgroup.procs");
  }
  return cgroups;
}

absl::Status cpu_quota_cgroups::remove(::std::chrono::milliseconds patience) {
  if (job_directory_.empty()) return absl::OkStatus();
  auto deadline = ::std::chrono::steady_clock::now() + patience;
  ::std::vector<::std::string> left;
  for (const ::std::string& directory : node_directories_) {
    if (!empty_and_remove(directory, deadline))
      left.push_back(absl::StrCat(directory, " (", ::std::strerror(errno), ")"));
  }
  if (left.empty() && !empty_and_remove(job_directory_, deadline)) {
    left.push_back(absl::StrCat(job_directory_, " (", ::std::strerror(errno), ")"));
  }
  if (left.empty()) {
    job_directory_.clear();
    return absl::OkStatus();
  }
  return absl::UnavailableError(
      absl::StrCat("cannot remove the cgroup ", absl::StrJoin(left, ", ")));
}

::std::vector<removed_leftover> remove_stale_cpu_cgroups() {
  ::std::vector<removed_leftover> removed;
  for (const cpu_hierarchy& hierarchy : cpu_hierarchies(nullptr)) {
    for (const ::std::string& name : subdirectories(hierarchy.root)) {
      if (name.rfind(job_directory_prefix, 0) != 0) continue;
      const ::std::string job_id = name.substr(::std::strlen(job_directory_prefix));
      if (!looks_like_job_id(job_id) || job_is_alive(job_id)) continue;
      ::std::string directory = absl::StrCat(hierarchy.root, "/", name);
      cpu_quota_cgroups stale = cpu_quota_cgroups::existing(directory);
      if (stale.remove(::std::chrono::seconds(1)).ok()) removed.push_back({job_id, directory});
    }
  }
  return removed;
}

}  // namespace drust::launcher
