// The node runtime: bootstrap with the controller, the fabric and the heap, then serve.
//
// Started by the main wrapper before the program's main (node 0) or instead of it (the others).
// Owns the control connection: it answers the controller, reports load every second, and exits
// the process when the launcher goes away, so that no node outlives its job.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/synchronization/mutex.h"
#include "common/status.hpp"
#include "coherence/object_store.hpp"
#include "coherence/shared_references.hpp"
#include "fabric/transport.hpp"
#include "heap/global_heap.hpp"
#include "heap/partition.hpp"
#include "runtime/node_config.hpp"

namespace drust::runtime {

class node_runtime {
 public:
  static node_runtime& instance();

  // Bootstraps this node from `config`; in a one-node run only reserves the heap.
  absl::Status start(const node_config& config);
  // The nodes other than 0: serve peers until the controller says the job is over.
  void serve_until_shutdown();
  // Node 0, after main: tell the controller, then stop serving.
  void finish(int status);

  const node_config& config() const { return config_; }
  fabric::transport* transport() { return transport_.get(); }
  const heap::partition& partition() const { return partition_; }
  // nullptr until start() has reserved the heap.
  heap::global_heap* global_heap() { return global_heap_.get(); }
  coherence::object_store* objects() { return objects_.get(); }
  coherence::shared_references* shared_references() { return shared_references_.get(); }
  bool started() const { return started_.load(::std::memory_order_acquire); }

 private:
  node_runtime() = default;
  absl::Status bootstrap();
  void control_loop();
  void handle_control_message(const nlohmann::json& message);
  absl::Status send_control(const nlohmann::json& message);

  node_config config_;
  heap::partition partition_;
  ::std::unique_ptr<heap::global_heap> global_heap_;
  ::std::unique_ptr<coherence::object_store> objects_;
  ::std::unique_ptr<coherence::shared_references> shared_references_;
  ::std::unique_ptr<fabric::transport> transport_;
  int control_fd_ = -1;
  absl::Mutex control_send_lock_;
  ::std::thread control_thread_;
  ::std::atomic<bool> started_{false};
  ::std::atomic<bool> finishing_{false};

  absl::Mutex shutdown_lock_;
  bool shutdown_ ABSL_GUARDED_BY(shutdown_lock_) = false;
};

}  // namespace drust::runtime
