#include "job_lock.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"

namespace drust::launcher {

namespace {

::std::string lock_path(const ::std::string& job_id) {
  return absl::StrCat(job_lock_directory, "/", job_id, ".lock");
}

// "uid 1001 (alice)", or "uid 1001" when it has no name.
::std::string describe_user(uid_t uid) {
  ::std::string text = absl::StrCat("uid ", uid);
  if (const passwd* entry = ::getpwuid(uid); entry != nullptr && entry->pw_name != nullptr) {
    absl::StrAppend(&text, " (", entry->pw_name, ")");
  }
  return text;
}

// The directory that holds lock files is what drun made: a root-owned directory with the sticky
// bit, not a link, so that nobody but root can remove or replace another user's files in it.
absl::Status check_lock_directory(const ::std::string& directory) {
  struct stat status {};
  if (::lstat(directory.c_str(), &status) != 0) return errno_status(absl::StrCat("cannot read ", directory));
  if (!S_ISDIR(status.st_mode) || status.st_uid != 0 || (status.st_mode & S_ISVTX) == 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        directory, " is not a root-owned directory with the sticky bit (it is ",
        S_ISLNK(status.st_mode) ? "a symbolic link" : S_ISDIR(status.st_mode) ? "a directory" : "not a directory",
        " of ", describe_user(status.st_uid), ", mode ", absl::StrFormat("%04o", status.st_mode & 07777),
        "); drun keeps its jobs' locks there: as root, remove it (rm -r ", directory,
        ") and let drun make it again"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status make_lock_directory() {
  if (::mkdir(job_lock_directory, 01777) == 0) {
    ::chmod(job_lock_directory, 01777);  // mkdir applied the umask
  } else if (errno != EEXIST) {
    return errno_status(absl::StrCat("cannot create ", job_lock_directory,
                                     " (where drun records its live jobs); run drun as root"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> open_lock_file(const ::std::string& path) {
  const auto slash = path.rfind('/');
  DRUST_RETURN_IF_ERROR(check_lock_directory(slash == 0 ? "/" : path.substr(0, slash)));
  // O_NOFOLLOW: a symbolic link planted under this name is an error (ELOOP), never followed.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
  if (fd < 0 && errno == ELOOP) {
    return absl::PermissionDeniedError(absl::StrCat(
        path, " is a symbolic link, which drun never follows there: another user may have made it; as root, remove it (rm ",
        path, ") and run drun again"));
  }
  // EACCES here is another user's file that the kernel will not let us open (protected_regular).
  if (fd < 0) {
    return errno_status(absl::StrCat("cannot open ", path, "; if another user made it, remove it as root (rm ", path, ")"));
  }
  struct stat opened {};
  if (::fstat(fd, &opened) != 0) {
    const int error = errno;
    ::close(fd);
    return errno_status(absl::StrCat("cannot read ", path), error);
  }
  if (!S_ISREG(opened.st_mode) || opened.st_uid != ::geteuid()) {
    ::close(fd);
    return absl::PermissionDeniedError(absl::StrCat(
        path, " belongs to ", describe_user(opened.st_uid), ", not to drun's user (", describe_user(::geteuid()),
        S_ISREG(opened.st_mode) ? "" : ", and it is not a regular file",
        "): another user may have made it to block drun's jobs; as root, remove it (rm ", path,
        ") and run drun again"));
  }
  if ((opened.st_mode & 07777) != 0600) ::fchmod(fd, 0600);  // made by an older drun, it may be 0666
  return fd;
}

absl::StatusOr<job_lock> job_lock::acquire(const ::std::string& job_id) {
  DRUST_RETURN_IF_ERROR(make_lock_directory());
  const ::std::string path = lock_path(job_id);
  // A drun that is removing a dead job's resources holds that job's lock and unlinks the file;
  // locking a file that was unlinked meanwhile would lock nothing, so check that the file locked
  // is still the one at `path`. Job ids are random: this loop turns at most once in practice.
  for (int attempt = 0; attempt < 10; ++attempt) {
    DRUST_ASSIGN_OR_RETURN(int fd, open_lock_file(path));
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
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
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
