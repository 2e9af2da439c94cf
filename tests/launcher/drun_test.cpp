// drun's process management, with fake nodes (fake_node.cpp) that speak the bootstrap protocol and
// misbehave on request: exit statuses, killed nodes, signals, strangers, refused executables,
// timeouts, output tagging, the nodes' environment, bad cluster files and ssh (through a fake ssh).
#include <doctest/doctest.h>
#include <sched.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "control/frame.hpp"
#include "drun_job.hpp"
#include "subprocess.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

using drust_test::check_nothing_left;
using drust_test::contains;
using drust_test::started_job;

namespace {

const std::string drun = drust_test::env_or("DRUN", "drun");
const std::string fake_node = drust_test::env_or("FAKE_NODE", "fake_node");
const std::string fake_node_other_build = drust_test::env_or("FAKE_NODE_OTHER_BUILD", "fake_node_other_build");
const std::string fake_ssh_directory = drust_test::env_or("FAKE_SSH_DIR", "fake_ssh");
constexpr auto run_limit = 30s;  // for any one drun run in this file

// A fresh directory for one test's files.
fs::path scratch_directory(const std::string& name) {
  fs::path directory = fs::temp_directory_path() / ("drun-test-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(directory);
  fs::create_directories(directory);
  return directory;
}

fs::path write_file(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}


// The pids drun --verbose printed, from a finished run.
std::map<int, pid_t> pids_in(const std::string& err) {
  std::map<int, pid_t> pids;
  for (const auto& line : drust_test::search_all(err, R"(drun: node (\d+) pid (\d+))")) {
    pids[std::stoi(line[1])] = std::stoi(line[2]);
  }
  return pids;
}

std::string path_with_fake_ssh() { return "PATH=" + fake_ssh_directory + ":" + drust_test::env_or("PATH", "/usr/bin:/bin"); }

}  // namespace

TEST_CASE("drun exits with node 0's exit status") {
  auto result = drust_test::run_process({drun, "-n", "3", fake_node, "--exit=3"}, run_limit);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 3);
  CHECK(result.err.empty());

  auto ok = drust_test::run_process({drun, "-n", "2", fake_node}, run_limit);
  CHECK(ok.exit_code == 0);
}

TEST_CASE("a node killed with SIGKILL mid-run stops the job within 5 s and leaves nothing behind") {
  drust_test::background_process job_process({drun, "--verbose", "-n", "3", fake_node, "--sleep-ms=60000", "--shm"});
  started_job job = drust_test::wait_until_started(job_process, 10s);
  REQUIRE(job.pids.size() == 3);
  CHECK(drust_test::shm_files_with_prefix("drust-" + job.job_id + "-").size() == 3);

  auto killed_at = std::chrono::steady_clock::now();
  REQUIRE(::kill(job.pids[2], SIGKILL) == 0);
  auto result = job_process.wait(run_limit);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(seconds < 5.0);
  CHECK(result.exit_code == 128 + SIGKILL);
  CHECK(contains(result.err, "drun: node 2 (host localhost, pid " + std::to_string(job.pids[2]) +
                                 ") was killed by SIGKILL; stopping the job"));
  check_nothing_left(job);
}

TEST_CASE("a node that exits early with a status ends the job with that status") {
  auto result = drust_test::run_process({drun, "--verbose", "-n", "3", fake_node, "--exit-on=1:4", "--sleep-ms=60000"}, run_limit);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 4);
  auto pids = pids_in(result.err);
  CHECK(contains(result.err, "drun: node 1 (host localhost, pid " + std::to_string(pids[1]) +
                                 ") exited with status 4 before the job ended; stopping the job"));
  CHECK(result.seconds < 10);
}

TEST_CASE("SIGTERM to drun is forwarded to every node and nothing is left") {
  drust_test::background_process job_process({drun, "--verbose", "-n", "3", fake_node, "--sleep-ms=60000", "--shm"});
  started_job job = drust_test::wait_until_started(job_process, 10s);
  job_process.signal(SIGTERM);
  auto result = job_process.wait(run_limit);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 128 + SIGTERM);
  CHECK(contains(result.err, "drun: interrupted by SIGTERM"));
  CHECK_FALSE(contains(result.err, "stopping the job"));
  check_nothing_left(job);
}

