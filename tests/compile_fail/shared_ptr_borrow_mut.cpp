// Refused: a shared object is immutable once shared; unique_ptr's write path does not exist on it.
#include <drust/std/memory>

struct point {
  int x, y;
};

void refused(drust::std::shared_ptr<point> p) { p.borrow_mut()->x = 1; }
