// Helpers shared by the tests that run an app of tests/cluster/apps under drun.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "subprocess.hpp"
#include "text_match.hpp"

namespace drust_test {

// `drun -n NODES --provider PROVIDER [drun_options] APP [arguments]`, the app's path from the
// environment variable `app_variable`, under a hard timeout of two minutes.
inline process_result run_cluster_app(const char* app_variable, const char* app_fallback, int nodes,
                                      const std::string& provider, const std::vector<std::string>& arguments,
                                      const std::vector<std::string>& drun_options = {}) {
  std::vector<std::string> command{env_or("DRUN", "drun"), "-n", std::to_string(nodes), "--provider", provider};
  command.insert(command.end(), drun_options.begin(), drun_options.end());
  command.push_back(env_or(app_variable, app_fallback));
  command.insert(command.end(), arguments.begin(), arguments.end());
  return run_process(command, std::chrono::seconds(120));
}

// The job ended on time, with status 0, and its app said "result ok".
inline void check_ok(const process_result& result) {
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code == 0);
  CHECK(result.out.find("result ok") != std::string::npos);
}

}  // namespace drust_test
