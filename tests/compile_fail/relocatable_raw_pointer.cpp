// Refused: a raw pointer names node-local memory.
#include <drust/relocatable>

void refused() { drust::detail::require_relocatable<int*>(); }
