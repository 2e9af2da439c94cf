// Internal: the boundary between drust::std::shared_ptr / weak_ptr and the runtime's reference
// counting (docs/design/shared.md).
//
// A shared object's block of the global heap starts with a control block: the global counts,
// changed only at the block's home node, then (make_shared) the object itself. Every node keeps a
// table of the control blocks it holds references to: copies on one node only change that table,
// and the node holds a few *global* references at the home on behalf of all its handles.
//
// A handle holds the object's word and a *counted word*: the control block's address in the low
// 48 bits and, in the top 16, the node whose table counts this handle. A handle read or moved to
// another node (inside a heap object) still names the node that counts it; that is how its
// destruction anywhere reaches the right table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <drust/detail/handle.hpp>
#include <drust/detail/heap.hpp>
#include <drust/detail/launch.hpp>

namespace drust::detail {

// At the start of every shared object's block. The counts are changed only by the home node,
// atomically (std::atomic_ref); other nodes ask it by message.
struct shared_control_block {
  ::std::uint64_t strong;        // global strong references (one or more per node holding any)
  ::std::uint64_t weak;          // global weak references, plus one while strong > 0
  global_word self;              // the block's own word: freed with its colour
  global_word object;            // the object's word: in this block (make_shared) or its own block
  ::std::int64_t destroy_code;   // code offset of destroy_shared_object<T> (same in every node)
  ::std::uint64_t flags;         // shared_object_in_block
};
static_assert(::std::is_trivially_copyable_v<shared_control_block>);
inline constexpr ::std::uint64_t shared_object_in_block = 1;

// Where the object starts in a make_shared block.
template <class T>
constexpr ::std::size_t shared_object_offset() noexcept {
  constexpr ::std::size_t align = alignof(T) > alignof(shared_control_block) ? alignof(T) : alignof(shared_control_block);
  return (sizeof(shared_control_block) + align - 1) / align * align;
}

// Run by the home node when the last strong reference anywhere is gone: the object's destructor,
// in place when the object lives in the control block's block, else destroy_objects (which also
// frees the object's own block).
using shared_destroy_function = void (*)(global_word object, bool in_block) noexcept;

template <class T>
void destroy_shared_object(global_word object, bool in_block) noexcept {
  if (in_block) {
    if constexpr (!::std::is_trivially_destructible_v<T>) local_pointer<T>(object)->~T();
  } else {
    destroy_objects<T>(object, 1);
  }
}

// The code offset of destroy_shared_object<T>, computed once per T.
template <class T>
::std::int64_t shared_destroy_code() {
  static const ::std::int64_t offset =
      code_offset(reinterpret_cast<code_pointer>(static_cast<shared_destroy_function>(&destroy_shared_object<T>)));
  return offset;
}

// Counted words.
constexpr global_word counted_word(::std::uint64_t control_address, int node) noexcept {
  return (control_address & address_mask) | (static_cast<global_word>(static_cast<::std::uint16_t>(node)) << colour_shift);
}
constexpr int counting_node(global_word counted) noexcept { return static_cast<int>(counted >> colour_shift); }

enum class reference_kind : ::std::uint8_t { strong = 0, weak = 1 };

// A new control block made by this node (strong = 1, weak = 1 written in it): this node's table
// takes that first strong reference. Returns the handle's counted word.
global_word shared_created(global_word control);
// A new reference of `kind` for this node, made while the caller holds the handle `counted` (of
// any kind), which keeps the control block alive. No message when this node already holds one of
// that kind; else one round trip to the home. Returns the new handle's counted word.
global_word shared_acquire(global_word counted, reference_kind kind);
// Drops the handle `counted` (on whatever node it is counted). A node's last handle gives its
// global references back to the home (batched, one-way); the object is destroyed at its home when
// no node holds a strong reference, the block freed when no weak one is left either.
void shared_release(global_word counted, reference_kind kind) noexcept;
// The handle `counted` leaves for another thread (maybe on another node): returns the control
// block's address, which now carries one global reference of `kind` in flight.
::std::uint64_t shared_send(global_word counted, reference_kind kind);
// A reference in flight (from shared_send) arrives here: this node's table takes it. Returns the
// handle's counted word.
global_word shared_receive(::std::uint64_t control_address, reference_kind kind);
// weak_ptr::lock: a strong handle counted here, or 0 when the object is gone.
global_word shared_lock(global_word counted_weak);
// use_count: this node's strong handles plus the other nodes' global references (each node with
// handles counts at least one). Exact on one node.
long shared_use_count(global_word counted);

}  // namespace drust::detail
