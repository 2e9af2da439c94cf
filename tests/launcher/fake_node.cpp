// A stand-in for a drust node: speaks the node side of docs/design/bootstrap.md with scripted
// misbehaviour, so drun's process management can be tested without the real runtime's fabric.
//
// Every node gets the same arguments (drun passes them all), so the options name the node they
// apply to. Node 0 plays main: it prints, sleeps, and exits with --exit; the others serve until
// shutdown. Arguments after "--" are only printed (for the quoting tests).
//
//   --exit=S             node 0 exits with status S once the job started (default 0)
//   --sleep-ms=M         node 0 waits M ms before it exits (default 0)
//   --print-info         node 0 prints "fake node 0 pid P controller C job J provider V"
//   --print-env          every node prints its DRUST_* variables as "node K NAME=value"
//   --print-cpus         every node prints the CPUs it may run on as "node K CPUS=0,1"
//   --lines=N            every node prints N lines to stdout and N to stderr
//   --skip-hello-on=K    node K exits with status 0 at once, never contacting the controller
//   --silent-on=K        node K never contacts the controller and sleeps
//   --exit-on=K:S        node K exits with status S once the job started
//   --ignore-sigterm     every node ignores SIGTERM
//   --ignore-shutdown    the other nodes ignore `shutdown`
//   --shm                every node creates /dev/shm/drust-<job>-fake<K> and leaves it there
//   --marker=PATH        every node creates PATH.<K> when it starts
//   --echo-stdin         every node reads its stdin to the end and prints it as "node K stdin [...]"
//   --send-stats         every node sends a `stats` frame as the runtime does (node 0 before finish,
//                        the others on shutdown), with counters made from its id: moves = 10 + K,
//                        threads_started = K, heap_used = K MiB of 64 MiB, allocations_by_node = [K, 1]
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "control/frame.hpp"

#ifndef FAKE_BUILD_ID
#define FAKE_BUILD_ID "fake-build-1"
#endif

namespace {

using namespace std::chrono_literals;
namespace control = drust::control;

struct script {
  int exit_status = 0;
  int sleep_ms = 0;
  bool print_info = false;
  bool print_env = false;
  bool print_cpus = false;
  int lines = 0;
  std::optional<int> skip_hello_on;
  std::optional<int> silent_on;
  std::optional<std::pair<int, int>> exit_on;
  bool ignore_sigterm = false;
  bool ignore_shutdown = false;
  bool create_shm = false;
  std::string marker;
  bool send_stats = false;
  bool echo_stdin = false;
  std::vector<std::string> extra_arguments;
};

script read_script(int argc, char** argv) {
  script plan;
  for (int i = 1; i < argc; ++i) {
    std::string argument = argv[i];
    auto value = [&](const char* prefix) -> std::optional<std::string> {
      std::string start = prefix;
      if (argument.rfind(start, 0) != 0) return std::nullopt;
      return argument.substr(start.size());
    };
    if (argument == "--") {
      plan.extra_arguments.assign(argv + i + 1, argv + argc);
      break;
    }
    if (auto v = value("--exit=")) plan.exit_status = std::stoi(*v);
    else if (auto v = value("--sleep-ms=")) plan.sleep_ms = std::stoi(*v);
    else if (argument == "--print-info") plan.print_info = true;
    else if (argument == "--print-env") plan.print_env = true;
    else if (argument == "--print-cpus") plan.print_cpus = true;
    else if (auto v = value("--lines=")) plan.lines = std::stoi(*v);
    else if (auto v = value("--skip-hello-on=")) plan.skip_hello_on = std::stoi(*v);
    else if (auto v = value("--silent-on=")) plan.silent_on = std::stoi(*v);
    else if (auto v = value("--exit-on=")) {
      plan.exit_on = std::pair{std::stoi(v->substr(0, v->find(':'))), std::stoi(v->substr(v->find(':') + 1))};
    } else if (argument == "--ignore-sigterm") plan.ignore_sigterm = true;
    else if (argument == "--ignore-shutdown") plan.ignore_shutdown = true;
    else if (argument == "--shm") plan.create_shm = true;
    else if (auto v = value("--marker=")) plan.marker = *v;
    else if (argument == "--send-stats") plan.send_stats = true;
    else if (argument == "--echo-stdin") plan.echo_stdin = true;
    else {
      std::fprintf(stderr, "fake_node: unknown option %s\n", argument.c_str());
      std::exit(2);
    }
  }
  return plan;
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "fake_node %s: %s\n", env("DRUST_NODE").c_str(), why.c_str());
  std::exit(1);
}

