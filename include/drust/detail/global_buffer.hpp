// Internal: the storage of drust::std::vector and drust::std::string, and drust::slice_ref<T>, the
// read guard over a range of their elements (docs/design/containers.md).
//
// A container object is small and relocatable: one global word (the elements' block: address and
// colour), the size and the capacity, and one flag. The elements live in one block of the global
// heap that the container owns. Reading follows the rules of every handle: local storage is read
// in place, remote storage through this node's read cache. Writing first makes the storage
// writable here: remote storage moves to this node, local storage takes a new colour when a copy
// of it may be cached elsewhere (the *exposed* flag below says when that can be).
#pragma once

#include <algorithm>
#include <atomic>
#include <compare>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <utility>

#include <drust/detail/handle.hpp>
#include <drust/detail/heap.hpp>
#include <drust/relocatable>

namespace drust {

// An immutable borrow of `size()` consecutive elements of a drust::std::vector or
// drust::std::string (made by their view()). While it lives, the elements' bytes are readable
// here: in place when the storage is on this node, else a cached copy of *only that range*. It
// has the interface of a read-only contiguous range (begin/end/size/operator[]/data), converts to
// std::span<const T> (and, for characters, to std::basic_string_view), and may be passed to a
// thread on another node, which then reads the same range through its own cache. Like a
// `const T&` in a std program, it must not outlive a write to the container by its owner.
template <class T>
class slice_ref {
 public:
  using element_type = const T;
  using value_type = T;
  using size_type = ::std::size_t;
  using difference_type = ::std::ptrdiff_t;
  using pointer = const T*;
  using const_pointer = const T*;
  using reference = const T&;
  using const_reference = const T&;
  using iterator = const T*;
  using const_iterator = const T*;
  using reverse_iterator = ::std::reverse_iterator<const T*>;
  using const_reverse_iterator = ::std::reverse_iterator<const T*>;

  slice_ref() noexcept = default;
  // A borrow of the `count` elements that start at the global word `first` (0: none).
  slice_ref(detail::global_word first, size_type count) : word_(first), count_(count) {
    if (detail::address_of(first) != 0 && count != 0) {
      copy_ = detail::pin_copy(first, count * sizeof(T), alignof(T));
    } else {
      word_ = 0;
      count_ = 0;
    }
  }
  slice_ref(const slice_ref& other) : slice_ref(other.word_, other.count_) {}
  slice_ref(slice_ref&& other) noexcept
      : word_(::std::exchange(other.word_, 0)),
        count_(::std::exchange(other.count_, 0)),
        copy_(::std::exchange(other.copy_, {})) {}
  slice_ref& operator=(slice_ref other) noexcept {
    swap(other);
    return *this;
  }
  ~slice_ref() {
    if (copy_.pin != nullptr) detail::unpin_copy(copy_.pin);
  }