TEST_CASE("no node outlives drun, even when drun is killed with SIGKILL") {
  drust_test::background_process job_process({drun, "--verbose", "-n", "3", fake_node, "--sleep-ms=60000", "--ignore-sigterm"});
  started_job job = drust_test::wait_until_started(job_process, 10s);
  job_process.signal(SIGKILL);
  auto result = job_process.wait(run_limit);
  CHECK(result.term_signal == SIGKILL);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  auto any_alive = [&] {
    for (const auto& entry : job.pids) {
      if (drust_test::pid_alive(entry.second)) return true;
    }
    return false;
  };
  while (any_alive() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  CHECK_FALSE(any_alive());
}

TEST_CASE("a second signal kills nodes that ignore the first") {
  drust_test::background_process job_process(
      {drun, "--verbose", "-n", "2", fake_node, "--sleep-ms=60000", "--ignore-sigterm"});
  started_job job = drust_test::wait_until_started(job_process, 10s);
  job_process.signal(SIGTERM);
  std::this_thread::sleep_for(500ms);
  for (const auto& [node, pid] : job.pids) CHECK(drust_test::pid_alive(pid));  // they ignored it
  job_process.signal(SIGINT);
  auto result = job_process.wait(run_limit);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 128 + SIGTERM);
  CHECK(contains(result.err, "drun: interrupted by SIGTERM"));
  check_nothing_left(job);
}

TEST_CASE("a connection without the cookie gets an error frame and is closed; the job finishes normally") {
  drust_test::background_process job_process({drun, "-n", "2", fake_node, "--print-info", "--sleep-ms=1500"});
  const std::string info_line = R"(fake node 0 pid \d+ controller ([^ ]+) job)";
  auto line = job_process.wait_for_line([&](const std::string& l) { return drust_test::matches(l, info_line); }, 10s);
  REQUIRE(line.has_value());
  auto match = drust_test::search(*line, info_line);
  REQUIRE(match.has_value());
  auto address = drust::control::split_host_port((*match)[1]);
  REQUIRE(address.ok());

  auto stranger = drust::control::connect_tcp(address->first, address->second, 2s);
  REQUIRE(stranger.ok());
  REQUIRE(drust::control::send_frame(*stranger, {{"type", "hello"}, {"cookie", "not-the-cookie"}, {"node", 1}}).ok());
  auto refusal = drust::control::receive_frame(*stranger, 5s);
  REQUIRE(refusal.ok());
  CHECK((*refusal)["type"] == "error");
  CHECK(contains((*refusal)["message"].get<std::string>(), "cookie"));
  auto after = drust::control::receive_frame(*stranger, 5s);
  CHECK(absl::IsUnavailable(after.status()));  // closed by the controller
  ::close(*stranger);

  auto result = job_process.wait(run_limit);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 0);
  CHECK(result.err.empty());
}

TEST_CASE("a missing or non-executable program: exit 127 and a message, nothing started") {
  auto missing = drust_test::run_process({drun, "-n", "2", "./no-such-program", "x"}, run_limit);
  CHECK(missing.exit_code == 127);
  CHECK(missing.err == "drun: cannot run './no-such-program': No such file or directory\n");

  auto not_in_path = drust_test::run_process({drun, "-n", "2", "no-such-program-in-path"}, run_limit);
  CHECK(not_in_path.exit_code == 127);
  CHECK(not_in_path.err == "drun: cannot run 'no-such-program-in-path': No such file or directory\n");

  fs::path directory = scratch_directory("not-executable");
  fs::path script = write_file(directory / "script", "#!/bin/sh\nexit 0\n");
  fs::permissions(script, fs::perms::owner_read | fs::perms::owner_write);
  auto not_executable = drust_test::run_process({drun, "-n", "1", script.string()}, run_limit);
  CHECK(not_executable.exit_code == 127);
  CHECK(not_executable.err == "drun: cannot run '" + script.string() + "': Permission denied\n");
  fs::remove_all(directory);
}

