#include "program_path.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

namespace drust::launcher {

namespace {

// 0 when `path` is a regular file we may execute, else the errno that explains why not.
int why_not_executable(const ::std::string& path) {
  struct stat facts {};
  if (::stat(path.c_str(), &facts) != 0) return errno;
  if (S_ISDIR(facts.st_mode)) return EISDIR;
  if (!S_ISREG(facts.st_mode)) return EACCES;
  if (::access(path.c_str(), X_OK) != 0) return errno;
  return 0;
}

absl::Status cannot_run(const ::std::string& program, int error) {
  return absl::NotFoundError(absl::StrCat("cannot run '", program, "': ", ::std::strerror(error)));
}

}  // namespace

absl::StatusOr<::std::string> find_local_program(const ::std::string& program) {
  if (program.empty()) return absl::InvalidArgumentError("the program name is empty");
  if (program.find('/') != ::std::string::npos) {
    if (int error = why_not_executable(program); error != 0) return cannot_run(program, error);
    return program;
  }
  const char* search_path = ::getenv("PATH");
  ::std::string_view directories = search_path != nullptr ? search_path : "/usr/local/bin:/usr/bin:/bin";
  int first_error = ENOENT;
  while (true) {
    auto colon = directories.find(':');
    ::std::string directory(directories.substr(0, colon));
    ::std::string candidate = (directory.empty() ? ::std::string(".") : directory) + "/" + program;
    int error = why_not_executable(candidate);
    if (error == 0) return candidate;
    if (error != ENOENT && error != ENOTDIR && first_error == ENOENT) first_error = error;
    if (colon == ::std::string_view::npos) break;
    directories.remove_prefix(colon + 1);
  }
  return cannot_run(program, first_error);
}

::std::string absolute_path(const ::std::string& path) {
  if (!path.empty() && path.front() == '/') return path;
  char* here = ::getcwd(nullptr, 0);
  if (here == nullptr) return path;
  ::std::string absolute = here;
  ::free(here);
  ::std::string_view rest = path;
  while (rest.substr(0, 2) == "./") rest.remove_prefix(2);
  return absolute + "/" + ::std::string(rest);
}

}  // namespace drust::launcher
