#include "thread/exception_description.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <memory>
#include <typeinfo>

namespace drust::threads {

exception_description describe_current_exception() {
  exception_description description{"unknown", "(not a std::exception)"};
  if (const ::std::type_info* type = abi::__cxa_current_exception_type()) {
    int status = 0;
    ::std::unique_ptr<char, void (*)(void*)> readable(abi::__cxa_demangle(type->name(), nullptr, nullptr, &status),
                                                      ::std::free);
    description.type = status == 0 && readable ? readable.get() : type->name();
  }
  try {
    throw;
  } catch (const ::std::exception& error) {
    description.message = error.what();
  } catch (...) {
  }
  return description;
}

}  // namespace drust::threads
