// drust::std::sync channels across real node processes (tests/cluster/apps/channel_app.cpp does
// the work and checks every value; a failed check ends its job): producers on every node, a
// bounded channel's back-pressure, a receiver moved to another node, unique_ptr values, on 2 and
// 4 nodes over shm and 2 nodes over tcp;ofi_rxm; and a recv() blocked when a sending node dies.
#include <doctest/doctest.h>

#include <string>

#include "cluster_app.hpp"

namespace {

drust_test::process_result run_channel_app(int nodes, const std::string& provider, const std::string& scenario) {
  return drust_test::run_cluster_app("CHANNEL_APP", "channel_app", nodes, provider, {scenario});
}

void check_all(int nodes, const std::string& provider) {
  CAPTURE(nodes);
  CAPTURE(provider);
  auto result = run_channel_app(nodes, provider, "all");
  drust_test::check_ok(result);
  for (const char* line : {"order ok", "bounded ok", "moved ok", "unique ok"}) {
    CHECK(result.out.find(line) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("channels across 2 nodes (shm)") { check_all(2, "shm"); }
TEST_CASE("channels across 4 nodes (shm)") { check_all(4, "shm"); }
TEST_CASE("channels across 2 nodes (tcp)") { check_all(2, "tcp;ofi_rxm"); }

TEST_CASE("a recv() blocked when a sending node dies gets std::system_error naming the node") {
  auto result = run_channel_app(2, "shm", "sender-dies");
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.out.find("sender-dies: recv() threw: ") != std::string::npos);
  CHECK(result.out.find("node 1") != std::string::npos);
}