nlohmann::json stats_of(int node) {
  const auto k = static_cast<std::uint64_t>(node);
  return {{"type", "stats"},       {"moves", 10 + k},          {"threads_started", k},
          {"heap_used", k << 20}, {"heap_capacity", 64u << 20}, {"allocations_by_node", {k, 1}},
          {"cache_hits", 3 * k},  {"cache_misses", k},        {"cpu_seconds", 0.5 + static_cast<double>(k)},
          {"page_faults", 1000 + k}};
}

nlohmann::json receive(int fd) {
  auto message = control::receive_frame(fd, 60s);
  if (!message.ok()) fail(std::string(message.status().message()));
  return *message;
}

}  // namespace

int main(int argc, char** argv) {
  script plan = read_script(argc, argv);
  if (plan.ignore_sigterm) ::signal(SIGTERM, SIG_IGN);
  const int node = std::atoi(env("DRUST_NODE").c_str());

  if (!plan.marker.empty()) std::ofstream(plan.marker + "." + std::to_string(node)) << ::getpid() << "\n";
  if (plan.create_shm) {
    std::string path = "/dev/shm/drust-" + env("DRUST_JOB") + "-fake" + std::to_string(node);
    ::close(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  }
  if (plan.print_cpus) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    std::string list;
    if (::sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
      for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &allowed)) list += (list.empty() ? "" : ",") + std::to_string(cpu);
      }
    }
    std::printf("node %d CPUS=%s\n", node, list.c_str());
    std::fflush(stdout);
  }
  if (plan.print_env) {
    for (const char* name : {"DRUST_JOB", "DRUST_COOKIE", "DRUST_NODE", "DRUST_NODES", "DRUST_CONTROLLER",
                             "DRUST_PROVIDER", "DRUST_PARTITION_SIZE", "DRUST_HEAP_SIZE", "DRUST_CORES",
                             "DRUST_CACHE_SIZE", "DRUST_HEAP_PRESSURE", "DRUST_FABRIC_HOST", "DRUST_PROGRESS",
                             "DRUST_MIRROR"}) {
      std::printf("node %d %s=%s\n", node, name, env(name).c_str());
    }
    std::fflush(stdout);
  }
  if (plan.echo_stdin) {
    std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    std::printf("node %d stdin [%s]\n", node, input.c_str());
    std::fflush(stdout);
  }
  for (int i = 0; i < plan.lines; ++i) {
    std::printf("out %d from node %d\n", i, node);
    std::fprintf(stderr, "err %d from node %d\n", i, node);
  }
  std::fflush(stdout);

  if (plan.skip_hello_on == node) return 0;
  if (plan.silent_on == node) {
    std::this_thread::sleep_for(600s);
    return 0;
  }

  auto controller = control::split_host_port(env("DRUST_CONTROLLER"));
  if (!controller.ok()) fail("DRUST_CONTROLLER: " + std::string(controller.status().message()));
  auto connected = control::connect_tcp(controller->first, controller->second, 10s);
  if (!connected.ok()) fail(std::string(connected.status().message()));
  const int fd = *connected;

  (void)control::send_frame(fd, {{"type", "hello"},
                                 {"cookie", env("DRUST_COOKIE")},
                                 {"node", node},
                                 {"pid", ::getpid()},
                                 {"host", "localhost"},
                                 {"build_id", FAKE_BUILD_ID},
                                 {"fabric_address", "00"},
                                 {"partition_base", 0},
                                 {"partition_key", 0}});
  nlohmann::json welcome = receive(fd);
  if (welcome.value("type", "") != "welcome") fail("refused: " + welcome.value("message", welcome.dump()));
  (void)control::send_frame(fd, {{"type", "ready"}});
  nlohmann::json start = receive(fd);
  if (start.value("type", "") != "start") fail("expected start, got " + start.dump());

  if (plan.exit_on && plan.exit_on->first == node) return plan.exit_on->second;

  if (node == 0) {
    if (plan.print_info) {
      std::printf("fake node 0 pid %d controller %s job %s provider %s\n", static_cast<int>(::getpid()),
                  env("DRUST_CONTROLLER").c_str(), env("DRUST_JOB").c_str(), env("DRUST_PROVIDER").c_str());
      for (const std::string& argument : plan.extra_arguments) std::printf("argument [%s]\n", argument.c_str());
      std::fflush(stdout);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(plan.sleep_ms));
    if (plan.send_stats) (void)control::send_frame(fd, stats_of(0));
    (void)control::send_frame(fd, {{"type", "finish"}, {"status", plan.exit_status}});
    return plan.exit_status;
  }

  // Serve: wait for the end of the job, as the runtime does.
  while (true) {
    auto message = control::receive_frame(fd, 600s);
    if (!message.ok()) return 1;  // the controller is gone: exit at once
    if (message->value("type", "") == "shutdown" && !plan.ignore_shutdown) {
      if (plan.send_stats) (void)control::send_frame(fd, stats_of(node));
      return 0;
    }
  }
}