TEST_CASE("a node running a different executable is refused with a message naming both build ids") {
  fs::path directory = scratch_directory("build-id");
  fs::path cluster = write_file(directory / "cluster.json", R"({"nodes": [{"host": "localhost"},
      {"host": "localhost", "program": ")" + fake_node_other_build + R"("}, {"host": "localhost"}]})");
  auto result = drust_test::run_process({drun, "--verbose", "--cluster", cluster.string(), fake_node, "--sleep-ms=60000"}, run_limit);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 1);
  auto pids = pids_in(result.err);
  CHECK(contains(result.err, "drun: node 1 (host localhost, pid " + std::to_string(pids[1]) +
                                 ") runs a different executable (build id fake-build-2) than node 0 (build id "
                                 "fake-build-1): build once and copy the same binary to every host"));
  CHECK(result.seconds < 10);
  for (const auto& [node, pid] : pids) CHECK(!drust_test::pid_alive(pid));
  fs::remove_all(directory);
}

TEST_CASE("a node that exits without joining is named, with a hint about linking with drust") {
  auto result = drust_test::run_process({drun, "--verbose", "-n", "2", fake_node, "--skip-hello-on=1", "--sleep-ms=60000"}, run_limit);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 1);
  auto pids = pids_in(result.err);
  CHECK(contains(result.err, "drun: node 1 (host localhost, pid " + std::to_string(pids[1]) + ") exited with status 0 before joining "
                             "the job: is " + fake_node + " linked with drust (pkg-config drust)?"));

  auto failing = drust_test::run_process({drun, "-n", "1", "/bin/false"}, run_limit);
  CHECK(failing.exit_code == 1);
  CHECK(contains(failing.err, "exited with status 1 before joining the job: see its own messages above"));

  auto plain = drust_test::run_process({drun, "-n", "1", "/bin/true"}, run_limit);
  CHECK(plain.exit_code == 1);
  CHECK(contains(plain.err, "exited with status 0 before joining the job: is /bin/true linked with drust"));
}

TEST_CASE("the bootstrap timeout names the nodes that never said hello") {
  auto result = drust_test::run_process(
      {drun, "--verbose", "--bootstrap-timeout", "1", "-n", "3", fake_node, "--silent-on=2", "--sleep-ms=60000"}, run_limit);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 1);
  auto pids = pids_in(result.err);
  CHECK(contains(result.err, "drun: the job did not start within 1 s: node 2 (host localhost, pid " +
                                 std::to_string(pids[2]) + ") never said hello to the controller at 127.0.0.1:"));
  CHECK(result.seconds < 6);
  for (const auto& [node, pid] : pids) CHECK(!drust_test::pid_alive(pid));
}

TEST_CASE("when node 0 ends, the others get shutdown; one that ignores it is killed after 2 s") {
  auto result = drust_test::run_process({drun, "--verbose", "-n", "3", fake_node, "--ignore-shutdown"}, run_limit);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 0);
  CHECK(result.seconds >= 1.9);
  CHECK(result.seconds < 6);
  CHECK(contains(result.err, "is still running: SIGKILL"));
  for (const auto& [node, pid] : pids_in(result.err)) CHECK(!drust_test::pid_alive(pid));

  auto prompt = drust_test::run_process({drun, "-n", "3", fake_node}, run_limit);
  CHECK(prompt.exit_code == 0);
  CHECK(prompt.seconds < 1.9);  // nodes that obey shutdown are not waited for
}

