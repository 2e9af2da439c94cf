// Refused: a std::vector keeps its elements in node-local memory.
#include <vector>

#include <drust/relocatable>

void refused() { drust::detail::require_relocatable<std::vector<int>>(); }
