// Colour saturation across real node processes (tests/cluster/apps/saturation_app.cpp does the
// work and checks every value; a wrong value ends its job with a message, a crash ends it with the
// signal): element accesses never move storage whose colours ran out, and readers on other nodes
// never see a stale copy of it. Every run has a hard timeout of two minutes (cluster_app.hpp).
#include <doctest/doctest.h>

#include <string>

#include "cluster_app.hpp"

namespace {

drust_test::process_result run_saturation_app(int nodes, const std::string& provider,
                                              const std::string& scenario) {
  return drust_test::run_cluster_app("SATURATION_APP", "saturation_app", nodes, provider,
                                     {scenario});
}

using drust_test::check_ok;
using drust_test::count_of;

}  // namespace

TEST_CASE("lower_bound over a locked vector, 300 000 times past colour exhaustion (1 node, shm)") {
  auto result = run_saturation_app(1, "shm", "lower_bound");
  check_ok(result);
  INFO("stdout:\n" << result.out);
  // One node: nothing ever moved, the storage stayed in its block at the last colour.
  CHECK(count_of(result.out, R"(lower_bound rounds=300000 saturated=1 moves=0\n)") == 1);
}

TEST_CASE(
    "references across colour exhaustion: end() before begin(), two non-const references (1 node, "
    "shm)") {
  auto result = run_saturation_app(1, "shm", "references");
  check_ok(result);
  INFO("stdout:\n" << result.out);
  CHECK(count_of(result.out, R"(references moves=0\n)") == 1);
}

TEST_CASE(
    "a remote reader never sees a stale copy of an object at the last colour (2 nodes, shm)") {
  auto result = run_saturation_app(2, "shm", "readers");
  check_ok(result);
  INFO("stdout:\n" << result.out);
  CHECK(count_of(result.out, R"(readers rounds=200 node=1\n)") == 1);
}

TEST_CASE(
    "a remote reader never sees a stale copy of an object at the last colour (3 nodes, tcp)") {
  auto result = run_saturation_app(3, "tcp;ofi_rxm", "readers");
  check_ok(result);
  INFO("stdout:\n" << result.out);
  CHECK(count_of(result.out, R"(readers rounds=200 node=2\n)") == 1);
}
