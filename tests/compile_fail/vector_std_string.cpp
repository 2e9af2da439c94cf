// Refused: a drust vector's elements live in the global heap, and a std::string's characters do
// not (they are in node-local memory).
#include <string>

#include <drust/std/vector>

int main() {
  drust::std::vector<std::string> names;
  return static_cast<int>(names.size());
}
