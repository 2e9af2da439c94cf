// drust::relocatable<T>: what may live in the global heap (docs/design/relocatable.md).
//
// The rule is checked at compile time, so most of this file is static_asserts; the test cases
// check the messages that a refused type produces.
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include <drust/relocatable>

namespace {

using drust::relocatable;
using problem = drust::detail::relocation_problem;

template <class T>
constexpr problem problem_of = drust::detail::relocation_problem_of<T>;

template <class T>
using offender = drust::detail::relocation_offender_t<T>;

enum class colour { red, green };
enum plain_enum { one, two };

// ---- Plain values ---------------------------------------------------------------------------

static_assert(relocatable<int> && relocatable<char> && relocatable<bool> && relocatable<double>);
static_assert(relocatable<const int> && relocatable<volatile long> &&
              relocatable<const volatile float>);
static_assert(relocatable<colour> && relocatable<plain_enum> && relocatable<std::byte>);
static_assert(relocatable<std::nullptr_t>);

struct particle {
  double position[3];
  int cell;
};
// Pointers to data members are offsets, the same on every node.
static_assert(relocatable<int particle::*> && relocatable<double (particle::*)[3]>);

// ---- Pointers, references, non-objects ------------------------------------------------------

static_assert(problem_of<int*> == problem::raw_pointer);
static_assert(problem_of<const char*> == problem::raw_pointer);
static_assert(problem_of<void*> == problem::raw_pointer);
static_assert(problem_of<int* const> == problem::raw_pointer);
static_assert(problem_of<int**> == problem::raw_pointer);
static_assert(problem_of<void (*)(int)> == problem::function_pointer);
static_assert(problem_of<void (particle::*)()> == problem::function_pointer);
static_assert(problem_of<int&> == problem::reference);
static_assert(problem_of<const int&> == problem::reference);
static_assert(problem_of<int&&> == problem::reference);
static_assert(problem_of<std::reference_wrapper<int>> == problem::reference);
static_assert(problem_of<void> == problem::not_an_object);
static_assert(problem_of<int(int)> == problem::not_an_object);
static_assert(problem_of<int[]> == problem::not_an_object);

// ---- Arrays, std::array, pair, tuple, optional, variant -------------------------------------

static_assert(relocatable<int[4]> && relocatable<const double[2][3]> && relocatable<particle[8]>);
static_assert(problem_of<int* [4]> == problem::raw_pointer);
static_assert(std::is_same_v<offender<int* [4]>, int*>);
static_assert(relocatable<std::array<int, 3>> && relocatable<std::array<particle, 0>>);
static_assert(problem_of<std::array<std::string, 2>> == problem::std_container);
static_assert(relocatable<std::pair<int, colour>> && relocatable<std::pair<const int, particle>>);
static_assert(problem_of<std::pair<int, int*>> == problem::raw_pointer);
static_assert(relocatable<std::tuple<>> && relocatable<std::tuple<int, double, particle>>);
static_assert(problem_of<std::tuple<int, std::unique_ptr<int>>> == problem::std_smart_pointer);
static_assert(problem_of<std::tuple<int&>> == problem::reference);
static_assert(relocatable<std::optional<particle>>);
static_assert(problem_of<std::optional<std::string>> == problem::std_container);
static_assert(relocatable<std::variant<int, particle>> && relocatable<std::monostate>);
static_assert(problem_of<std::variant<int, std::string_view>> == problem::std_view);

// ---- std types that hold node-local memory ---------------------------------------------------

static_assert(problem_of<std::string> == problem::std_container);
static_assert(problem_of<std::wstring> == problem::std_container);
static_assert(problem_of<std::vector<int>> == problem::std_container);
static_assert(problem_of<std::vector<bool>> == problem::std_container);
static_assert(problem_of<std::map<int, int>> == problem::std_container);
static_assert(problem_of<std::list<int>> == problem::std_container);
static_assert(problem_of<std::unique_ptr<int>> == problem::std_smart_pointer);
static_assert(problem_of<std::unique_ptr<int[]>> == problem::std_smart_pointer);
static_assert(problem_of<std::shared_ptr<particle>> == problem::std_smart_pointer);
static_assert(problem_of<std::weak_ptr<particle>> == problem::std_smart_pointer);
static_assert(problem_of<std::function<void()>> == problem::std_function);
static_assert(problem_of<std::string_view> == problem::std_view);
static_assert(problem_of<std::span<int>> == problem::std_view);
static_assert(problem_of<std::span<int, 4>> == problem::std_view);
static_assert(problem_of<std::initializer_list<int>> == problem::std_view);
// Trivially copyable to the compiler, but changed through shared access that a cached copy on
// another node would never see.
static_assert(problem_of<std::atomic<int>> == problem::std_synchronisation);
static_assert(problem_of<std::atomic_flag> == problem::std_synchronisation);
static_assert(problem_of<std::mutex> == problem::std_synchronisation);

// ---- Aggregates: inspected field by field ---------------------------------------------------

struct empty {};
struct holder {
  int count;
  int* data;
};
struct nested {
  int id;
  holder inner;  // the problem is one level down
};
struct with_string {
  int id;
  std::string name;
};
struct with_reference {
  int before;
  int& target;
  int after;
};
struct with_const_reference {
  int before;
  const int& target;
};
struct with_callback {
  void (*callback)(int);
};
struct with_member_pointer {
  int particle::*field;
};
struct with_bit_fields {
  unsigned kind : 3;
  unsigned size : 13;
};
struct with_optional {
  std::optional<int> maybe;
  particle p;
  std::array<colour, 2> colours;
};
struct with_atomic {
  std::atomic<long> hits;
};
struct with_destructor {  // an aggregate may declare a destructor that does something
  int value;
  ~with_destructor() {}
};

static_assert(relocatable<empty> && relocatable<particle> && relocatable<const particle>);
static_assert(relocatable<with_bit_fields> && relocatable<with_member_pointer>);
static_assert(relocatable<with_optional>);
static_assert(problem_of<holder> == problem::raw_pointer);
static_assert(std::is_same_v<offender<holder>, int*>);
static_assert(problem_of<nested> == problem::raw_pointer);
static_assert(std::is_same_v<offender<nested>, int*>);
static_assert(problem_of<nested[2]> == problem::raw_pointer);
static_assert(problem_of<with_string> == problem::std_container);
static_assert(std::is_same_v<offender<with_string>, std::string>);
static_assert(problem_of<with_reference> == problem::reference);
static_assert(problem_of<with_const_reference> == problem::reference);
static_assert(problem_of<with_callback> == problem::function_pointer);
static_assert(problem_of<with_atomic> == problem::std_synchronisation);
static_assert(problem_of<with_destructor> == problem::not_trivially_copyable);
static_assert(std::is_same_v<offender<with_destructor>, with_destructor>);

// 32 fields, the most that are inspected one by one; the last one is at fault.
struct wide {
  int f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15;
  int f16, f17, f18, f19, f20, f21, f22, f23, f24, f25, f26, f27, f28, f29, f30;
  int* f31;
};
static_assert(problem_of<wide> == problem::raw_pointer);

// ---- Judged as a whole: fields that cannot be inspected --------------------------------------

// Private fields: trivially copyable is accepted on the author's promise.
class private_fields {
 public:
  int* get() const { return pointer_; }

