// Tells ThreadSanitizer about the locking of Debian's (uninstrumented) Abseil.
//
// ThreadSanitizer learns that one thread's writes happen before another thread's reads only from
// what it sees: instrumented atomics and the pthread functions it intercepts. Debian's
// libabsl_synchronization is built without -fsanitize=thread, so absl::Mutex hands a lock from one
// thread to the next with atomics and futex calls that TSan never sees, and every field guarded by
// an absl::Mutex would be reported as a data race. Abseil built with TSan annotates itself (its
// ABSL_TSAN_MUTEX_* hooks); Debian's is not, and the runtime uses absl::Mutex everywhere.
//
// This library is preloaded (LD_PRELOAD) into the TSan runs of tests/sanitizers/run.sh only. It
// defines the public locking members of absl::Mutex and absl::CondVar, so the dynamic linker binds
// the programs' calls here first; each calls the real member in libabsl_synchronization (found with
// dlsym(RTLD_NEXT)) and tells TSan the mutex's address was released before it lets go of the lock
// and acquired once it holds it again: the same happens-before edges a pthread mutex gives. It is
// built without instrumentation and changes no behaviour: the real Abseil does all the locking.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

extern "C" {
// From the TSan runtime, which every program this library is preloaded into links.
void __tsan_acquire(void* address) __attribute__((weak));
void __tsan_release(void* address) __attribute__((weak));
}

namespace {

#define DRUST_STRINGIFY_INNER(x) #x
#define DRUST_STRINGIFY(x) DRUST_STRINGIFY_INNER(x)

// The Itanium-mangled name of absl::<class_and_member>, e.g. "5Mutex4LockEv": Debian puts Abseil
// in an inline namespace (ABSL_OPTION_INLINE_NAMESPACE_NAME), which is part of every symbol.
std::string absl_symbol(const char* class_and_member) {
  const std::string inline_namespace = DRUST_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  return "_ZN4absl" + std::to_string(inline_namespace.size()) + inline_namespace + class_and_member;
}

template <typename Function>
Function real(const char* class_and_member) {
  const std::string name = absl_symbol(class_and_member);
  void* found = ::dlsym(RTLD_NEXT, name.c_str());
  if (found == nullptr) {
    std::fprintf(stderr, "absl_tsan_annotations: %s not found in the loaded Abseil (%s)\n", name.c_str(), ::dlerror());
    std::abort();
  }
  return reinterpret_cast<Function>(found);
}

void acquired(void* mutex) {
  if (__tsan_acquire != nullptr) __tsan_acquire(mutex);
}
void releasing(void* mutex) {
  if (__tsan_release != nullptr) __tsan_release(mutex);
}

using absl::Condition;
using absl::CondVar;
using absl::Duration;
using absl::Mutex;
using absl::Time;

// Abseil evaluates a Condition with the mutex held, in the waiting thread or in whichever thread
// is unlocking; those reads belong to a critical section. The condition handed to the real Abseil
// is therefore wrapped: acquire before the user's condition runs and release after, as Abseil's
// own annotations do (EvalConditionAnnotated in mutex.cc).
struct annotated_condition {
  const Condition* user;
  Mutex* mutex;

  static bool evaluate(annotated_condition* self) {
    acquired(self->mutex);
    const bool result = self->user->Eval();
    releasing(self->mutex);
    return result;
  }
};

}  // namespace

#define DRUST_ANNOTATED(condition) \
  annotated_condition annotated{&(condition), this};  \
  const Condition wrapped(&annotated_condition::evaluate, &annotated)

// A member function is called as a function whose first argument is `this` (Itanium C++ ABI).
#define DRUST_REAL(type, symbol) static const auto real_member = real<type>(symbol)

void Mutex::Lock() {
  DRUST_REAL(void (*)(Mutex*), "5Mutex4LockEv");
  real_member(this);
  acquired(this);
}
void Mutex::ReaderLock() {
  DRUST_REAL(void (*)(Mutex*), "5Mutex10ReaderLockEv");
  real_member(this);
  acquired(this);
}
bool Mutex::TryLock() {
  DRUST_REAL(bool (*)(Mutex*), "5Mutex7TryLockEv");
  const bool locked = real_member(this);
  if (locked) acquired(this);
  return locked;
}
bool Mutex::ReaderTryLock() {
  DRUST_REAL(bool (*)(Mutex*), "5Mutex13ReaderTryLockEv");
  const bool locked = real_member(this);
  if (locked) acquired(this);
  return locked;
}
void Mutex::Unlock() {
  DRUST_REAL(void (*)(Mutex*), "5Mutex6UnlockEv");
  releasing(this);
  real_member(this);
}
void Mutex::ReaderUnlock() {
  DRUST_REAL(void (*)(Mutex*), "5Mutex12ReaderUnlockEv");
  releasing(this);
  real_member(this);
}