  const T* data() const noexcept { return static_cast<const T*>(copy_.bytes); }
  size_type size() const noexcept { return count_; }
  size_type size_bytes() const noexcept { return count_ * sizeof(T); }
  [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
  const T* begin() const noexcept { return data(); }
  const T* end() const noexcept { return data() + count_; }
  const T* cbegin() const noexcept { return begin(); }
  const T* cend() const noexcept { return end(); }
  reverse_iterator rbegin() const noexcept { return reverse_iterator(end()); }
  reverse_iterator rend() const noexcept { return reverse_iterator(begin()); }
  const T& operator[](size_type i) const noexcept { return data()[i]; }
  const T& at(size_type i) const {
    if (i >= count_) throw ::std::out_of_range("drust::slice_ref::at: index out of range");
    return data()[i];
  }
  const T& front() const noexcept { return data()[0]; }
  const T& back() const noexcept { return data()[count_ - 1]; }

  ::std::span<const T> span() const noexcept { return {data(), count_}; }
  operator ::std::span<const T>() const noexcept { return span(); }
  template <class Traits>
  requires(::std::is_same_v<typename Traits::char_type, T>)
  operator ::std::basic_string_view<T, Traits>() const noexcept {
    return {data(), count_};
  }

  void swap(slice_ref& other) noexcept {
    ::std::swap(word_, other.word_);
    ::std::swap(count_, other.count_);
    ::std::swap(copy_, other.copy_);
  }
  friend void swap(slice_ref& a, slice_ref& b) noexcept { a.swap(b); }

  // The global word of the first element (address and colour; 0 when empty).
  detail::global_word word() const noexcept { return word_; }

 private:
  detail::global_word word_ = 0;
  size_type count_ = 0;
  detail::pinned_copy copy_{};
};

template <class T>
inline constexpr bool enable_relocatable<slice_ref<T>> = false;  // a borrow pins a copy on one node

template <class T>
struct detail::wire_traits<slice_ref<T>> {
  using wire = handle_wire<slice_ref<T>, 2>;
  static wire to_wire(slice_ref<T>&& value) { return {{value.word(), value.size()}}; }
  static slice_ref<T> from_wire(wire w) { return slice_ref<T>(w.words[0], w.words[1]); }
};

}  // namespace drust

namespace drust::detail {

// Whether `object`, an address of this process, lies in this node's partition of the global heap
// (then other nodes may read the object's bytes through a handle of an enclosing object).
inline bool in_local_heap(const void* object) noexcept {
  return reinterpret_cast<::std::uintptr_t>(object) - local_heap_begin < local_heap_size;
}

struct adopt_storage_t {};
inline constexpr adopt_storage_t adopt_storage{};

// Elements relocate by copying bytes (they are relocatable): no constructor or destructor runs.
template <class T>
void relocate_elements(T* destination, const T* source, ::std::size_t count) noexcept {
  if (count != 0)
    ::std::memmove(static_cast<void*>(destination), static_cast<const void*>(source),
                   count * sizeof(T));
}

// Constructs `count` elements at `where`, the i-th by make(where + i, i); on an exception the
// ones already built are destroyed and it propagates.
template <class T, class Make>
void construct_elements(T* where, ::std::size_t count, Make&& make) {
  ::std::size_t built = 0;
  try {
    for (; built < count; ++built) make(where + built, built);
  } catch (...) {
    while (built > 0) where[--built].~T();
    throw;
  }
}

template <class T>
void destroy_elements(T* where, ::std::size_t count) noexcept {
  if constexpr (!::std::is_trivially_destructible_v<T>) {
    for (::std::size_t i = 0; i < count; ++i) where[i].~T();
  }
}

// The elements of a vector (Spare = 0) or the characters of a string (Spare = 1: one more slot
// after the last character, always T(), the terminating NUL), in one block of the global heap.
//
// The *exposed* flag: a copy of the storage can be cached on another node only if that node got
// the storage's word, and it gets it only (a) from a slice_ref made by view(), which sets the flag,
// (b) by reading the bytes of this container object where it lives in the global heap (inside a
// unique_ptr, a vector, ...), or (c) because this container came from another node (from_wire
// sets the flag). So a write must recolour the storage when the flag is set or when this object
// lies in the global heap, and need not otherwise: a container on a stack, written in a loop, keeps
// its colour. Moves between container objects carry the flag (and set it when the source lies in
// the global heap).
template <class T, ::std::size_t Spare = 0>
class global_buffer {
  static_assert(Spare == 0 || ::std::is_integral_v<T>, "spare slots only for characters");

 public:
  using size_type = ::std::size_t;

