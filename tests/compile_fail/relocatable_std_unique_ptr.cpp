// Refused: std::unique_ptr owns node-local memory.
#include <memory>

#include <drust/relocatable>

void refused() { drust::detail::require_relocatable<std::unique_ptr<int>>(); }
