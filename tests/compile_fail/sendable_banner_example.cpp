// The example in <drust/sendable>'s banner compiles.
#include <drust/sendable>
#include <string>
#include <string_view>
#include <vector>
struct sample { double value; int count; };
static_assert(drust::sendable<sample> && drust::sendable<std::vector<std::string>>);
static_assert(!drust::sendable<int*> && !drust::sendable<std::string_view>);
