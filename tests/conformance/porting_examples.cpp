// The "after" side of every example in docs/porting.md, compiled and run (one node, and under
// drun on four nodes: tests/conformance/meson.build) so that the guide stays true.
#include <drust/runtime>
#include <drust/std/atomic>
#include <drust/std/future>
#include <drust/std/memory>
#include <drust/std/mutex>
#include <drust/std/sync>
#include <drust/std/thread>
#include <drust/std/vector>
#include <mutex>
#include <string>
#include <vector>
namespace dstd = drust::std;
struct order { long id; double amount; };
struct table { long sum; };
long work(std::vector<int> part) { long s = 0; for (int x : part) s += x; return s; }
void greet(std::string) {}
void process(dstd::unique_ptr<table>) {}
void worker(dstd::shared_ptr<dstd::atomic<long>> processed) { ++*processed; }
long total(const dstd::unique_ptr<table>& t) { return t->sum + std::as_const(t)->sum + t.borrow()->sum; }
int main() {
  std::vector<int> part{1, 2, 3};
  auto f = drust::std::async(work, part);
  long sum = f.get();
  auto m = dstd::make_shared<dstd::mutex>();
  dstd::thread t([m] { std::lock_guard hold(*m); });
  t.join();
  auto orders = dstd::make_shared<dstd::sync::mutex<dstd::vector<order>>>();
  { auto g = orders->lock(); g->push_back(order{1, 2.0}); }
  auto hits = dstd::make_shared<dstd::atomic<long>>(0);
  ++*hits;
  auto processed = dstd::make_shared<dstd::atomic<long>>(0);
  dstd::thread w(worker, processed);
  w.join();
  std::string name = "ada";
  dstd::thread g(greet, name);
  g.join();
  auto big = dstd::make_unique<table>(table{5});
  long s2 = total(big);
  dstd::thread u(process, std::move(big));
  u.join();
  auto total_ = dstd::make_shared<dstd::atomic<long>>(0);
  drust::std::thread t2([total_] { total_->fetch_add(1); });
  t2.join();
  return (sum == 6 && s2 == 15 && hits->load() == 1 && processed->load() == 1) ? 0 : 1;
}