TEST_CASE("--stats prints a table of every node's counters after the job") {
  auto result = drust_test::run_process({drun, "--stats", "-n", "3", fake_node, "--send-stats", "--lines=1"}, run_limit);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 0);
  CHECK(result.seconds < 2);  // the stats come before the nodes exit: nothing to wait for
  auto title = result.err.find("drust stats (per node)\n");
  REQUIRE(title != std::string::npos);
  CHECK(result.err.find("err 0 from node") < title);  // after the program's own output
  std::istringstream table(result.err.substr(title));
  std::vector<std::string> lines;
  for (std::string line; std::getline(table, line);) lines.push_back(line);
  REQUIRE(lines.size() == 6);
  CHECK(contains(lines[1], "heap MiB"));
  CHECK(contains(lines[1], "allocated"));
  CHECK(contains(lines[1], "CPU"));
  CHECK(contains(lines[2], "node"));
  CHECK(contains(lines[2], "used/capacity"));
  CHECK(contains(lines[2], "by node"));
  CHECK(contains(lines[2], "hit %/miss/evict"));
  CHECK(contains(lines[2], "moves"));
  // node, heap, live objects, allocations, remote reads, read bytes, cache, moves, frees,
  // shared_ptr, messages, threads, CPU seconds, page faults
  const std::vector<std::string> hit_rates = {"-", "75\\.0", "75\\.0"};
  for (int node = 0; node < 3; ++node) {
    std::string k = std::to_string(node);
    CHECK(drust_test::matches(lines[static_cast<std::size_t>(3 + node)],
                              "^ +" + k + " +" + k + "\\.0/64\\.0 +0 +" + k + "/1 +0 +0B +" +
                                  hit_rates[static_cast<std::size_t>(node)] + "/" + k + "/0 +" +
                                  std::to_string(10 + node) + " +0/0 +0/0 +0/0 +" + k + " +" + k + "\\.5 +100" + k + "$"));
  }

  // Nodes that send no stats get a row that says so, and are not waited for.
  auto silent = drust_test::run_process({drun, "--stats", "-n", "2", fake_node}, run_limit);
  INFO("stderr: " << silent.err);
  CHECK(silent.exit_code == 0);
  CHECK(silent.seconds < 2);
  CHECK(drust_test::matches(silent.err, "\n +1  no stats: the node ended before it sent them\n"));

  // A node that ignores shutdown is killed after 2 s, and drun still ends.
  auto stubborn = drust_test::run_process({drun, "--stats", "-n", "2", fake_node, "--send-stats", "--ignore-shutdown"},
                                          run_limit);
  CHECK(stubborn.exit_code == 0);
  CHECK(stubborn.seconds < 6);
  CHECK(drust_test::matches(stubborn.err, "\n +1  no stats"));

  // Without --stats there is no table.
  auto quiet = drust_test::run_process({drun, "-n", "2", fake_node, "--send-stats"}, run_limit);
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.err.empty());
}

TEST_CASE("--tag-output prefixes every line with the node") {
  auto result = drust_test::run_process({drun, "--tag-output", "-n", "2", fake_node, "--lines=3"}, run_limit);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 0);
  for (int node = 0; node < 2; ++node) {
    for (int line = 0; line < 3; ++line) {
      std::string tag = "[n" + std::to_string(node) + "] ";
      CHECK(contains(result.out, tag + "out " + std::to_string(line) + " from node " + std::to_string(node) + "\n"));
      CHECK(contains(result.err, tag + "err " + std::to_string(line) + " from node " + std::to_string(node) + "\n"));
    }
  }
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) CHECK(line.rfind("[n", 0) == 0);

  auto untagged = drust_test::run_process({drun, "-n", "2", fake_node, "--lines=1"}, run_limit);
  CHECK(contains(untagged.out, "out 0 from node 1\n"));
  CHECK_FALSE(contains(untagged.out, "[n"));
}

