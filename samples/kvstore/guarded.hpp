// guarded<T>: a std::mutex that owns the data it protects, for the std original of the KV store.
//
// std has no data-carrying mutex; this is the smallest one, shaped like Rust's Mutex<T> and like
// drust::std::sync::mutex<T> (lock() returns a guard with *, -> and get(), read-only through a const
// guard; the guard unlocks when it goes, or by unlock()), so that the port replaces guarded<T> by drust::std::sync::mutex<T>
// and nothing else. It is neither copyable nor movable, as std::mutex; share it through a
// std::shared_ptr.
//
//   guarded<std::vector<int>> log;
//   log.lock()->push_back(1);
//   auto held = log.lock();
//   held->push_back(2);   // held->size() == 2
#pragma once

#include <mutex>
#include <type_traits>
#include <utility>

template <class T>
class guarded {
 public:
  // Access to the locked T; the mutex is unlocked when the guard goes.
  class guard {
   public:
    guard(guard&& other) noexcept
        : lock_(std::move(other.lock_)), object_(std::exchange(other.object_, nullptr)) {}
    guard& operator=(guard&&) = delete;

    // Const-correct, as Rust's guard: a const guard gives read access, a non-const one write
    // access.
    const T& operator*() const noexcept { return *object_; }
    const T* operator->() const noexcept { return object_; }
    const T* get() const noexcept { return object_; }
    T& operator*() noexcept { return *object_; }
    T* operator->() noexcept { return object_; }
    T* get() noexcept { return object_; }
    // Unlocks now; the guard is empty afterwards.
    void unlock() noexcept {
      if (object_ == nullptr) return;
      object_ = nullptr;
      lock_.unlock();
    }

   private:
    friend class guarded;
    guard(std::mutex& mutex, T& object) : lock_(mutex), object_(&object) {}
    std::unique_lock<std::mutex> lock_;
    T* object_;
  };

  guarded() requires std::is_default_constructible_v<T> = default;
  explicit guarded(T value) : object_(std::move(value)) {}
  guarded(const guarded&) = delete;
  guarded& operator=(const guarded&) = delete;

  // Blocks until this thread holds the mutex.
  [[nodiscard]] guard lock() { return guard(mutex_, object_); }

 private:
  std::mutex mutex_;
  T object_{};
};
