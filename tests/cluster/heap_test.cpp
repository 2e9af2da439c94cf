// The global heap and ownership-based coherence across real node processes, on 2 and 4 nodes,
// over shm and tcp;ofi_rxm (tests/cluster/apps/heap_app.cpp does the work and checks every value;
// a wrong value ends its job with a message).
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "cluster_app.hpp"

using namespace std::chrono_literals;

namespace {

drust_test::process_result run_heap_app(int nodes, const std::string& provider, std::vector<std::string> arguments,
                                        std::vector<std::string> drun_options = {}) {
  return drust_test::run_cluster_app("HEAP_APP", "heap_app", nodes, provider, arguments, drun_options);
}

using drust_test::check_ok;
using drust_test::count_of;

void check_list(int nodes, const std::string& provider) {
  auto result = run_heap_app(nodes, provider, {"list"});
  check_ok(result);
  INFO("stdout:\n" << result.out);
  // Readers on every other node, then readers on every node after the write.
  CHECK(count_of(result.out, R"(reader node=\d+ remote_reads=[1-9]\d* cache_hits=[1-9]\d*)") >= 2 * (nodes - 1));
  CHECK(count_of(result.out, R"(writer node=\d+ moves=[1-9]\d*)") == 1);
}

}  // namespace

TEST_CASE("a list read everywhere, moved by a writer, read again (2 nodes, shm)") { check_list(2, "shm"); }
TEST_CASE("a list read everywhere, moved by a writer, read again (4 nodes, shm)") { check_list(4, "shm"); }
TEST_CASE("a list read everywhere, moved by a writer, read again (2 nodes, tcp)") { check_list(2, "tcp;ofi_rxm"); }
TEST_CASE("a list read everywhere, moved by a writer, read again (4 nodes, tcp)") { check_list(4, "tcp;ofi_rxm"); }

TEST_CASE("a recoloured or reused address never serves a stale copy (shm and tcp)") {
  for (const char* provider : {"shm", "tcp;ofi_rxm"}) {
    CAPTURE(provider);
    auto result = run_heap_app(2, provider, {"reuse"});
    check_ok(result);
    CHECK(count_of(result.out, R"(reuse rounds=50 reused=[1-9]\d*)") == 1);
  }
}

TEST_CASE("random operations across nodes agree with a sequential model") {
  auto shm = run_heap_app(4, "shm", {"random", "7", "1500"});
  check_ok(shm);
  auto tcp = run_heap_app(2, "tcp;ofi_rxm", {"random", "11", "600"});
  check_ok(tcp);
  for (const auto* result : {&shm, &tcp}) {
    auto match = drust_test::search(result->out, R"(creates=(\d+) local_writes=(\d+) remote_writes=(\d+) reads=(\d+))");
    REQUIRE(match.has_value());
    for (int i = 1; i <= 4; ++i) CHECK(std::stoi((*match)[i]) > 0);  // every kind of operation ran
  }
}

TEST_CASE("a full cluster spills to other nodes, then says the heap is full; nothing crashes") {
  auto result = run_heap_app(2, "shm", {"exhaust"}, {"--heap", "16MiB"});
  check_ok(result);
  CHECK(result.out.find("global heap is full") != std::string::npos);
}