  global_buffer() noexcept = default;
  // Takes over a block owned until now by a container on another node.
  global_buffer(adopt_storage_t, global_word data, size_type size, size_type capacity) noexcept
      : data_(data), size_(size), capacity_(capacity), exposed_(true) {}
  global_buffer(const global_buffer& other) { copy_from(other.slice(0, other.size_)); }
  global_buffer(global_buffer&& other) noexcept
      : data_(::std::exchange(other.data_, 0)),
        size_(::std::exchange(other.size_, 0)),
        capacity_(::std::exchange(other.capacity_, 0)),
        exposed_(other.take_exposed()) {}
  global_buffer& operator=(const global_buffer& other) {
    if (this != &other) {
      global_buffer copy(other);
      swap(copy);
    }
    return *this;
  }
  global_buffer& operator=(global_buffer&& other) noexcept {
    if (this != &other) {
      global_buffer moved(::std::move(other));
      swap(moved);
    }
    return *this;
  }
  ~global_buffer() { destroy_objects<T>(data_, size_); }

  size_type size() const noexcept { return size_; }
  size_type capacity() const noexcept { return capacity_; }
  global_word word() const noexcept { return data_; }
  bool has_block() const noexcept { return address_of(data_) != 0; }
  bool is_local() const noexcept { return detail::is_local(data_); }
  static constexpr size_type max_size() noexcept {
    return (::std::numeric_limits<::std::ptrdiff_t>::max() / sizeof(T)) - Spare;
  }

  // ---- Reading ----------------------------------------------------------------------------------

  // The elements [0, size + Spare), readable here until this thread has made
  // borrow_table_size newer borrows of remote objects; nullptr when there is no block.
  const T* read() const {
    if (!has_block()) return nullptr;
    if (detail::is_local(data_)) return local_pointer<const T>(data_);
    if (size_ + Spare == 0) return nullptr;
    return static_cast<const T*>(borrow_copy(data_, (size_ + Spare) * sizeof(T), alignof(T)));
  }
  // A pinned borrow of [first, first + count) for this node's own use (the caller checked the
  // bounds). For remote storage only those bytes are read, keyed by the first element's word.
  slice_ref<T> slice(size_type first, size_type count) const {
    if (count == 0 || !has_block()) return slice_ref<T>();
    return slice_ref<T>(data_ + first * sizeof(T), count);
  }
  // The same, for a borrow that may go to another node: the next write recolours.
  slice_ref<T> exposed_slice(size_type first, size_type count) const {
    expose();
    return slice(first, count);
  }
  void expose() const noexcept {
    if (!exposed_.load(::std::memory_order_relaxed))
      exposed_.store(true, ::std::memory_order_relaxed);
  }

  // ---- Writing ----------------------------------------------------------------------------------

  // Makes the storage writable here (a mutable borrow) and returns it; nullptr when there is no
  // block. Remote storage moves here (its live elements only: the capacity becomes the size).
  // Local storage never moves, so a pointer from an earlier write() stays valid (std invalidates
  // none at an element access, and begin()/end() may be evaluated in either order): it takes the
  // next colour, or stays at the last one (saturated, never cached by readers) until an operation
  // that may invalidate references renews it (reallocation, clear(), shrink_to_fit()).
  T* write() {
    if (!has_block()) return nullptr;
    if (!detail::is_local(data_)) {
      move_here();
    } else if (exposed_.load(::std::memory_order_relaxed) || in_local_heap(this)) {
      data_ = acquire(data_, block_bytes(capacity_), alignof(T));
      exposed_.store(false, ::std::memory_order_relaxed);
    }
    return local_pointer<T>(data_);
  }

  void reserve(size_type count) {
    if (count > max_size()) throw ::std::length_error("drust: reserve() beyond max_size()");
    write();
    if (count > capacity_) reallocate(count);
  }

  // std lets shrink_to_fit() reallocate whatever the capacity, so it also renews saturated
  // storage: the way to make a container's storage cacheable again (docs/design/containers.md).
  void shrink_to_fit() {
    write();
    if (capacity_ == size_ && !saturated()) return;
    if (size_ == 0) {
      deallocate(::std::exchange(data_, 0));
      capacity_ = 0;
      return;
    }
    reallocate(size_);
  }

