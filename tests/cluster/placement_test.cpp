// Spawn placement under drun on 4 nodes (shm), each offering 2 cores: data affinity (also while
// the controller's load table still counts threads that have ended, and while asyncs whose values
// are back have not yet reported their end), drust::on, and a burst of threads spreading evenly
// over the cluster's cores (apps/placement_app.cpp).
#include <doctest/doctest.h>

#include <string>

#include "cluster_app.hpp"

TEST_CASE("threads without drust::on go near their data, and spread evenly; drust::on is honoured") {
  const auto result =
      drust_test::run_cluster_app("PLACEMENT_APP", "placement_app", 4, "shm", {}, {"--cores", "2"});
  drust_test::check_ok(result);
  INFO("stdout:\n" << result.out);
  CHECK(drust_test::count_of(result.out, "affinity thread node=2") == 1);
  CHECK(drust_test::count_of(result.out, "affinity async node=2") == 1);
  // 4 rounds x 4 nodes x 2 threads, every one on the node that holds its object.
  CHECK(drust_test::count_of(result.out, "(^|\n)rounds round=") == 32);
  CHECK(drust_test::count_of(result.out, R"(rounds round=\d data=(\d) node=\1 )") == 32);
  CHECK(drust_test::count_of(result.out, R"(on node=(\d) ran=\1)") == 4);
  // 2 rounds x 3 nodes x 2 asyncs, the second round started while the first's threads still end.
  CHECK(drust_test::count_of(result.out, R"(async_rounds round=\d data=(\d) node=\1)") == 12);
  CHECK(drust_test::count_of(result.out, "spread thread node=") == 12);
  for (int node = 0; node < 4; ++node) {
    CAPTURE(node);
    CHECK(drust_test::count_of(result.out, "spread thread node=" + std::to_string(node)) == 3);
  }
}
