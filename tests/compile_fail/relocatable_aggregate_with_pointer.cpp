// Refused: an aggregate whose field, one level down, is a raw pointer.
#include <drust/relocatable>

struct buffer {
  int size;
  char* bytes;
};
struct message {
  int kind;
  buffer payload;
};

void refused() { drust::detail::require_relocatable<message>(); }
