// A remote thread end to end, under drun on 2 and 4 nodes: the callable runs in another process
// (another pid, another node id) and join waits for it to finish.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "subprocess.hpp"
#include "text_match.hpp"

using namespace std::chrono_literals;

namespace {

struct thread_line {
  int node;
  int pid;
  int expected;
};

void check_remote_threads(int nodes, const std::string& provider) {
  const std::string drun = drust_test::env_or("DRUN", "drun");
  const std::string app = drust_test::env_or("REMOTE_THREAD_APP", "remote_thread_app");
  auto markers = std::filesystem::temp_directory_path() / ("drust-remote-thread-" + std::to_string(::getpid()) + "-" + std::to_string(nodes));
  std::filesystem::remove_all(markers);
  std::filesystem::create_directories(markers);

  auto result = drust_test::run_process({drun, "-n", std::to_string(nodes), "--provider", provider, app, markers.string()}, 60s);
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 0);

  auto main_line = drust_test::search(result.out, R"(main node=(\d+) pid=(\d+) nodes=(\d+))");
  REQUIRE(main_line.has_value());
  const int main_node = std::stoi((*main_line)[1]);
  const int main_pid = std::stoi((*main_line)[2]);
  CHECK(main_node == 0);
  CHECK(std::stoi((*main_line)[3]) == nodes);

  std::map<int, int> pid_of_node;
  std::set<unsigned long long> bases;
  for (const auto& thread_line : drust_test::search_all(result.out, R"(thread node=(\d+) pid=(\d+) expected=(\d+) heap=(\d+)\+(\d+))")) {
    int node = std::stoi(thread_line[1]);
    int pid = std::stoi(thread_line[2]);
    CHECK(node == std::stoi(thread_line[3]));  // it ran where drust::on sent it
    CHECK(node != main_node);
    CHECK(pid != main_pid);              // in another process
    pid_of_node[node] = pid;
    // The node's heap partition sits at the fixed base plus node times the partition size: the
    // same base for every node (0x1000'0000'0000, another one under the sanitizers:
    // src/heap/partition.hpp), 2 MiB-aligned.
    const unsigned long long heap_begin = std::stoull(thread_line[4]), heap_bytes = std::stoull(thread_line[5]);
    CHECK(heap_bytes > 0);
    const unsigned long long base = heap_begin - static_cast<unsigned long long>(node) * heap_bytes;
    CHECK(base % (2ull << 20) == 0);
    bases.insert(base);
  }
  CHECK(bases.size() == 1);
  CHECK(pid_of_node.size() == static_cast<std::size_t>(nodes - 1));
  // Each node is its own process.
  std::map<int, int> nodes_of_pid;
  for (auto [node, pid] : pid_of_node) nodes_of_pid[pid] = node;
  CHECK(nodes_of_pid.size() == pid_of_node.size());

  // join returned only after the thread had written its marker.
  for (int node = 1; node < nodes; ++node) {
    CHECK(result.out.find("joined node=" + std::to_string(node) + " marker_from=" + std::to_string(node)) != std::string::npos);
  }
  CHECK(result.out.find("result failures=0") != std::string::npos);
  std::filesystem::remove_all(markers);
}

}  // namespace

TEST_CASE("remote thread on 2 nodes (shm)") { check_remote_threads(2, "shm"); }
TEST_CASE("remote thread on 4 nodes (shm)") { check_remote_threads(4, "shm"); }
TEST_CASE("remote thread on 2 nodes (tcp;ofi_rxm)") { check_remote_threads(2, "tcp;ofi_rxm"); }
TEST_CASE("remote thread on 4 nodes (tcp;ofi_rxm)") { check_remote_threads(4, "tcp;ofi_rxm"); }

TEST_CASE("an uncaught exception in a remote thread ends the job, naming the node and the exception") {
  const std::string drun = drust_test::env_or("DRUN", "drun");
  const std::string app = drust_test::env_or("REMOTE_EXCEPTION_APP", "remote_exception_app");
  auto result = drust_test::run_process({drun, "-n", "2", app}, 60s);
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code != 0);
  CHECK(result.out.find("main went on") == std::string::npos);
  CHECK(result.err.find("node 1: a thread started by node 0 ended with an uncaught exception of type std::runtime_error") != std::string::npos);
  CHECK(result.err.find("thrown on purpose by the test") != std::string::npos);
  CHECK(result.err.find("SIGABRT") != std::string::npos);  // a crash stays a crash
}