 private:
  int* pointer_ = nullptr;
};
static_assert(relocatable<private_fields>);

class private_string {
  std::string text_;
};
static_assert(problem_of<private_string> == problem::not_trivially_copyable);

// Base classes and anonymous unions make structured bindings ill-formed: judged as a whole.
struct base_part {
  int a;
};
struct derived_part : base_part {
  int b;
};
static_assert(relocatable<derived_part>);
struct tagged {
  int tag;
  union {
    int i;
    float f;
  };
};
static_assert(relocatable<tagged>);
union number {
  int i;
  double d;
};
static_assert(relocatable<number>);

// More fields than are inspected one by one.
struct too_wide {
  int f[40];
  char c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16;
  char c17, c18, c19, c20, c21, c22, c23, c24, c25, c26, c27, c28, c29, c30, c31, c32;
};
static_assert(relocatable<too_wide>);

// A field without a default constructor hides the others from inspection.
struct explicit_only {
  explicit explicit_only(int v) : value(v) {}
  int value;
};
struct with_explicit_only {
  explicit_only e;
  int x;
};
static_assert(relocatable<with_explicit_only>);

// Lambdas are classes with private captures.
inline constexpr auto by_value = [value = 3] { return value; };
static_assert(relocatable<decltype(by_value)>);

// ---- Opting in and out ----------------------------------------------------------------------

// A handle that moves by copying bytes (say, an index into a global table) but is not trivially
// copyable because it counts its copies.
class counted_handle {
 public:
  counted_handle() = default;
  counted_handle(const counted_handle& other) : index_(other.index_) {}
  counted_handle& operator=(const counted_handle& other) {
    index_ = other.index_;
    return *this;
  }

