// Refused: a std::span points into memory of this node.
#include <drust/std/thread>
#include <span>
void sum(std::span<const int> values) { static_cast<void>(values); }
void refused() {
  static const int values[] = {1, 2, 3};
  drust::std::thread(sum, std::span<const int>(values)).join();
}
