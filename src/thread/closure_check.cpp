// The run-time half of the shipping rule: a closure whose members drust cannot see (a lambda's
// captures) must not hold a pointer into this node's own memory when it goes to another node.
//
// Every pointer-sized word of the object is compared with this node's memory map, read from
// /proc/self/maps once and cached (a word that misses is looked up again after one refresh per
// check, since new thread stacks and mappings appear as the program runs). Words inside the global
// heap's range are fine: a global address means the same object on every node. So are words that
// cannot be user-space addresses (below 64 KiB, or above the 47-bit user range: colours, counts,
// most doubles). ASLR stays on: nothing here depends on where the image was loaded.
#include <cxxabi.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

#include <drust/detail/launch.hpp>

#include "heap/partition.hpp"

namespace drust::detail {

namespace {

struct mapping {
  ::std::uintptr_t begin;
  ::std::uintptr_t end;
  ::std::string name;  // the path or [stack], [heap], ...; empty for anonymous memory
};

constexpr ::std::uintptr_t lowest_user_address = 0x10000;             // vm.mmap_min_addr
constexpr ::std::uintptr_t highest_user_address = ::std::uintptr_t{1} << 47;

#if defined(__SANITIZE_ADDRESS__)
#define DRUST_UNDER_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DRUST_UNDER_ADDRESS_SANITIZER 1
#endif
#endif
#ifdef DRUST_UNDER_ADDRESS_SANITIZER
// AddressSanitizer's shadow memory and its gap (x86_64) are anonymous mappings over 16 TiB of low
// addresses where no object ever lives; without this, a plain integer such as 0x2'0000'0001 would
// look like a pointer into "an anonymous mapping of this node".
constexpr ::std::uintptr_t sanitizer_shadow_begin = 0x7fff'8000;
constexpr ::std::uintptr_t sanitizer_shadow_end = 0x1000'7fff'8000;
#else
constexpr ::std::uintptr_t sanitizer_shadow_begin = 0;
constexpr ::std::uintptr_t sanitizer_shadow_end = 0;
#endif
#undef DRUST_UNDER_ADDRESS_SANITIZER

::std::vector<mapping> read_memory_map() {
  ::std::vector<mapping> map;
  ::std::ifstream maps("/proc/self/maps");
  ::std::string line;
  while (::std::getline(maps, line)) {
    ::std::istringstream fields(line);
    ::std::string range, permissions, offset, device, inode, name;
    fields >> range >> permissions >> offset >> device >> inode;
    ::std::getline(fields >> ::std::ws, name);
    const auto dash = range.find('-');
    if (dash == ::std::string::npos) continue;
    mapping entry{::std::stoull(range.substr(0, dash), nullptr, 16), ::std::stoull(range.substr(dash + 1), nullptr, 16),
                  name};
    map.push_back(::std::move(entry));
  }
  return map;
}

class memory_map_cache {
 public:
  // The mapping holding `address`, refreshing the map at most once per `refreshed` flag.
  bool find(::std::uintptr_t address, bool& refreshed, mapping& found) {
    ::std::lock_guard hold(lock_);
    if (!loaded_) {
      map_ = read_memory_map();
      loaded_ = true;
      refreshed = true;
    }
    if (lookup(address, found)) return true;
    if (refreshed) return false;
    map_ = read_memory_map();
    refreshed = true;
    return lookup(address, found);
  }

 private:
  bool lookup(::std::uintptr_t address, mapping& found) const {
    auto after = ::std::upper_bound(map_.begin(), map_.end(), address,
                                    [](::std::uintptr_t value, const mapping& entry) { return value < entry.begin; });
    if (after == map_.begin()) return false;
    const mapping& candidate = *::std::prev(after);
    if (address >= candidate.end) return false;
    found = candidate;
    return true;
  }

  ::std::mutex lock_;
  bool loaded_ = false;
  ::std::vector<mapping> map_;  // sorted by address, as the kernel lists it
};

memory_map_cache& memory_map() {
  static memory_map_cache* cache = new memory_map_cache();  // used by threads that outlive main
  return *cache;
}

::std::string readable_name(const ::std::type_info& type) {
  int status = 0;
  ::std::unique_ptr<char, void (*)(void*)> readable(abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), ::std::free);
  return status == 0 && readable ? readable.get() : type.name();
}

::std::string executable_path() {
  char path[4096] = {};
  const ::ssize_t length = ::readlink("/proc/self/exe", path, sizeof path - 1);
  return length > 0 ? ::std::string(path, static_cast<::std::size_t>(length)) : ::std::string();
}

// What a mapping is, in words a user recognises.
::std::string describe(const mapping& where) {
  if (where.name == "[stack]") return "the main thread's stack (a local variable: a reference capture or a pointer to a local)";
  if (where.name == "[heap]") return "this node's malloc heap (a std::string, std::vector or new'd object)";
  if (where.name.empty()) {
    return "an anonymous mapping of this node (a thread's stack, or malloc'd memory: a reference capture, a pointer "
           "to a local, a std::string, std::vector or new'd object)";
  }
  static const ::std::string self = executable_path();
  if (where.name == self) return "the executable's image (a string literal, a global or a function: its address differs on every node)";
  if (where.name.front() == '[') return "this node's " + where.name + " mapping";
  return "a mapping of " + where.name + " on this node";
}

}  // namespace

void check_closure_words(const void* object, ::std::size_t size, const ::std::type_info& type, const char* role, int node) {
  const auto* bytes = static_cast<const unsigned char*>(object);
  bool refreshed = false;
  for (::std::size_t offset = 0; offset + sizeof(::std::uintptr_t) <= size; offset += sizeof(::std::uintptr_t)) {
    ::std::uintptr_t word = 0;
    ::std::memcpy(&word, bytes + offset, sizeof word);
    if (word < lowest_user_address || word >= highest_user_address) continue;
    if (word >= heap::global_heap_base && word < heap::global_heap_limit) continue;  // a global address
    if (word >= sanitizer_shadow_begin && word < sanitizer_shadow_end) continue;
    mapping where{};
    if (!memory_map().find(word, refreshed, where)) continue;  // not an address of anything here
    ::std::ostringstream text;
    text << "drust: " << role << " (" << readable_name(type) << ", " << size << " bytes) cannot run on node " << node
         << ": its word at byte offset " << offset << " holds 0x" << ::std::hex << word << ::std::dec
         << ", an address in " << describe(where)
         << ", which means nothing on another node. A lambda sent to another node may capture only values and drust "
            "handles: capture by value (not by reference), make captured strings and vectors drust::std::string / "
            "drust::std::vector or pass them as arguments (std::string and std::vector arguments are copied), and put "
            "shared objects in drust::std::shared_ptr / unique_ptr.";
    throw ::std::invalid_argument(text.str());
  }
}

}  // namespace drust::detail
