// Internal: how drust's handles travel to another node's thread, and how an object is made and
// destroyed in the global heap wherever it lives.
//
// A handle (unique_ptr, ref, vector, ...) specialises `wire_traits` with a trivially copyable
// `wire` form (its global words) and the two conversions. Shipping a handle gives up its ownership
// on the sending side (the moved-from handle is empty) and the receiving side takes it over, so a
// handle is never counted twice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#include <drust/detail/heap.hpp>

namespace drust::detail {

template <class T>
struct wire_traits {};  // not a handle

template <class T>
concept shipped_handle = requires(T&& value, typename wire_traits<T>::wire wire) {
  { wire_traits<T>::to_wire(::std::move(value)) } -> ::std::same_as<typename wire_traits<T>::wire>;
  { wire_traits<T>::from_wire(wire) } -> ::std::same_as<T>;
};

// The wire form of a handle of type Handle: a few words, tagged with the handle's type so that
// the receiving side knows what to rebuild.
template <class Handle, ::std::size_t Words = 1>
struct handle_wire {
  ::std::uint64_t words[Words];
};

// Scratch memory for an object's bytes on their way to or from another node.
class object_buffer {
 public:
  object_buffer(::std::size_t size, ::std::size_t alignment)
      : alignment_(alignment < alignof(::std::max_align_t) ? alignof(::std::max_align_t) : alignment),
        bytes_(::operator new(size == 0 ? 1 : size, ::std::align_val_t(alignment_))) {}
  ~object_buffer() { ::operator delete(bytes_, ::std::align_val_t(alignment_)); }
  object_buffer(const object_buffer&) = delete;
  object_buffer& operator=(const object_buffer&) = delete;
  void* get() const noexcept { return bytes_; }

 private:
  ::std::size_t alignment_;
  void* bytes_;
};

// Constructs `count` objects of T in a new block of the global heap; returns its word. A block
// placed on another node (past the pressure threshold) is built here and written there: a
// relocatable object moves by copying bytes.
template <class T, class Construct>
global_word construct_objects(::std::size_t count, Construct&& construct) {
  const global_word word = allocate(sizeof(T) * count, alignof(T));
  if (is_local(word)) {
    try {
      construct(local_pointer<T>(word));
    } catch (...) {
      deallocate(word);
      throw;
    }
    return word;
  }
  object_buffer buffer(sizeof(T) * count, alignof(T));
  try {
    construct(static_cast<T*>(buffer.get()));
    write_object(word, buffer.get(), sizeof(T) * count);
  } catch (...) {
    deallocate(word);
    throw;
  }
  return word;
}

// Runs the destructors of the `count` objects at `word` (on a private copy when they live
// elsewhere, which frees what they own wherever it lives) and frees the block.
template <class T>
void destroy_objects(global_word word, ::std::size_t count) noexcept {
  if (address_of(word) == 0) return;
  if (!is_local(word) && heap_closed.load(::std::memory_order_relaxed)) return;
  if constexpr (!::std::is_trivially_destructible_v<T>) {
    if (is_local(word)) {
      T* objects = local_pointer<T>(word);
      for (::std::size_t i = 0; i < count; ++i) objects[i].~T();
    } else {
      // A node that cannot be read any more ends the job (fail-stop): terminate like std does
      // for an exception escaping a destructor.
      object_buffer buffer(sizeof(T) * count, alignof(T));
      read_object(word, buffer.get(), sizeof(T) * count);
      T* objects = static_cast<T*>(buffer.get());
      for (::std::size_t i = 0; i < count; ++i) objects[i].~T();
    }
  }
  deallocate(word);
}

}  // namespace drust::detail
