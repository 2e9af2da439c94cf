// Refused: copying a vector copies its elements, and a unique_ptr cannot be copied (as in std).
#include <utility>

#include <drust/std/memory>
#include <drust/std/vector>

int main() {
  drust::std::vector<drust::std::unique_ptr<int>> owners;
  owners.push_back(drust::std::make_unique<int>(1));
  drust::std::vector<drust::std::unique_ptr<int>> moved = std::move(owners);  // fine
  drust::std::vector<drust::std::unique_ptr<int>> copied = moved;             // refused
  return static_cast<int>(copied.size());
}
