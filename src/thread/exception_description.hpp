// The exception being handled, in words: its type's readable name and its what(). Used where a
// thread's exception leaves its node (a future's result, the message that ends the job).
#pragma once

#include <string>

namespace drust::threads {

struct exception_description {
  ::std::string type;     // "std::runtime_error", "my::error"; "unknown" when there is none
  ::std::string message;  // what(), or "(not a std::exception)"
};

// Call inside a catch block.
exception_description describe_current_exception();

}  // namespace drust::threads