TEST_CASE("every node gets the DRUST_* variables of the bootstrap contract") {
  auto result = drust_test::run_process(
      {drun, "-n", "2", "--heap", "64MiB", "--cores", "3", "--provider", "tcp", fake_node, "--print-env"}, run_limit);
  INFO("stderr: " << result.err);
  REQUIRE(result.exit_code == 0);
  for (int node = 0; node < 2; ++node) {
    std::string prefix = "node " + std::to_string(node) + " ";
    CHECK(contains(result.out, prefix + "DRUST_NODE=" + std::to_string(node) + "\n"));
    CHECK(contains(result.out, prefix + "DRUST_NODES=2\n"));
    CHECK(contains(result.out, prefix + "DRUST_PROVIDER=tcp;ofi_rxm\n"));
    CHECK(contains(result.out, prefix + "DRUST_HEAP_SIZE=67108864\n"));
    CHECK(contains(result.out, prefix + "DRUST_PARTITION_SIZE=67108864\n"));
    CHECK(contains(result.out, prefix + "DRUST_CACHE_SIZE=16777216\n"));
    CHECK(contains(result.out, prefix + "DRUST_HEAP_PRESSURE=90\n"));
    CHECK(contains(result.out, prefix + "DRUST_CORES=3\n"));
    CHECK(contains(result.out, prefix + "DRUST_FABRIC_HOST=127.0.0.1\n"));
    CHECK(drust_test::matches(result.out, prefix + "DRUST_JOB=[0-9a-f]{16}\n"));
    CHECK(drust_test::matches(result.out, prefix + "DRUST_COOKIE=[0-9a-f]{32}\n"));
    CHECK(drust_test::matches(result.out, prefix + "DRUST_CONTROLLER=127\\.0\\.0\\.1:\\d+\n"));
  }

  auto tuned = drust_test::run_process(
      {drun, "-n", "2", "--cache", "3MiB", "--heap-pressure", "75", fake_node, "--print-env"}, run_limit);
  INFO("stderr: " << tuned.err);
  REQUIRE(tuned.exit_code == 0);
  for (int node = 0; node < 2; ++node) {
    std::string prefix = "node " + std::to_string(node) + " ";
    CHECK(contains(tuned.out, prefix + "DRUST_CACHE_SIZE=3145728\n"));
    CHECK(contains(tuned.out, prefix + "DRUST_HEAP_PRESSURE=75\n"));
  }

  fs::path directory = scratch_directory("tuned-cluster");
  fs::path cluster = write_file(directory / "cluster.json", R"({"cache_size": "8MiB", "heap_pressure": 80,
      "nodes": [{"host": "localhost", "cache": "1MiB", "heap_pressure": 50}, {"host": "localhost"}]})");
  auto from_file = drust_test::run_process({drun, "--cluster", cluster.string(), fake_node, "--print-env"}, run_limit);
  INFO("stderr: " << from_file.err);
  REQUIRE(from_file.exit_code == 0);
  CHECK(contains(from_file.out, "node 0 DRUST_CACHE_SIZE=1048576\n"));
  CHECK(contains(from_file.out, "node 0 DRUST_HEAP_PRESSURE=50\n"));
  CHECK(contains(from_file.out, "node 1 DRUST_CACHE_SIZE=8388608\n"));
  CHECK(contains(from_file.out, "node 1 DRUST_HEAP_PRESSURE=80\n"));
  fs::remove_all(directory);

  auto from_environment = drust_test::run_process({drun, "-n", "1", fake_node, "--print-env"}, run_limit, {"DRUST_PROVIDER=verbs"});
  CHECK(contains(from_environment.out, "DRUST_PROVIDER=verbs;ofi_rxm\n"));
  auto automatic = drust_test::run_process({drun, "-n", "1", fake_node, "--print-env"}, run_limit, {"DRUST_PROVIDER="});
  CHECK(contains(automatic.out, "DRUST_PROVIDER=shm\n"));
}

// The CPUs this process may run on, as fake_node prints them.
std::vector<int> own_cpus() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
    }
  }
  return cpus;
}

// "node K CPUS=a,b" of node K, as numbers.
std::vector<int> printed_cpus(const std::string& out, int node) {
  std::vector<int> cpus;
  auto found = drust_test::search(out, "node " + std::to_string(node) + " CPUS=([0-9,]*)\n");
  if (!found) return cpus;
  std::stringstream list((*found)[1]);
  for (std::string cpu; std::getline(list, cpu, ',');) cpus.push_back(std::stoi(cpu));
  return cpus;
}

