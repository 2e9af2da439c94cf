// Refused: a std::string keeps its characters in node-local memory.
#include <string>

#include <drust/relocatable>

struct person {
  int age;
  std::string name;
};

void refused() { drust::detail::require_relocatable<person>(); }