void Mutex::LockWhen(const Condition& condition) {
  DRUST_REAL(void (*)(Mutex*, const Condition&), "5Mutex8LockWhenERKNS0_9ConditionE");
  DRUST_ANNOTATED(condition);
  real_member(this, wrapped);
  acquired(this);
}
void Mutex::ReaderLockWhen(const Condition& condition) {
  DRUST_REAL(void (*)(Mutex*, const Condition&), "5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  DRUST_ANNOTATED(condition);
  real_member(this, wrapped);
  acquired(this);
}
bool Mutex::LockWhenWithTimeout(const Condition& condition, Duration timeout) {
  DRUST_REAL(bool (*)(Mutex*, const Condition&, Duration), "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  DRUST_ANNOTATED(condition);
  const bool result = real_member(this, wrapped, timeout);
  acquired(this);  // held on return either way
  return result;
}
bool Mutex::LockWhenWithDeadline(const Condition& condition, Time deadline) {
  DRUST_REAL(bool (*)(Mutex*, const Condition&, Time), "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  DRUST_ANNOTATED(condition);
  const bool result = real_member(this, wrapped, deadline);
  acquired(this);
  return result;
}
bool Mutex::ReaderLockWhenWithTimeout(const Condition& condition, Duration timeout) {
  DRUST_REAL(bool (*)(Mutex*, const Condition&, Duration),
             "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  DRUST_ANNOTATED(condition);
  const bool result = real_member(this, wrapped, timeout);
  acquired(this);
  return result;
}
bool Mutex::ReaderLockWhenWithDeadline(const Condition& condition, Time deadline) {
  DRUST_REAL(bool (*)(Mutex*, const Condition&, Time), "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  DRUST_ANNOTATED(condition);
  const bool result = real_member(this, wrapped, deadline);
  acquired(this);
  return result;
}

// Await lets go of the mutex while it waits and holds it again on return.
void Mutex::Await(const Condition& condition) {
  DRUST_REAL(void (*)(Mutex*, const Condition&), "5Mutex5AwaitERKNS0_9ConditionE");
  releasing(this);
  DRUST_ANNOTATED(condition);
  real_member(this, wrapped);
  acquired(this);
}
bool Mutex::AwaitWithTimeout(const Condition& condition, Duration timeout) {
  DRUST_REAL(bool (*)(Mutex*, const Condition&, Duration), "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  releasing(this);
  DRUST_ANNOTATED(condition);
  const bool result = real_member(this, wrapped, timeout);
  acquired(this);
  return result;
}
bool Mutex::AwaitWithDeadline(const Condition& condition, Time deadline) {
  DRUST_REAL(bool (*)(Mutex*, const Condition&, Time), "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  releasing(this);
  DRUST_ANNOTATED(condition);
  const bool result = real_member(this, wrapped, deadline);
  acquired(this);
  return result;
}

// CondVar waits let go of `mutex` and hold it again on return.
void CondVar::Wait(Mutex* mutex) {
  DRUST_REAL(void (*)(CondVar*, Mutex*), "7CondVar4WaitEPNS0_5MutexE");
  releasing(mutex);
  real_member(this, mutex);
  acquired(mutex);
}
bool CondVar::WaitWithTimeout(Mutex* mutex, Duration timeout) {
  DRUST_REAL(bool (*)(CondVar*, Mutex*, Duration), "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  releasing(mutex);
  const bool result = real_member(this, mutex, timeout);
  acquired(mutex);
  return result;
}
bool CondVar::WaitWithDeadline(Mutex* mutex, Time deadline) {
  DRUST_REAL(bool (*)(CondVar*, Mutex*, Time), "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  releasing(mutex);
  const bool result = real_member(this, mutex, deadline);
  acquired(mutex);
  return result;
}
