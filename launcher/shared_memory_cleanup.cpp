#include "shared_memory_cleanup.hpp"

#include <dirent.h>
#include <unistd.h>

#include "helper_commands.hpp"
#include "hosts.hpp"

namespace drust::launcher {

::std::string shared_memory_prefix(const ::std::string& job_id) { return "drust-" + job_id + "-"; }

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
