// Refused: a raw pointer names memory of this node.
#include <drust/std/thread>
void bump(int* counter) { ++*counter; }
void refused() {
  int counter = 0;
  drust::std::thread(bump, &counter).join();
}
