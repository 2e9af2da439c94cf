#include "shared_memory_cleanup.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "helper_commands.hpp"
#include "hosts.hpp"
#include "job_lock.hpp"

namespace drust::launcher {

::std::string shared_memory_prefix(const ::std::string& job_id) { return "drust-" + job_id + "-"; }

namespace {

constexpr char shared_memory_directory[] = "/dev/shm/";
constexpr ::std::size_t shared_memory_directory_length = sizeof shared_memory_directory - 1;
constexpr auto unmapped_grace = ::std::chrono::seconds(10);  // a node maps each file it makes at once

// The job id in a file name "drust-<job>-...", or "" when the name is not a job's.
::std::string job_of_file(::std::string_view name) {
  constexpr ::std::string_view prefix = "drust-";
  if (!name.starts_with(prefix)) return {};
  ::std::string_view rest = name.substr(prefix.size());
  const auto dash = rest.find('-');
  if (dash == ::std::string_view::npos) return {};
  ::std::string job(rest.substr(0, dash));
  return looks_like_job_id(job) ? job : ::std::string();
}

// The jobs that some process still belongs to (DRUST_JOB=<job> in its environment: every node of
// a job has it) or maps a file of (in /dev/shm), from every /proc/<pid> that this user may read:
// all of them for root, and every process of this user's jobs otherwise.
::std::set<::std::string> jobs_in_use() {
  ::std::set<::std::string> in_use;
  DIR* processes = ::opendir("/proc");
  if (processes == nullptr) return in_use;
  while (const dirent* entry = ::readdir(processes)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    ::std::ifstream environment(absl::StrCat("/proc/", entry->d_name, "/environ"));
    ::std::string variable;
    while (::std::getline(environment, variable, '\0')) {
      if (variable.starts_with("DRUST_JOB=")) in_use.insert(variable.substr(10));
    }
    ::std::ifstream maps(absl::StrCat("/proc/", entry->d_name, "/maps"));
    ::std::string line;
    while (::std::getline(maps, line)) {
      const auto at = line.find(shared_memory_directory);
      if (at == ::std::string::npos) continue;
      ::std::string job = job_of_file(::std::string_view(line).substr(at + shared_memory_directory_length));
      if (!job.empty()) in_use.insert(::std::move(job));
    }
  }
  ::closedir(processes);
  return in_use;
}

}  // namespace

::std::vector<::std::string> remove_unused_shared_memory() {
  struct job_files {
    ::std::vector<::std::string> paths;
    bool removable = true;  // every file ours and old enough
  };
  ::std::map<::std::string, job_files> jobs;
  const auto now = ::std::chrono::system_clock::now();
  DIR* directory = ::opendir(shared_memory_directory);
  if (directory == nullptr) return {};
  while (const dirent* entry = ::readdir(directory)) {
    ::std::string job = job_of_file(entry->d_name);
    if (job.empty()) continue;
    const ::std::string path = absl::StrCat(shared_memory_directory, entry->d_name);
    job_files& files = jobs[job];
    files.paths.push_back(path);
    struct stat status {};
    if (::lstat(path.c_str(), &status) != 0) continue;  // gone meanwhile
    const auto changed = ::std::chrono::system_clock::from_time_t(::std::max(status.st_mtime, status.st_ctime));
    const bool ours = ::geteuid() == 0 || status.st_uid == ::geteuid();
    if (!ours || now - changed < unmapped_grace) files.removable = false;
  }
  ::closedir(directory);
  if (jobs.empty()) return {};

  const ::std::set<::std::string> in_use = jobs_in_use();
  ::std::vector<::std::string> removed;
  for (const auto& [job, files] : jobs) {
    if (!files.removable || in_use.count(job) != 0) continue;
    for (const ::std::string& path : files.paths) ::unlink(path.c_str());
    removed.push_back(job);
  }
  return removed;
}

int remove_local_shared_memory(const ::std::string& job_id) {
  const ::std::string prefix = shared_memory_prefix(job_id);
  ::std::vector<::std::string> doomed;
  if (DIR* directory = ::opendir("/dev/shm"); directory != nullptr) {
    while (dirent* entry = ::readdir(directory)) {
      ::std::string name = entry->d_name;
      if (name.rfind(prefix, 0) == 0) doomed.push_back("/dev/shm/" + name);
    }
    ::closedir(directory);
  }
  int removed = 0;
  for (const ::std::string& path : doomed) removed += ::unlink(path.c_str()) == 0 ? 1 : 0;
  return removed;
}

void remove_remote_shared_memory(const ::std::string& job_id, const ::std::vector<::std::string>& hosts,
                                 ::std::chrono::milliseconds timeout) {
  if (hosts.empty()) return;
  ::std::vector<::std::vector<::std::string>> commands;
  for (const ::std::string& host : hosts) {
    auto command = ssh_command(host);
    command.insert(command.begin() + 1, "-n");
    // The job id is hex digits only, so the remote shell expands the glob and nothing else.
    command.push_back("rm -f /dev/shm/" + shared_memory_prefix(job_id) + "*");
    commands.push_back(::std::move(command));
  }
  run_helper_commands(commands, timeout);
}

}  // namespace drust::launcher
