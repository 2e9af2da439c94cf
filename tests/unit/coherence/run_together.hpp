// Test helper: runs a body on several threads that all start at the same moment, to make races
// between them as likely as a test can.
#pragma once

#include <atomic>
#include <thread>
#include <vector>

namespace drust_test {

// Runs body(t) for t in [0, threads) on as many threads, each spinning until all are up; returns
// once every one has finished.
template <class Body>
void run_together(int threads, Body body) {
  std::atomic<int> ready{0};
  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < threads) {
      }
      body(t);
    });
  }
  for (auto& worker : workers) worker.join();
}

}  // namespace drust_test
