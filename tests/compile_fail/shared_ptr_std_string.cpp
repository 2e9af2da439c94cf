// Refused: a shared object lives in the global heap, so it must be relocatable.
#include <string>

#include <drust/std/memory>

struct label {
  std::string text;
};

auto refused() { return drust::std::make_shared<label>(); }
