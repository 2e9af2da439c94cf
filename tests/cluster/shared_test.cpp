// drust::std::shared_ptr across real node processes, on 2 and 4 nodes, over shm and tcp;ofi_rxm
// (tests/cluster/apps/shared_app.cpp does the work and checks every value, the single destruction
// at the home, the freed blocks and the message bound on every node; a failed check ends its job).
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "cluster_app.hpp"

using namespace std::chrono_literals;

namespace {

drust_test::process_result run_shared_app(int nodes, const std::string& provider, std::vector<std::string> arguments) {
  return drust_test::run_cluster_app("SHARED_APP", "shared_app", nodes, provider, arguments);
}

// Every node settled; exactly one destruction of the counter object in the whole job, at `home`.
void check_settled(int nodes, const std::string& provider, std::vector<std::string> arguments, int home) {
  CAPTURE(nodes);
  CAPTURE(provider);
  auto result = run_shared_app(nodes, provider, arguments);
  drust_test::check_ok(result);
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  const std::string settled = R"(settled node=(\d+) destroyed=(\d+) .* acquire_messages=(\d+) release_messages=(\d+))";
  int lines = 0;
  int destroyed = 0;
  for (const auto& line : drust_test::search_all(result.out, settled)) {
    ++lines;
    const int node = std::stoi(line[1]);
    destroyed += std::stoi(line[2]);
    if (node == home) CHECK(std::stoi(line[2]) == 1);
    CHECK(std::stoi(line[3]) + std::stoi(line[4]) <= 20);
  }
  CHECK(lines == nodes);
  CHECK(destroyed == 1);
}

}  // namespace

TEST_CASE("a shared object copied to threads on every node, destroyed once at home (2 nodes, shm)") {
  check_settled(2, "shm", {"spread", "0"}, 0);
}
TEST_CASE("a shared object copied to threads on every node, destroyed once at home (4 nodes, shm)") {
  check_settled(4, "shm", {"spread", "0"}, 0);
}
TEST_CASE("a shared object copied to threads on every node, destroyed once at home (2 nodes, tcp)") {
  check_settled(2, "tcp;ofi_rxm", {"spread", "0"}, 0);
}
TEST_CASE("a shared object copied to threads on every node, destroyed once at home (4 nodes, tcp)") {
  check_settled(4, "tcp;ofi_rxm", {"spread", "0"}, 0);
}
TEST_CASE("a shared object made on another node than main's is destroyed there (shm and tcp)") {
  check_settled(4, "shm", {"spread", "3"}, 3);
  check_settled(2, "tcp;ofi_rxm", {"spread", "1"}, 1);
}
TEST_CASE("shared_ptrs stored in a unique_ptr'd heap object, copied out, moved and dropped elsewhere") {
  check_settled(2, "shm", {"stored"}, 0);
  check_settled(4, "shm", {"stored"}, 0);
  check_settled(4, "tcp;ofi_rxm", {"stored"}, 0);
}
TEST_CASE("weak_ptrs on every node: lock while alive, expired after") {
  check_settled(2, "shm", {"weak"}, 0);
  check_settled(4, "tcp;ofi_rxm", {"weak"}, 0);
}