TEST_CASE("nodes sharing this machine run on their own shares of its CPUs; --cpu-bind none leaves them all") {
  const std::vector<int> mine = own_cpus();
  REQUIRE(!mine.empty());
  auto spread = drust_test::run_process({drun, "-n", "2", "--verbose", fake_node, "--print-cpus"}, run_limit);
  INFO("stderr: " << spread.err);
  REQUIRE(spread.exit_code == 0);
  const std::vector<int> first = printed_cpus(spread.out, 0);
  const std::vector<int> second = printed_cpus(spread.out, 1);
  REQUIRE(!first.empty());
  REQUIRE(!second.empty());
  if (mine.size() >= 2) {
    // As many CPUs as nodes or more: disjoint halves of this process's CPUs, together all of them.
    std::vector<int> both = first;
    both.insert(both.end(), second.begin(), second.end());
    std::sort(both.begin(), both.end());
    CHECK(both == mine);
    CHECK(first.size() == mine.size() / 2 + mine.size() % 2);
    // --verbose says where each node runs.
    CHECK(contains(spread.err, " on CPUs "));
  } else {
    CHECK(first == mine);
    CHECK(second == mine);
  }

  auto unbound = drust_test::run_process({drun, "-n", "2", "--cpu-bind", "none", fake_node, "--print-cpus"}, run_limit);
  INFO("stderr: " << unbound.err);
  REQUIRE(unbound.exit_code == 0);
  CHECK(printed_cpus(unbound.out, 0) == mine);
  CHECK(printed_cpus(unbound.out, 1) == mine);

  // One node keeps every CPU.
  auto alone = drust_test::run_process({drun, "-n", "1", fake_node, "--print-cpus"}, run_limit);
  REQUIRE(alone.exit_code == 0);
  CHECK(printed_cpus(alone.out, 0) == mine);

  // More nodes than CPUs: left to the kernel unless spread is asked for, then one CPU each in turn.
  if (mine.size() > 16) return;  // not a machine to start that many nodes on for this
  const std::string more = std::to_string(mine.size() + 1);
  auto crowded = drust_test::run_process({drun, "-n", more, fake_node, "--print-cpus"}, run_limit);
  REQUIRE(crowded.exit_code == 0);
  CHECK(printed_cpus(crowded.out, 0) == mine);
  auto crowded_spread = drust_test::run_process({drun, "-n", more, "--cpu-bind", "spread", fake_node, "--print-cpus"}, run_limit);
  REQUIRE(crowded_spread.exit_code == 0);
  CHECK(printed_cpus(crowded_spread.out, 0) == std::vector<int>{mine.front()});
  CHECK(printed_cpus(crowded_spread.out, static_cast<int>(mine.size())) == std::vector<int>{mine.front()});

  auto wrong = drust_test::run_process({drun, "-n", "2", "--cpu-bind", "cores", fake_node}, run_limit);
  CHECK(wrong.exit_code == 2);
  CHECK(contains(wrong.err, "--cpu-bind"));
  CHECK(contains(wrong.err, "spread"));
}

