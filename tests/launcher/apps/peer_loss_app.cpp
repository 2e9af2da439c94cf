// Threads waiting on remote operations towards a node that is then killed (tests/launcher/
// peer_failure_test.cpp). A mutex homed on the victim node is held there forever; threads on
// the other nodes try to lock it until they can, each printing "waiting on node <victim>" first. The test then
// SIGKILLs the victim: the waiting threads' lock() fails, and drun must name the victim, not a
// node that ended because of it.
//
// Usage: peer_loss_app <victim>   (victim 0: main holds the mutex; victim 1: a thread on node 1
//                                  holds it, and main waits for that thread)
//
// The holder first fills 256 MiB: a process with much memory takes a while to be torn down after
// SIGKILL, and its peers see it go (its process a zombie) before drun can reap it: the race in
// which drun used to name the first peer that died of the loss (docs/RELIABILITY.md, "Chaos run").
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>
#include <vector>

#include <drust/runtime>
#include <drust/std/memory>
#include <drust/std/mutex>
#include <drust/std/thread>

namespace {

using shared_mutex = drust::std::shared_ptr<drust::std::mutex>;

constexpr std::size_t ballast_bytes = 256u << 20;

// Tries the mutex again and again: each try_lock is a request to the victim and a wait for its
// answer, which the transport watches (a peer on this host whose process is gone fails it).
// The holder never unlocks, so this ends only when the victim fails.
void wait_on(shared_mutex held, int victim) {
  std::printf("waiting on node %d from node %d\n", victim, drust::node_id());
  std::fflush(stdout);
  while (!held->try_lock()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// Locks a mutex homed here, starts a waiter on every node but `victim` (this node), then holds
// the mutex until this process is killed.
[[noreturn]] void hold_and_wait(int victim) {
  std::vector<char> ballast(ballast_bytes);
  std::memset(ballast.data(), 1, ballast.size());
  auto held = drust::std::make_shared<drust::std::mutex>();
  held->lock();
  std::vector<drust::std::thread> waiters;
  for (int node = 0; node < drust::num_nodes(); ++node) {
    if (node == victim || node == 0) continue;  // node 0's main is busy holding or joining
    waiters.emplace_back(drust::on(node), wait_on, held, victim);
  }
  std::printf("holding on node %d\n", drust::node_id());
  std::fflush(stdout);
  while (true) std::this_thread::sleep_for(std::chrono::hours(1));
}

}  // namespace

int main(int argc, char** argv) {
  const int victim = argc > 1 ? std::atoi(argv[1]) : 0;
  if ((victim != 0 && victim != 1) || drust::num_nodes() < 3) {
    std::fprintf(stderr, "usage: drun -n 3 (or more) %s 0|1\n", argv[0]);
    return 2;
  }
  if (victim == 0) hold_and_wait(0);
  drust::std::thread holder(drust::on(1), hold_and_wait, 1);
  try {
    holder.join();  // never returns normally: the holder holds until node 1 is killed
  } catch (const std::exception& error) {
    std::printf("main: the holder failed: %s\n", error.what());
    return 1;
  }
  return 0;
}
