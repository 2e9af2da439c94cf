// Accepted: reads through a non-const shared_ptr (as std code writes them), and std's lock guards
// on an interior-mutable object through a shared_ptr.
#include <mutex>
#include <utility>

#include <drust/interior_mutable>
#include <drust/std/memory>

struct point {
  int x, y;
  int sum() const { return x + y; }
};

struct lockable {  // stands for drust::std::mutex
  long handle;
  void lock() {}
  void unlock() {}
};
template <>
inline constexpr bool drust::interior_mutable<lockable> = true;

int reads(drust::std::shared_ptr<point> p, drust::std::shared_ptr<lockable> m) {
  std::lock_guard guard(*m);
  const point& whole = *p;
  return p->sum() + std::as_const(*p).x + whole.y + p.get()->x + p.borrow()->y;
}

auto makes() { return drust::std::make_shared<const point>(1, 2); }