 private:
  long index_ = 0;
};

class node_local_descriptor {  // trivially copyable, but means nothing on another node
 public:
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

template <class T>
struct handle_template {
  handle_template() {}
  T* global_object = nullptr;
};

struct confused {};

struct virtual_base {
  virtual ~virtual_base() = default;
};

struct with_handles {
  counted_handle handle;
  handle_template<int> typed;
  std::optional<counted_handle> maybe;
};

}  // namespace

template <>
inline constexpr bool drust::enable_relocatable<counted_handle> = true;
template <>
inline constexpr bool drust::disable_relocatable<node_local_descriptor> = true;
template <class T>
inline constexpr bool drust::enable_relocatable<handle_template<T>> = true;
template <>
inline constexpr bool drust::enable_relocatable<confused> = true;
template <>
inline constexpr bool drust::disable_relocatable<confused> = true;
template <>
inline constexpr bool drust::enable_relocatable<virtual_base> = true;

namespace {

static_assert(relocatable<counted_handle> && relocatable<const counted_handle>);
static_assert(relocatable<handle_template<particle>>);
static_assert(relocatable<with_handles>);  // its fields are not trivially copyable, but opted in
static_assert(relocatable<std::vector<int>[1]> == false);
static_assert(problem_of<node_local_descriptor> == problem::opted_out);
static_assert(problem_of<std::pair<int, node_local_descriptor>> == problem::opted_out);
static_assert(problem_of<confused> == problem::opted_in_and_out);
static_assert(problem_of<virtual_base> == problem::polymorphic);  // no opt-in makes a vtable safe
static_assert(problem_of<counted_handle&> == problem::reference);

// ---- The diagnostic helpers -----------------------------------------------------------------

static_assert(drust::detail::require_relocatable<particle>());
static_assert(drust::detail::require_relocatable<with_handles>());
static_assert(drust::detail::why_not_relocatable<particle>() == nullptr);

bool mentions(const char* message, std::string_view text) {
  return message != nullptr && std::string_view(message).find(text) != std::string_view::npos;
}

}  // namespace

TEST_CASE("relocatable types have no complaint") {
  CHECK(drust::detail::why_not_relocatable<int>() == nullptr);
  CHECK(drust::detail::why_not_relocatable<with_optional>() == nullptr);
  CHECK(drust::detail::why_not_relocatable<with_handles>() == nullptr);
}

TEST_CASE("each refusal names its cause and its fix") {
  using drust::detail::why_not_relocatable;
  for (const char* message :
       {why_not_relocatable<holder>(), why_not_relocatable<with_string>(),
        why_not_relocatable<std::unique_ptr<int>>(), why_not_relocatable<private_string>()}) {
    CHECK(mentions(message, "drust: this type cannot live in the global heap"));
  }
  CHECK(mentions(why_not_relocatable<holder>(), "raw pointer"));
  CHECK(mentions(why_not_relocatable<holder>(), "drust::enable_relocatable<T> = true"));
  CHECK(
      mentions(why_not_relocatable<with_string>(), "Use drust::std::vector / drust::std::string"));
  CHECK(mentions(why_not_relocatable<std::unique_ptr<int>>(),
                 "Use drust::std::unique_ptr / drust::std::shared_ptr"));
  CHECK(mentions(why_not_relocatable<private_string>(), "not trivially copyable"));
  CHECK(mentions(why_not_relocatable<private_string>(), "opt it in"));
  CHECK(mentions(why_not_relocatable<with_atomic>(), "drust::std::atomic"));
  CHECK(mentions(why_not_relocatable<virtual_base>(), "no opt-in can make it safe"));
}

TEST_CASE("the messages of different problems differ") {
  using drust::detail::why_not_relocatable;
  const char* messages[] = {
      why_not_relocatable<int*>(),
      why_not_relocatable<void (*)()>(),
      why_not_relocatable<int&>(),
      why_not_relocatable<std::string>(),
      why_not_relocatable<std::string_view>(),
      why_not_relocatable<std::shared_ptr<int>>(),
      why_not_relocatable<std::function<void()>>(),
      why_not_relocatable<std::mutex>(),
      why_not_relocatable<virtual_base>(),
      why_not_relocatable<private_string>(),
      why_not_relocatable<node_local_descriptor>(),
      why_not_relocatable<confused>(),
      why_not_relocatable<void>(),
  };
  for (std::size_t i = 0; i < std::size(messages); ++i) {
    REQUIRE(messages[i] != nullptr);
    for (std::size_t j = i + 1; j < std::size(messages); ++j) {
      CHECK(std::string_view(messages[i]) != std::string_view(messages[j]));
    }
  }
}
