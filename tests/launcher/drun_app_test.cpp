// drun with real drust programs (tests/launcher/apps, linked with drust_dep): the node runtime's
// __wrap_main does the node side of the bootstrap. Exit statuses, a killed node, SIGTERM, a
// stranger at the controller, a refused executable, placement advice and --stats, end to end.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
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
const std::string exit_status_app = drust_test::env_or("EXIT_STATUS_APP", "exit_status_app");
const std::string sleeper_app = drust_test::env_or("SLEEPER_APP", "sleeper_app");
const std::string sleeper_app_other_build = drust_test::env_or("SLEEPER_APP_OTHER_BUILD", "sleeper_app_other_build");
constexpr auto run_limit = 60s;

}  // namespace

TEST_CASE("main's return value is drun's exit status") {
  for (int nodes : {1, 3}) {
    auto result = drust_test::run_process({drun, "-n", std::to_string(nodes), exit_status_app, "3"}, run_limit);
    INFO("nodes " << nodes << " stderr: " << result.err);
    REQUIRE_FALSE(result.timed_out);
    CHECK(result.exit_code == 3);
  }
  auto ok = drust_test::run_process({drun, "-n", "2", exit_status_app, "0"}, run_limit);
  INFO("stderr: " << ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(ok.err.empty());
}

TEST_CASE("a node killed with SIGKILL mid-run: drun exits non-zero within 5 s and nothing is left") {
  drust_test::background_process job_process({drun, "--verbose", "-n", "3", sleeper_app, "60000"});
  started_job job = drust_test::wait_until_started(job_process, 30s);
  REQUIRE(job.pids.size() == 3);
  auto killed_at = std::chrono::steady_clock::now();
  REQUIRE(::kill(job.pids[1], SIGKILL) == 0);
  auto result = job_process.wait(run_limit);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(seconds < 5.0);
  CHECK(result.exit_code != 0);
  CHECK(contains(result.err, "node 1 (host localhost, pid " + std::to_string(job.pids[1]) + ") was killed by SIGKILL"));
  check_nothing_left(job);
}

TEST_CASE("a node stopped with SIGSTOP: drun names it as hung within --hang-timeout, exits non-zero, nothing is left") {
  drust_test::background_process job_process({drun, "--verbose", "--hang-timeout", "2", "-n", "3", sleeper_app, "60000"});
  started_job job = drust_test::wait_until_started(job_process, 30s);
  REQUIRE(job.pids.size() == 3);
  auto stopped_at = std::chrono::steady_clock::now();
  REQUIRE(::kill(job.pids[1], SIGSTOP) == 0);
  auto result = job_process.wait(run_limit);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped_at).count();
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(seconds >= 1.5);  // silent for the limit (less the last report's age), never before
  CHECK(seconds < 2.0 + 5.0);
  CHECK(result.exit_code != 0);
  CHECK(contains(result.err, "node 1 (host localhost, pid " + std::to_string(job.pids[1]) + ") has sent nothing for"));
  CHECK(contains(result.err, "it is hung"));
  check_nothing_left(job);
}

TEST_CASE("idle nodes are not taken as hung: a job that outlives --hang-timeout ends normally") {
  auto result = drust_test::run_process({drun, "--hang-timeout", "1", "-n", "3", sleeper_app, "3000"}, run_limit);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 0);
  CHECK_FALSE(contains(result.err, "has sent nothing"));
}

// Sends drun SIGTERM and checks that it ends as interrupted; returns its stderr.
std::string interrupt_with_sigterm(drust_test::background_process& job_process, const started_job& job) {
  job_process.signal(SIGTERM);
  auto result = job_process.wait(run_limit);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 128 + SIGTERM);
  CHECK(contains(result.err, "drun: interrupted by SIGTERM"));
  check_nothing_left(job);
  return result.err;
}

