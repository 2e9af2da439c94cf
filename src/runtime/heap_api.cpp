// The functions of <drust/detail/heap.hpp>: the handles' way into this node's global heap and
// object store. Errors become the exceptions the std names promise (std::bad_alloc for memory,
// drust::remote_error for a node that failed).
#include <drust/detail/heap.hpp>
#include <drust/runtime>

#include "common/status.hpp"
#include "runtime/node_runtime.hpp"

namespace drust::detail {

::std::uint64_t local_heap_begin = 0;
::std::uint64_t local_heap_size = 0;
::std::atomic<bool> heap_closed{false};

namespace {

runtime::node_runtime& node() { return runtime::node_runtime::instance(); }

heap::global_heap& global_heap() {
  heap::global_heap* heap = node().global_heap();
  if (heap == nullptr) {
    throw ::std::logic_error(
        "drust: the global heap is not ready: drust objects can be created only once main has started "
        "(not from static initialisers)");
  }
  return *heap;
}

coherence::object_store& objects() {
  (void)global_heap();
  return *node().objects();
}

[[noreturn]] void throw_status(const absl::Status& status) {
  const ::std::string message = absl::StrCat("drust: ", ::std::string(status.message()));
  if (absl::IsResourceExhausted(status)) throw heap_exhausted(message);
  if (absl::IsInvalidArgument(status) || absl::IsFailedPrecondition(status)) throw ::std::invalid_argument(message);
  throw remote_error(message);
}

}  // namespace

global_word allocate(::std::size_t size, ::std::size_t alignment) {
  return value_or_throw<throw_status>(global_heap().allocate(size, alignment));
}

void deallocate(global_word word) noexcept {
  if (address_of(word) == 0) return;
  if (heap::global_heap* heap = node().global_heap()) heap->deallocate(word);
}

void read_object(global_word word, void* destination, ::std::size_t size) {
  ok_or_throw<throw_status>(objects().read(word, destination, size));
}

void write_object(global_word word, const void* source, ::std::size_t size) {
  ok_or_throw<throw_status>(objects().write(word, source, size));
}

const void* borrow_copy_slow(global_word word, ::std::size_t size, ::std::size_t alignment) {
  return value_or_throw<throw_status>(objects().borrow(word, size, alignment));
}

pinned_copy pin_copy(global_word word, ::std::size_t size, ::std::size_t alignment) {
  if (is_local(word)) return {local_pointer<const void>(word), nullptr};
  auto copy = ::std::make_unique<coherence::cached_copy>(value_or_throw<throw_status>(objects().pin(word, size, alignment)));
  const void* bytes = copy->data();
  return {bytes, copy.release()};
}

void unpin_copy(void* pin) noexcept { delete static_cast<coherence::cached_copy*>(pin); }

global_word acquire_slow(global_word word, ::std::size_t size, ::std::size_t alignment) {
  return value_or_throw<throw_status>(objects().move_here(word, size, alignment));
}

global_word adopt(const void* pointer) {
  return value_or_throw<throw_status>(global_heap().adopt(reinterpret_cast<::std::uint64_t>(pointer)));
}

void retire_colours(global_word word, ::std::size_t size) noexcept {
  if (heap::global_heap* heap = node().global_heap()) heap->retire_colours(word, size);
}

}  // namespace drust::detail
