// Runs every conformance case with std's names (`conformance_app std`, one process) or with
// drust::std's (`drun -n 4 conformance_app drust`), one line per case: "case NAME: RESULT".
// The last line is "result ok" when no case found a broken promise of std's.
#include <cstdio>
#include <exception>
#include <string>

#include "conformance_cases.hpp"

namespace {

template <class Flavour>
bool run_all() {
  bool ok = true;
  for (const auto& [name, run] : conformance::cases<Flavour>()) {
    std::string result;
    try {
      result = run();
    } catch (const std::exception& error) {
      result = conformance::broken(std::string("threw ") + error.what());
    }
    if (result.rfind("broken", 0) == 0) ok = false;
    std::printf("case %s: %s\n", name.c_str(), result.c_str());
    std::fflush(stdout);
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string flavour = argc > 1 ? argv[1] : "";
  bool ok;
  if (flavour == "std") {
    ok = run_all<conformance::std_flavour>();
  } else if (flavour == "drust") {
    ok = run_all<conformance::drust_flavour>();
  } else {
    std::fprintf(stderr, "usage: %s std|drust\n", argv[0]);
    return 2;
  }
  std::printf("result %s\n", ok ? "ok" : "failed");
  return ok ? 0 : 1;
}
