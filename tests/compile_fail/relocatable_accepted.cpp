// Control: require_relocatable accepts these, so the refusals in this folder are not an accident
// of the runner or of the flags.
#include <array>
#include <optional>
#include <tuple>

#include <drust/relocatable>

struct particle {
  double position[3];
  int cell;
};

class counted_handle {
 public:
  counted_handle() = default;
  counted_handle(const counted_handle& other) : index_(other.index_) {}
  counted_handle& operator=(const counted_handle& other) = default;

 private:
  long index_ = 0;
};
template <>
inline constexpr bool drust::enable_relocatable<counted_handle> = true;

struct with_handle {
  counted_handle handle;
  std::optional<particle> maybe;
};

void accepted() {
  drust::detail::require_relocatable<int>();
  drust::detail::require_relocatable<particle>();
  drust::detail::require_relocatable<std::tuple<int, std::array<particle, 2>>>();
  drust::detail::require_relocatable<with_handle>();
}
static_assert(drust::detail::require_relocatable<counted_handle>());
