#include "signal_name.hpp"

#include <string.h>

namespace drust::launcher {

::std::string signal_name(int signal_number) {
  if (const char* abbreviation = ::sigabbrev_np(signal_number); abbreviation != nullptr) {
    return ::std::string("SIG") + abbreviation;
  }
  return "signal " + ::std::to_string(signal_number);
}

}  // namespace drust::launcher
