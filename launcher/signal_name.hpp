// "SIGKILL" for 9: the names users know signals by, for drun's messages.
#pragma once

#include <string>

namespace drust::launcher {

::std::string signal_name(int signal_number);

}  // namespace drust::launcher
