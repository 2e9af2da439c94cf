// The example in the banner of <drust/relocatable>, word for word: it must compile.
#include <drust/relocatable>
#include <string>
struct particle { double position[3]; int cell; };  // accepted: its fields are plain values
struct label { std::string text; };                  // refused: std::string is node-local
struct slot { slot(const slot& other); long index; };  // not trivially copyable, yet it moves
template <> inline constexpr bool drust::enable_relocatable<slot> = true;  // as bytes: opt in
static_assert(drust::relocatable<particle> && drust::relocatable<slot>);
static_assert(!drust::relocatable<label>);
