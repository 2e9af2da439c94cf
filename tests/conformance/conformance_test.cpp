// The conformance suite: the same cases (conformance_cases.hpp) against std in one process and
// against drust::std on a 4-node cluster, shm and tcp; every case's observable result must be the
// same. Each run has a hard timeout.
#include <doctest/doctest.h>

#include <map>
#include <sstream>
#include <string>

#include "../cluster/cluster_app.hpp"

namespace {

// "case NAME: RESULT" lines, by name.
std::map<std::string, std::string> results_of(const std::string& out) {
  std::map<std::string, std::string> results;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("case ", 0) != 0) continue;
    const auto colon = line.find(": ");
    if (colon == std::string::npos) continue;
    results[line.substr(5, colon - 5)] = line.substr(colon + 2);
  }
  return results;
}

void compare_with_std(const std::string& provider) {
  const drust_test::process_result with_std =
      drust_test::run_process({drust_test::env_or("CONFORMANCE_APP", "conformance_app"), "std"}, std::chrono::seconds(120));
  drust_test::check_ok(with_std);
  const drust_test::process_result with_drust =
      drust_test::run_cluster_app("CONFORMANCE_APP", "conformance_app", 4, provider, {"drust"});
  drust_test::check_ok(with_drust);
  const auto expected = results_of(with_std.out);
  const auto actual = results_of(with_drust.out);
  REQUIRE(expected.size() == 16);
  for (const auto& [name, result] : expected) {
    INFO("case " << name);
    REQUIRE(actual.count(name) == 1);
    CHECK(actual.at(name) == result);
  }
}

}  // namespace

TEST_CASE("drust::std on 4 nodes (shm) behaves as std in one process") { compare_with_std("shm"); }

TEST_CASE("drust::std on 4 nodes (tcp) behaves as std in one process") { compare_with_std("tcp;ofi_rxm"); }
