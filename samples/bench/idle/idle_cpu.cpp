// What does an idle drust cluster cost? Starts `drun -n N idle_app S`, waits for the job to
// settle, then reads the CPU time (user + system) of every node process twice, `window` seconds
// apart, and prints the total as a percentage of one core. Target (issue 2): under 5% for 8 nodes.
//
// Usage: idle-cpu [--nodes 8] [--window 10] [--provider shm] [--drun PATH] [--app PATH]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

std::vector<int> children_of(int pid) {
  std::vector<int> found;
  std::ifstream list("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  int child;
  while (list >> child) found.push_back(child);
  return found;
}

// utime + stime of a process, in clock ticks, threads included.
long long cpu_ticks(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return -1;
  std::istringstream fields(line.substr(line.rfind(')') + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) {
      stime = std::stoll(field);
      break;
    }
  }
  return utime + stime;
}

std::string option(int argc, char** argv, const char* name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return fallback;
}

std::string beside_this_program(const char* relative) {
  char self[4096] = {};
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string dir = n > 0 ? std::string(self, static_cast<std::size_t>(n)) : std::string(".");
  dir = dir.substr(0, dir.rfind('/'));
  return dir + "/" + relative;
}

}  // namespace

int main(int argc, char** argv) {
  const int nodes = std::stoi(option(argc, argv, "--nodes", "8"));
  const int window = std::stoi(option(argc, argv, "--window", "10"));
  const std::string provider = option(argc, argv, "--provider", "shm");
  const std::string drun = option(argc, argv, "--drun", beside_this_program("../../../launcher/drun"));
  const std::string app = option(argc, argv, "--app", beside_this_program("idle_app"));
  const int settle = 2;

  pid_t launcher = ::fork();
  if (launcher == 0) {
    std::string n = std::to_string(nodes), seconds = std::to_string(window + settle + 3);
    ::execl(drun.c_str(), drun.c_str(), "-n", n.c_str(), "--provider", provider.c_str(), app.c_str(), seconds.c_str(),
            static_cast<char*>(nullptr));
    std::perror("exec drun");
    ::_exit(127);
  }
  std::this_thread::sleep_for(std::chrono::seconds(settle));
  std::vector<int> pids = children_of(launcher);
  if (static_cast<int>(pids.size()) != nodes) {
    std::fprintf(stderr, "idle-cpu: expected %d node processes under drun, found %zu\n", nodes, pids.size());
    ::kill(launcher, SIGTERM);
    ::waitpid(launcher, nullptr, 0);
    return 1;
  }
  auto sum = [&] {
    long long total = 0;
    for (int pid : pids) total += cpu_ticks(pid);
    return total;
  };
  long long drun_before = cpu_ticks(launcher);
  long long before = sum();
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(window));
  long long after = sum();
  long long drun_after = cpu_ticks(launcher);
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  double nodes_percent = 100.0 * static_cast<double>(after - before) / tick / elapsed;
  double drun_percent = 100.0 * static_cast<double>(drun_after - drun_before) / tick / elapsed;
  int status = 0;
  ::waitpid(launcher, &status, 0);
  std::printf("idle cluster: %d nodes (%s) over %.1f s: nodes %.2f%% of one core in total, drun %.2f%%; target < 5%%\n",
              nodes, provider.c_str(), elapsed, nodes_percent, drun_percent);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
