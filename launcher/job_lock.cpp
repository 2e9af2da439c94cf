#include "job_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

namespace drust::launcher {

namespace {

::std::string lock_path(const ::std::string& job_id) {
  return absl::StrCat(job_lock_directory, "/", job_id, ".lock");
}

}  // namespace

absl::StatusOr<job_lock> job_lock::acquire(const ::std::string& job_id) {
  if (::mkdir(job_lock_directory, 01777) == 0) {
    ::chmod(job_lock_directory, 01777);  // mkdir applied the umask
  } else if (errno != EEXIST) {
    return errno_status(absl::StrCat("cannot create ", job_lock_directory,
                                     " (where drun records its live jobs); run drun as root"));
  }
  const ::std::string path = lock_path(job_id);
  // A drun that is removing a dead job's resources holds that job's lock and unlinks the file;
  // locking a file that was unlinked meanwhile would lock nothing, so check that the file locked
  // is still the one at `path`. Job ids are random: this loop turns at most once in practice.
  for (int attempt = 0; attempt < 10; ++attempt) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return errno_status(absl::StrCat("cannot create ", path, "; run drun as root"));
    if (::flock(fd, LOCK_EX) != 0) {
      int error = errno;
      ::close(fd);
      return errno_status(absl::StrCat("cannot lock ", path), error);
    }
    struct stat locked {};
    struct stat named {};
    if (::fstat(fd, &locked) == 0 && ::stat(path.c_str(), &named) == 0 &&
        locked.st_ino == named.st_ino && locked.st_dev == named.st_dev) {
      return job_lock(path, fd);
    }
    ::close(fd);
  }
  return absl::UnavailableError(
      absl::StrCat("cannot lock ", path, ": another drun keeps removing it"));
}

job_lock::job_lock(job_lock&& other) noexcept
    : path_(::std::exchange(other.path_, {})), fd_(::std::exchange(other.fd_, -1)) {}

job_lock& job_lock::operator=(job_lock&& other) noexcept {
  if (this != &other) {
    release();
    path_ = ::std::exchange(other.path_, {});
    fd_ = ::std::exchange(other.fd_, -1);
  }
  return *this;
}

job_lock::~job_lock() { release(); }

void job_lock::release() noexcept {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still locked: nobody can take it for a dead job's meanwhile
  ::close(fd_);
  fd_ = -1;
}

bool job_is_alive(const ::std::string& job_id) {
  const ::std::string path = lock_path(job_id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno != ENOENT;  // no file: its drun never locked it or is gone
  bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
  if (!held) ::unlink(path.c_str());  // a dead job's file; still locked by us, so nobody is racing
  ::close(fd);
  return held;
}

bool looks_like_job_id(const ::std::string& text) {
  return text.size() == 16 && ::std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace drust::launcher
