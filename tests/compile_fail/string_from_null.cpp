// Refused: a string from nullptr (as in C++23's std::string).
#include <drust/std/string>

int main() {
  drust::std::string text = nullptr;
  return static_cast<int>(text.size());
}
