// drust's synchronisation types across real node processes (tests/cluster/apps/sync_app.cpp does
// the work and checks every value; a failed check ends its job): mutex, condition_variable,
// sync::mutex<T>, atomic, latch and barrier on 2 and 4 nodes over shm, and on 2 nodes over
// tcp;ofi_rxm; and a thread blocked in lock() when the mutex's home node dies gets an error.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cluster_app.hpp"

namespace {

drust_test::process_result run_sync_app(int nodes, const std::string& provider, const std::string& scenario) {
  return drust_test::run_cluster_app("SYNC_APP", "sync_app", nodes, provider, {scenario});
}

void check_all(int nodes, const std::string& provider) {
  CAPTURE(nodes);
  CAPTURE(provider);
  auto result = run_sync_app(nodes, provider, "all");
  drust_test::check_ok(result);
  for (const char* line : {"counter ok", "cv ok", "data ok", "atomic ok", "latch ok", "barrier ok", "lease ok", "shared ok"}) {
    CHECK(result.out.find(line) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("mutex, condition_variable, sync::mutex<T>, atomic, latch and barrier across 2 nodes (shm)") {
  check_all(2, "shm");
}
TEST_CASE("mutex, condition_variable, sync::mutex<T>, atomic, latch and barrier across 4 nodes (shm)") {
  check_all(4, "shm");
}
TEST_CASE("mutex, condition_variable, sync::mutex<T>, atomic, latch and barrier across 2 nodes (tcp)") {
  check_all(2, "tcp;ofi_rxm");
}
TEST_CASE("a thread blocked in lock() gets std::system_error naming the home node when that node dies") {
  auto result = run_sync_app(2, "shm", "home-dies");
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.out.find("home-dies: lock() threw: ") != std::string::npos);
  CHECK(result.out.find("node 1") != std::string::npos);
  CHECK(result.out.find("lock() returned") == std::string::npos);
}
