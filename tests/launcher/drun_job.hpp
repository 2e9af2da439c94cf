// What the launcher tests read from a running `drun --verbose`: the job id and each node's pid,
// and the check that nothing of a job is left. Include after <doctest/doctest.h>.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "subprocess.hpp"
#include "text_match.hpp"

namespace drust_test {

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// What `drun --verbose` said about a job, read as it starts.
struct started_job {
  std::string job_id;
  std::map<int, pid_t> pids;  // node -> pid
};

// Waits until drun reports that every node is ready, collecting the job id and the pids.
inline started_job wait_until_started(background_process& process, std::chrono::milliseconds timeout) {
  started_job job;
  auto ready = process.wait_for_stderr_line(
      [&](const std::string& line) {
        if (auto node = search(line, R"(drun: node (\d+) pid (\d+))")) job.pids[std::stoi((*node)[1])] = std::stoi((*node)[2]);
        if (auto id = search(line, R"(drun: job ([0-9a-f]{16}))")) job.job_id = (*id)[1];
        return contains(line, "every node is ready");
      },
      timeout);
  REQUIRE_MESSAGE(ready.has_value(), "drun did not report that the job started");
  return job;
}

// Every pid is gone and the job's /dev/shm files were removed.
inline void check_nothing_left(const started_job& job) {
  for (const auto& entry : job.pids) {
    CHECK_MESSAGE(!pid_alive(entry.second), "node " << entry.first << " survived");
  }
  CHECK(shm_files_with_prefix("drust-" + job.job_id + "-").empty());
}

}  // namespace drust_test