TEST_CASE("a bad cluster file is refused before anything starts") {
  fs::path directory = scratch_directory("bad-cluster");
  std::string marker = (directory / "started").string();
  auto run_with = [&](const std::string& text) {
    fs::path cluster = write_file(directory / "cluster.json", text);
    return drust_test::run_process({drun, "--cluster", cluster.string(), fake_node, "--marker=" + marker}, run_limit);
  };
  std::string file = (directory / "cluster.json").string();

  auto wrong_type = run_with(R"({"nodes": [{"host": "localhost"}, {"host": "localhost", "cores": "two"}]})");
  CHECK(wrong_type.exit_code == 1);
  CHECK(wrong_type.err == "drun: " + file + ": nodes[1].cores must be a positive integer, got \"two\"\n");

  auto syntax = run_with("{\"nodes\": [\n  {\"host\": \"localhost\"},,\n]}");
  CHECK(syntax.exit_code == 1);
  CHECK(contains(syntax.err, "drun: " + file + " line 2 column 25: syntax error"));

  auto unknown_key = run_with(R"({"nodes": [{"host": "localhost", "memory": "1GiB"}]})");
  CHECK(unknown_key.exit_code == 1);
  CHECK(contains(unknown_key.err, "nodes[0] has an unknown key \"memory\""));

  auto bad_pressure = run_with(R"({"nodes": [{"host": "localhost", "heap_pressure": 120}]})");
  CHECK(bad_pressure.exit_code == 1);
  CHECK(bad_pressure.err == "drun: " + file + ": nodes[0].heap_pressure must be a whole percentage from 1 to 100, got 120\n");

  auto unknown_provider = run_with(R"({"provider": "ib", "nodes": [{"host": "localhost"}]})");
  CHECK(contains(unknown_provider.err, "provider \"ib\" is unknown; use one of auto, shm, tcp"));

  auto missing_file = drust_test::run_process({drun, "--cluster", (directory / "none.json").string(), fake_node}, run_limit);
  CHECK(missing_file.exit_code == 1);
  CHECK(contains(missing_file.err, "drun: cannot read the cluster file '" + (directory / "none.json").string() +
                                       "': No such file or directory"));

  for (const auto& entry : fs::directory_iterator(directory)) {
    CHECK_MESSAGE(entry.path().filename().string().rfind("started", 0) != 0, "a node started: " << entry.path());
  }
  fs::remove_all(directory);
}

TEST_CASE("command line errors") {
  auto both = drust_test::run_process({drun, "-n", "2", "--cluster", "x.json", fake_node}, run_limit);
  CHECK(both.exit_code == 2);
  CHECK(contains(both.err, "drun: give either -n N or --cluster FILE, not both"));
  auto neither = drust_test::run_process({drun, fake_node}, run_limit);
  CHECK(neither.exit_code == 2);
  CHECK(contains(neither.err, "drun: say where to run: -n N"));
  auto no_program = drust_test::run_process({drun, "-n", "2"}, run_limit);
  CHECK(no_program.exit_code == 2);
  CHECK(contains(no_program.err, "drun: no program given"));
  auto bad_heap = drust_test::run_process({drun, "-n", "2", "--heap", "lots", fake_node}, run_limit);
  CHECK(bad_heap.exit_code == 2);
  CHECK(contains(bad_heap.err, "drun: --heap: \"lots\" is not a size"));
  auto bad_cache = drust_test::run_process({drun, "-n", "2", "--cache", "1.5G", fake_node}, run_limit);
  CHECK(bad_cache.exit_code == 2);
  CHECK(contains(bad_cache.err, "drun: --cache: \"1.5G\" is not a size"));
  auto empty_cache = drust_test::run_process({drun, "-n", "2", "--cache", "0", fake_node}, run_limit);
  CHECK(empty_cache.exit_code == 2);
  CHECK(contains(empty_cache.err, "drun: --cache must be larger than 0"));
  for (const char* pressure : {"0", "101", "ninety", "-5", "50.5"}) {
    auto bad_pressure = drust_test::run_process({drun, "-n", "2", "--heap-pressure", pressure, fake_node}, run_limit);
    INFO("--heap-pressure " << pressure);
    CHECK(bad_pressure.exit_code == 2);
    CHECK(contains(bad_pressure.err, std::string("drun: --heap-pressure must be a whole percentage from 1 to 100, got \"") +
                                         pressure + "\""));
  }
  auto bad_provider = drust_test::run_process({drun, "-n", "2", "--provider", "ib", fake_node}, run_limit);
  CHECK(bad_provider.exit_code == 1);
  CHECK(contains(bad_provider.err, "drun: --provider: provider \"ib\" is unknown"));
  // The program's own options are the program's, even when drun has an option of that name.
  auto program_options = drust_test::run_process({drun, "-n", "1", fake_node, "--print-info", "--", "-n", "--verbose"}, run_limit);
  CHECK(program_options.exit_code == 0);
  CHECK(contains(program_options.out, "argument [-n]\nargument [--verbose]\n"));
}

