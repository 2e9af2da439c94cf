// A drust program that does nothing for a while: node 0's main sleeps, the other nodes serve.
// Used by idle-cpu to measure what an idle cluster costs. Usage: idle_app <seconds>
#include <chrono>
#include <cstdlib>
#include <thread>

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 10;
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  return 0;
}