TEST_CASE("SIGTERM to drun reaches every node and nothing is left") {
  drust_test::background_process job_process({drun, "--verbose", "-n", "3", sleeper_app, "60000"});
  started_job job = drust_test::wait_until_started(job_process, 30s);
  interrupt_with_sigterm(job_process, job);
}

TEST_CASE("SIGTERM to drun: a node that does not end on it is killed after the grace period, nothing is left") {
  // One node: no peer's end makes it stop either (a node whose peer failed ends with that).
  drust_test::background_process job_process({drun, "--verbose", "-n", "1", sleeper_app, "60000", "ignore-sigterm"});
  started_job job = drust_test::wait_until_started(job_process, 30s);
  // main prints after it ignored SIGTERM.
  REQUIRE(job_process.wait_for_line([](const std::string& line) { return contains(line, "sleeper ("); }, 30s));
  const std::string err = interrupt_with_sigterm(job_process, job);
  CHECK(contains(err, "node 0 (host localhost, pid " + std::to_string(job.pids[0]) + ") is still running: SIGKILL"));
}

TEST_CASE("drun killed by SIGKILL takes its nodes with it; the next drun removes the job's /dev/shm files") {
  drust_test::background_process job_process({drun, "--verbose", "-n", "2", sleeper_app, "60000"});
  started_job job = drust_test::wait_until_started(job_process, 30s);
  const std::string prefix = "drust-" + job.job_id + "-";
  REQUIRE_FALSE(drust_test::shm_files_with_prefix(prefix).empty());
  job_process.signal(SIGKILL);
  auto killed = job_process.wait(run_limit);
  REQUIRE_FALSE(killed.timed_out);
  // The nodes die with drun (PR_SET_PDEATHSIG); their files stay, as nobody is left to remove them.
  for (const auto& [node, pid] : job.pids) {
    for (int poll = 0; poll < 500 && drust_test::pid_alive(pid); ++poll) std::this_thread::sleep_for(10ms);
    CHECK_MESSAGE(!drust_test::pid_alive(pid), "node " << node << " outlived drun");
  }
  const auto left = drust_test::shm_files_with_prefix(prefix);
  REQUIRE_FALSE(left.empty());
  // The next drun removes the files of a job that no process maps any more, once they are 10 s
  // old (a younger file may be a starting job's, about to be mapped): wait until they are.
  std::time_t newest = 0;
  for (const std::string& name : left) {
    struct stat status {};
    REQUIRE(::stat(("/dev/shm/" + name).c_str(), &status) == 0);
    newest = std::max({newest, status.st_mtime, status.st_ctime});
  }
  while (std::chrono::system_clock::now() < std::chrono::system_clock::from_time_t(newest) + 12s) {
    std::this_thread::sleep_for(200ms);
  }
  auto next = drust_test::run_process({drun, "--verbose", "-n", "1", exit_status_app, "0"}, run_limit);
  INFO("stderr: " << next.err);
  CHECK(next.exit_code == 0);
  CHECK(contains(next.err, "drun: removed the files of a dead job: /dev/shm/" + prefix + "*"));
  CHECK(drust_test::shm_files_with_prefix(prefix).empty());
}

TEST_CASE("a stranger at the controller is refused while the job finishes normally") {
  drust_test::background_process job_process({drun, "-n", "2", sleeper_app, "2000"});
  const std::string controller_line = R"(controller (\S+:\d+))";
  auto line = job_process.wait_for_line([&](const std::string& l) { return drust_test::matches(l, controller_line); }, 30s);
  REQUIRE(line.has_value());
  auto match = drust_test::search(*line, controller_line);
  REQUIRE(match.has_value());
  auto address = drust::control::split_host_port((*match)[1]);
  REQUIRE(address.ok());

  auto stranger = drust::control::connect_tcp(address->first, address->second, 2s);
  REQUIRE(stranger.ok());
  REQUIRE(drust::control::send_frame(*stranger, {{"type", "hello"}, {"cookie", "guess"}, {"node", 1}}).ok());
  auto refusal = drust::control::receive_frame(*stranger, 5s);
  REQUIRE(refusal.ok());
  CHECK((*refusal)["type"] == "error");
  CHECK(absl::IsUnavailable(drust::control::receive_frame(*stranger, 5s).status()));
  ::close(*stranger);

  auto result = job_process.wait(run_limit);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 0);
}