TEST_CASE("remote nodes are started through ssh, their arguments quoted, their files cleaned up") {
  fs::path directory = scratch_directory("remote");
  fs::path log = directory / "ssh.log";
  fs::path cluster = write_file(directory / "cluster.json", R"({"controller": "127.0.0.1:0",
      "nodes": [{"host": "remote-a"}, {"host": "localhost", "cores": 1}, {"host": "remote-a", "cores": 2}]})");
  auto result = drust_test::run_process(
      {drun, "--verbose", "--cluster", cluster.string(), fake_node, "--print-info", "--print-env", "--", "it's", "a b", "$HOME", ""},
      run_limit, {path_with_fake_ssh(), "FAKE_SSH_LOG=" + log.string(), "DRUST_PROGRESS=spin", "DRUST_MIRROR=off"});
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 0);
  CHECK(contains(result.out, "argument [it's]\nargument [a b]\nargument [$HOME]\nargument []\n"));
  CHECK(contains(result.out, "node 0 DRUST_PROGRESS=spin\n"));
  CHECK(contains(result.out, "node 1 DRUST_MIRROR=off\n"));
  CHECK(contains(result.out, "node 0 DRUST_PROVIDER=tcp;ofi_rxm\n"));
  CHECK(contains(result.out, "node 0 DRUST_FABRIC_HOST=remote-a\n"));
  CHECK(contains(result.out, "node 1 DRUST_FABRIC_HOST=127.0.0.1\n"));  // the controller's host: reachable from remote-a
  CHECK(contains(result.out, "node 2 DRUST_CORES=2\n"));
  CHECK(drust_test::matches(result.out, "node 0 DRUST_CORES=[1-9]"));  // asked through ssh getconf
  CHECK(contains(result.err, "(ssh to remote-a)"));

  std::ifstream log_file(log);
  std::string log_text((std::istreambuf_iterator<char>(log_file)), std::istreambuf_iterator<char>());
  CHECK(contains(log_text, "remote-a getconf _NPROCESSORS_ONLN"));
  CHECK(contains(log_text, "DRUST_PROGRESS=spin"));  // forwarded on the remote command line
  CHECK(contains(log_text, "DRUST_MIRROR=off"));
  auto job = drust_test::search(result.out, "job ([0-9a-f]{16})");
  REQUIRE(job.has_value());
  CHECK(contains(log_text, "remote-a rm -f /dev/shm/drust-" + (*job)[1] + "-*"));
  fs::remove_all(directory);
}

TEST_CASE("an unreachable remote host is named with the ssh command that failed") {
  fs::path directory = scratch_directory("unreachable");
  fs::path cluster = write_file(directory / "cluster.json", R"({"controller": "127.0.0.1:0",
      "nodes": [{"host": "localhost"}, {"host": "unreachable"}]})");
  auto asked = drust_test::run_process({drun, "--cluster", cluster.string(), fake_node}, run_limit, {path_with_fake_ssh()});
  CHECK(asked.exit_code == 1);
  CHECK(contains(asked.err, "drun: cannot ask host unreachable for its number of cores with `ssh -o BatchMode=yes "
                            "unreachable getconf _NPROCESSORS_ONLN` (exit status 255: ssh: connect to host unreachable"));

  cluster = write_file(directory / "cluster.json", R"({"controller": "127.0.0.1:0",
      "nodes": [{"host": "localhost"}, {"host": "unreachable", "cores": 1}]})");
  auto started = drust_test::run_process({drun, "--cluster", cluster.string(), fake_node, "--sleep-ms=60000"}, run_limit,
                                         {path_with_fake_ssh()});
  INFO("stderr: " << started.err);
  CHECK(started.exit_code == 255);
  CHECK(contains(started.err, "exited with status 255 before joining the job: ssh to unreachable failed; check that "
                              "`ssh -o BatchMode=yes unreachable true` works without a password; stopping the job"));
  fs::remove_all(directory);
}
