// The example in the banner of <drust/interior_mutable>, word for word: it must compile.
#include <drust/interior_mutable>
struct counters { long home_handle; };  // stands for e.g. two drust::std::atomic<long>
template <> inline constexpr bool drust::interior_mutable<counters> = true;
static_assert(drust::interior_mutable<counters> && !drust::interior_mutable<int>);
