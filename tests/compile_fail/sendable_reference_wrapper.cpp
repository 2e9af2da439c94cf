// Refused: std::ref passes a reference, which names memory of this node.
#include <drust/std/thread>
#include <functional>
void bump(int& counter) { ++counter; }
void refused() {
  int counter = 0;
  drust::std::thread(bump, std::ref(counter)).join();
}
