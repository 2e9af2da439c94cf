// A node killed while threads of other nodes wait on operations towards it (issue 6 item
// 1; docs/RELIABILITY.md, "Chaos run"). The blocked threads' operations fail, and a peer sees
// the victim's process go before drun can reap it. drun must still name the victim as the cause
// ("was killed by SIGKILL", status 137), never a node that ended because of it, and no node may
// abort with an uncaught error of the loss (SIGABRT): such a thread ends with a line that names
// the failed node. Every process gone and no /dev/shm file left, as for any failure.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "drun_job.hpp"
#include "subprocess.hpp"

using namespace std::chrono_literals;

using drust_test::check_nothing_left;
using drust_test::contains;
using drust_test::started_job;

namespace {

const std::string drun = drust_test::env_or("DRUN", "drun");
const std::string peer_loss_app = drust_test::env_or("PEER_LOSS_APP", "peer_loss_app");
constexpr auto run_limit = 120s;  // from drun's start: the whole job, waits included

// The first of drun's lines about a node's end ("drun: node 2 (host localhost, pid 12) was killed
// by SIGKILL; stopping the job"): the one that names the job's cause. Empty when there is none.
std::string first_node_end_line(const std::string& err) {
  std::istringstream lines(err);
  std::string line;
  while (std::getline(lines, line)) {
    if (drust_test::matches_whole(line, R"(drun: node \d+ \(host [^,]+, pid \d+\) .*)")) return line;
  }
  return {};
}

// Runs peer_loss_app on 3 nodes and waits until its threads wait on `victim`. Then, with
// drun stopped (SIGSTOP) so that it cannot hear of the death before the peers see it, SIGKILLs
// the victim and waits until every waiting thread has said that it cannot go on; then lets drun
// go on, and checks what it says and leaves. Stopping drun makes the race of the chaos run
// certain: the peers see the victim's process gone, and their threads fail, before drun reaps it.
void kill_the_node_others_wait_on(int victim) {
  drust_test::background_process job_process({drun, "--verbose", "-n", "3", peer_loss_app, std::to_string(victim)});
  started_job job = drust_test::wait_until_started(job_process, 30s);
  REQUIRE(job_process.wait_for_line(
      [&](const std::string& line) { return line == "holding on node " + std::to_string(victim); }, 30s));
  std::vector<int> waiters;
  for (int node = 1; node < 3; ++node) {
    if (node == victim) continue;
    waiters.push_back(node);
    const std::string waiting = "waiting on node " + std::to_string(victim) + " from node " + std::to_string(node);
    REQUIRE_MESSAGE(job_process.wait_for_line([&](const std::string& line) { return line == waiting; }, 30s),
                    "no line '" << waiting << "'");
  }
  // The waiters print before they first try the lock; let them get going. (Should one not have
  // tried yet, its first try fails on the dead node: the outcome is the same.)
  std::this_thread::sleep_for(300ms);

  job_process.signal(SIGSTOP);
  const pid_t pid = job.pids[victim];
  REQUIRE(::kill(pid, SIGKILL) == 0);
  for (int node : waiters) {
    // The nodes write to drun's stderr directly (no --tag-output), so their lines arrive while drun is stopped.
    const std::string cannot_go_on = "drust: node " + std::to_string(node) + ": a thread started by node " +
                                     std::to_string(victim) + " cannot go on because node " +
                                     std::to_string(victim) + " failed (";
    auto said = job_process.wait_for_stderr_line(
        [&](const std::string& line) { return line.rfind(cannot_go_on, 0) == 0 && contains(line, "; the job ends with it"); },
        30s);
    CHECK_MESSAGE(said.has_value(), "node " << node << "'s waiter did not say that it cannot go on");
  }
  job_process.signal(SIGCONT);

  auto result = job_process.wait(run_limit);
  INFO("stdout: " << result.out);
  INFO("stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 128 + SIGKILL);
  CHECK(first_node_end_line(result.err).rfind("drun: node " + std::to_string(victim) + " (host localhost, pid " +
                                                  std::to_string(pid) + ") was killed by SIGKILL",
                                              0) == 0);
  // No node died of the loss on its own: a thread whose lock failed ends with a line, not abort.
  CHECK_FALSE(contains(result.err, "SIGABRT"));
  CHECK_FALSE(contains(result.err, "terminate called"));
  check_nothing_left(job);
}

}  // namespace

TEST_CASE("node 0 is killed while threads on nodes 1 and 2 try its mutex: drun names node 0") {
  kill_the_node_others_wait_on(0);
}

TEST_CASE("node 1 is killed while threads on node 2 try its mutex and main joins it: drun names node 1") {
  kill_the_node_others_wait_on(1);
}
