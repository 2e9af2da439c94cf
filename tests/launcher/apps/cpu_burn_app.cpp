// Node 0 spins for a given wall time and reports the CPU time its process got, with the cgroup it
// runs in and that cgroup's CPU quota: what `drun --cpu-quota` must show (tests/launcher/
// simulation_test.cpp). The other nodes only serve.
// Usage: cpu_burn_app [milliseconds]   (default 1000)
// Prints: burn wall_ms=<ms> cpu_s=<seconds> cgroup=<path in its cpu hierarchy> quota=<cpu.max or
// cfs_quota_us>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <drust/runtime>

namespace {

// The path of this process's cgroup in the hierarchy that has the cpu controller (v1's "cpu"
// line, else v2's "0::" line), and that hierarchy's mount point.
std::pair<std::string, std::string> cpu_cgroup() {
  std::ifstream lines("/proc/self/cgroup");
  std::string line, v1_path, v2_path;
  while (std::getline(lines, line)) {
    // id:controllers:path
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    std::stringstream list(controllers);
    for (std::string each; std::getline(list, each, ',');) {
      if (each == "cpu") v1_path = path;
    }
    if (line.rfind("0::", 0) == 0) v2_path = path;
  }
  std::ifstream mounts("/proc/self/mounts");
  std::string device, mount_point, type, options, v1_mount, v2_mount;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    fields >> device >> mount_point >> type >> options;
    if (type == "cgroup2") v2_mount = mount_point;
    if (type == "cgroup" && ("," + options + ",").find(",cpu,") != std::string::npos)
      v1_mount = mount_point;
  }
  if (!v1_path.empty() && !v1_mount.empty()) return {v1_mount, v1_path};
  return {v2_mount, v2_path};
}

std::string first_line(const std::string& path) {
  std::ifstream file(path);
  std::string line;
  std::getline(file, line);
  return line.empty() ? "none" : line;
}

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  const long wall_ms = argc > 1 ? std::atol(argv[1]) : 1000;
  const double cpu_before = cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  volatile unsigned long spins = 0;
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(wall_ms))
    spins = spins + 1;
  const double cpu = cpu_seconds() - cpu_before;

  auto [mount, path] = cpu_cgroup();
  std::string quota = first_line(mount + path + "/cpu.max");
  if (quota == "none") quota = first_line(mount + path + "/cpu.cfs_quota_us");
  std::printf("burn wall_ms=%ld cpu_s=%.3f cgroup=%s quota=%s\n", wall_ms, cpu, path.c_str(),
              quota.c_str());
  return 0;
}
