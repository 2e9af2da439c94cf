// Refused: a std::function holds code addresses and memory of this node.
#include <drust/std/thread>
#include <functional>
void refused() {
  std::function<void()> work = [] {};
  drust::std::thread(work).join();
}