TEST_CASE("--stats: every node sends its counters at the end, and drun prints a row per node") {
  // Long enough for every node to report its load (every 250 ms) and be given placement advice.
  auto result = drust_test::run_process(
      {drun, "--verbose", "--stats", "-n", "2", "--heap", "64MiB", "--cache", "4MiB", "--heap-pressure", "50",
       sleeper_app, "2500"},
      run_limit);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 0);
  CHECK(contains(result.err, "placement: node 0 allocates on node 1 past its heap pressure"));
  CHECK(contains(result.err, "placement: node 1 allocates on node 0 past its heap pressure"));

  auto title = result.err.find("drust stats (per node)\n");
  REQUIRE(title != std::string::npos);
  std::istringstream table(result.err.substr(title));
  std::vector<std::string> lines;
  for (std::string line; std::getline(table, line) && lines.size() < 5;) lines.push_back(line);
  REQUIRE(lines.size() == 5);
  for (const char* above : {"heap MiB", "live", "allocated", "remote", "read", "cache", "frees", "messages", "threads",
                            "CPU", "page"}) {
    CHECK_MESSAGE(contains(lines[1], above), above);
  }
  for (const char* header : {"node", "used/capacity", "objects", "by node", "reads", "bytes", "hit %/miss/evict",
                             "moves", "sent/recv", "msgs/freed", "started", " s", "faults"}) {
    CHECK_MESSAGE(contains(lines[2], header), header);
  }
  // A row per node, from the node itself: its heap is --heap, it counts allocations for both nodes,
  // and its process has taken page faults (at least those of loading the program).
  for (int node = 0; node < 2; ++node) {
    CHECK(drust_test::matches(lines[static_cast<std::size_t>(3 + node)],
                              "^ +" + std::to_string(node) + R"( +\d+\.\d/64\.0 +\d+ +\d+/\d+ +\d+ +\S+ +)"
                              R"((-|\d+\.\d)/\d+/\d+ +\d+ +\d+/\d+ +\d+/\d+ +\d+/\d+ +\d+ +\d+\.\d +[1-9]\d*$)"));
  }

  // Without --stats: no table, and no line of drun's at all.
  auto quiet = drust_test::run_process({drun, "-n", "2", exit_status_app, "0"}, run_limit);
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.err.empty());
}

TEST_CASE("a missing program: exit 127 and the message") {
  auto result = drust_test::run_process({drun, "-n", "2", "./app-that-is-not-there"}, run_limit);
  CHECK(result.exit_code == 127);
  CHECK(result.err == "drun: cannot run './app-that-is-not-there': No such file or directory\n");
}

TEST_CASE("a node running another build of the program is refused") {
  fs::path directory = fs::temp_directory_path() / ("drun-app-test-" + std::to_string(::getpid()));
  fs::create_directories(directory);
  fs::path cluster = directory / "cluster.json";
  std::ofstream(cluster) << R"({"nodes": [{"host": "localhost"}, {"host": "localhost", "program": ")"
                         << sleeper_app_other_build << R"("}]})";
  auto result = drust_test::run_process({drun, "--cluster", cluster.string(), sleeper_app, "60000"}, run_limit);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 1);
  CHECK(drust_test::matches(result.err, R"(drun: node 1 \(host localhost, pid \d+\) runs a different executable )"
                                        R"(\(build id \S+\) than node 0 \(build id \S+\): build once and copy )"
                                        R"(the same binary to every host)"));
  fs::remove_all(directory);
}