  // Inserts `count` elements at `index` (<= size()), built by make(where, i) for i in [0, count).
  // make may read elements of this buffer (they stay where they are until it returns). Strong
  // guarantee: if make throws, nothing changed (but the storage may have moved here).
  template <class Make>
  T* insert(size_type index, size_type count, Make&& make) {
    T* elements = write();
    if (count == 0) return elements == nullptr ? nullptr : elements + index;
    if (count > max_size() - size_)
      throw ::std::length_error("drust: the container would exceed max_size()");
    if (size_ + count <= capacity_) {
      if (index == size_) {
        construct_elements(elements + size_, count, make);
      } else {
        // Built aside first: make may read the elements about to shift.
        object_buffer aside(count * sizeof(T), alignof(T));
        T* built = static_cast<T*>(aside.get());
        construct_elements(built, count, make);
        relocate_elements(elements + index + count, elements + index, size_ - index);
        relocate_elements(elements + index, built, count);
      }
    } else {
      const size_type capacity = grown_capacity(size_ + count);
      const global_word fresh = allocate_here(capacity);
      T* target = local_pointer<T>(fresh);
      try {
        construct_elements(target + index, count, make);
      } catch (...) {
        deallocate(fresh);
        throw;
      }
      relocate_elements(target, elements, index);
      relocate_elements(target + index + count, elements + index, size_ - index);
      deallocate(data_);  // relocated: no destructor runs
      data_ = fresh;
      capacity_ = capacity;
      exposed_.store(false, ::std::memory_order_relaxed);
      elements = target;
    }
    size_ += count;
    terminate();
    return elements + index;
  }

  // Returns the first appended element: null when count is 0 and the buffer has no storage.
  template <class Make>
  T* append(size_type count, Make&& make) {
    return insert(size_, count, ::std::forward<Make>(make));
  }

  // Removes [index, index + count).
  void erase(size_type index, size_type count) {
    if (count == 0) return;
    T* elements = write();
    destroy_elements(elements + index, count);
    relocate_elements(elements + index, elements + index + count, size_ - index - count);
    size_ -= count;
    terminate();
  }

  void clear() {
    if (!has_block()) return;
    if (!detail::is_local(data_)) {
      // Remote storage: its destructors run on a private copy, and the block is freed at its home.
      destroy_objects<T>(::std::exchange(data_, 0), ::std::exchange(size_, 0));
      capacity_ = 0;
      return;
    }
    T* elements = write();
    destroy_elements(elements, size_);
    size_ = 0;
    // clear() invalidates every reference to the elements: saturated storage can be renewed here
    // at the cost of one allocation (nothing is left to copy).
    if (saturated()) reallocate(capacity_);
    terminate();
  }

  void swap(global_buffer& other) noexcept {
    if (this == &other) return;
    const bool mine = take_exposed();
    const bool theirs = other.take_exposed();
    ::std::swap(data_, other.data_);
    ::std::swap(size_, other.size_);
    ::std::swap(capacity_, other.capacity_);
    exposed_.store(theirs, ::std::memory_order_relaxed);
    other.exposed_.store(mine, ::std::memory_order_relaxed);
  }

  // Gives up the block (for shipping to another node): the buffer is empty afterwards.
  void release(global_word& data, size_type& size, size_type& capacity) noexcept {
    data = ::std::exchange(data_, 0);
    size = ::std::exchange(size_, 0);
    capacity = ::std::exchange(capacity_, 0);
    exposed_.store(false, ::std::memory_order_relaxed);
  }

