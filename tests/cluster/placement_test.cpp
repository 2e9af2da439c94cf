// Spawn placement under drun on 4 nodes (shm), each offering 4 cores: data affinity, drust::on,
// and a burst of threads from a full node spreading over the cluster (apps/placement_app.cpp).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "cluster_app.hpp"

TEST_CASE("threads without drust::on go near their data, and off a full node; drust::on is honoured") {
  const auto result =
      drust_test::run_cluster_app("PLACEMENT_APP", "placement_app", 4, "shm", {}, {"--cores", "4"});
  drust_test::check_ok(result);
  INFO("stdout:\n" << result.out);
  CHECK(drust_test::count_of(result.out, "affinity thread node=2") == 1);
  CHECK(drust_test::count_of(result.out, "affinity async node=2") == 1);
  CHECK(drust_test::count_of(result.out, R"(on node=(\d) ran=\1)") == 4);
  CHECK(drust_test::count_of(result.out, "spread thread node=") == 12);
  CHECK(drust_test::count_of(result.out, "spread thread node=[123]") >= 1);
}