  // Builds this (empty) buffer as a copy of `count` elements read through `source`.
  template <class Iterator>
  void copy_construct(size_type count, Iterator source) {
    if (count == 0) return;
    if (count > max_size())
      throw ::std::length_error("drust: the container would exceed max_size()");
    data_ = construct_objects<T>(count + Spare, [&](T* where) {
      construct_elements(where, count, [&](T* element, size_type) {
        ::new (static_cast<void*>(element)) T(*source);
        ++source;
      });
      for (size_type i = 0; i < Spare; ++i) ::new (static_cast<void*>(where + count + i)) T();
    });
    size_ = count;
    capacity_ = count;
  }

 private:
  void copy_from(const slice_ref<T>& source) { copy_construct(source.size(), source.begin()); }

  // Local storage at the last colour: written in place with no new colour, never cached by
  // readers, renewed at the next operation that may invalidate references.
  bool saturated() const noexcept { return detail::is_local(data_) && colour_of(data_) == last_colour; }

  // The flag this object hands on when its block goes to another container object.
  bool take_exposed() const noexcept {
    return exposed_.load(::std::memory_order_relaxed) || in_local_heap(this);
  }

  static size_type block_bytes(size_type capacity) noexcept {
    return (capacity + Spare) * sizeof(T);
  }

  size_type grown_capacity(size_type needed) const {
    constexpr size_type minimum = sizeof(T) >= 64 ? 1 : 64 / sizeof(T) - Spare;
    size_type capacity = capacity_ > max_size() / 2 ? max_size() : capacity_ * 2;
    return ::std::max({capacity, needed, minimum});
  }

  // A block on this node: a block that is about to be written belongs where its writer is.
  static global_word allocate_here(size_type capacity) {
    global_word word = allocate(block_bytes(capacity), alignof(T));
    // Past this node's pressure threshold the heap placed it elsewhere: move it here (heap.hpp has
    // no "allocate here" call; this reads the fresh block once).
    if (!detail::is_local(word)) word = acquire_slow(word, block_bytes(capacity), alignof(T));
    return word;
  }

  // Remote storage comes here: only its live elements travel, so the capacity becomes the size.
  void move_here() {
    if (size_ == 0) {
      deallocate(::std::exchange(data_, 0));
      capacity_ = 0;
    } else {
      data_ = acquire_slow(data_, block_bytes(size_), alignof(T));
      capacity_ = size_;
    }
    exposed_.store(false, ::std::memory_order_relaxed);
  }

  // A new local block of `capacity` (>= size) elements; the storage is local already.
  void reallocate(size_type capacity) {
    const global_word fresh = allocate_here(capacity);
    relocate_elements(local_pointer<T>(fresh), local_pointer<T>(data_), size_);
    deallocate(data_);
    data_ = fresh;
    capacity_ = capacity;
    exposed_.store(false, ::std::memory_order_relaxed);
    terminate();
  }

  // Keeps the spare slot (a string's terminating NUL) after the last element.
  void terminate() noexcept {
    if constexpr (Spare != 0) {
      if (has_block()) {
        T* elements = local_pointer<T>(data_);
        for (size_type i = 0; i < Spare; ++i) elements[size_ + i] = T();
      }
    }
  }

  global_word data_ = 0;
  size_type size_ = 0;
  size_type capacity_ = 0;
  mutable ::std::atomic<bool> exposed_{false};
};

// Three-way comparison of elements as std's containers do it: <=> where the type has it, else
// from <.
struct synth_three_way {
  template <class T, class U>
  constexpr auto operator()(const T& t, const U& u) const requires requires {
    { t < u } -> ::std::convertible_to<bool>;
    { u < t } -> ::std::convertible_to<bool>;
  }
  {
    if constexpr (::std::three_way_comparable_with<T, U>) {
      return t <=> u;
    } else {
      if (t < u) return ::std::weak_ordering::less;
      if (u < t) return ::std::weak_ordering::greater;
      return ::std::weak_ordering::equivalent;
    }
  }
};
template <class T, class U = T>
using synth_three_way_result = decltype(synth_three_way{}(::std::declval<const T&>(),
                                                          ::std::declval<const U&>()));

}  // namespace drust::detail
