// The thread surface across nodes (issue 4, items 1-3), one scenario per run:
//   thread_surface_app arguments   string / vector / tuple / big arguments reach every other node equal
//   thread_surface_app member      member functions through a unique_ptr and a shared_ptr, remotely
//   thread_surface_app relocate    a lambda capturing a moved unique_ptr and a shared_ptr copy runs remotely;
//                                  its handles are counted once (the shared object dies when main drops it)
//   thread_surface_app jthread     request_stop on node 0 reaches a jthread on the last node
//   thread_surface_app async       async on other nodes returns strings and vectors; exceptions reach get
//   thread_surface_app promise     a promise shipped to every other node is fulfilled there
//   thread_surface_app capture     lambdas holding node-local pointers are refused before they run
//   thread_surface_app uncaught    an exception escapes a remote thread: the job ends
//   thread_surface_app refused     the last node refuses to start threads: join and an async's get
//                                  report why, and the refused closures give back what they own
//   thread_surface_app refused_detached  the same for a detached thread: the job ends
//   thread_surface_app async_tail  main returns right after the values of two asyncs (here and on
//                                  node 1) whose arguments take 300 ms to destroy: both finish first
// Prints "result ok" when every check held, "result failed: <why>" otherwise.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <drust/codec>
#include <drust/runtime>
#include <drust/std/future>
#include <drust/std/memory>
#include <drust/std/thread>

#include "thread/thread_service.hpp"

namespace dstd = drust::std;
using namespace std::chrono_literals;

namespace {

int failures = 0;

void require(bool condition, const std::string& what) {
  if (!condition) {
    ++failures;
    std::printf("check failed: %s\n", what.c_str());
    std::fflush(stdout);
  }
}

std::vector<int> numbers(int count) {
  std::vector<int> values(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) values[static_cast<std::size_t>(i)] = i * 7;
  return values;
}

// Runs on another node: says what it got, through a promise.
void describe(std::string text, std::vector<int> values, std::tuple<int, std::string, double> triple,
              std::vector<std::string> words, dstd::promise<std::string> out) {
  long sum = 0;
  for (int v : values) sum += v;
  out.set_value(std::to_string(drust::node_id()) + "|" + text + "|" + std::to_string(values.size()) + ":" +
                std::to_string(sum) + "|" + std::to_string(std::get<0>(triple)) + std::get<1>(triple) +
                std::to_string(std::get<2>(triple)) + "|" + std::to_string(words.size()) + words.back());
}

void arguments() {
  for (int node = 1; node < drust::num_nodes(); ++node) {
    const std::string text = "text for node " + std::to_string(node) + std::string(100, '!');
    const std::vector<int> values = numbers(1000 * node);
    const std::tuple<int, std::string, double> triple(node, "-", 0.5);
    const std::vector<std::string> words(3, "word" + std::to_string(node));
    dstd::promise<std::string> out;
    auto got = out.get_future();
    dstd::thread t(drust::on(node), describe, text, values, triple, words, std::move(out));
    t.join();
    long sum = 0;
    for (int v : values) sum += v;
    const std::string expected = std::to_string(node) + "|" + text + "|" + std::to_string(values.size()) + ":" +
                                 std::to_string(sum) + "|" + std::to_string(node) + "-" + std::to_string(0.5) + "|3" +
                                 words.back();
    require(got.get() == expected, "arguments on node " + std::to_string(node));
  }
  // A closure bigger than one active message (it travels through the global heap).
  const std::vector<int> big = numbers(100000);
  auto size = dstd::async(drust::on(drust::num_nodes() - 1), [](std::vector<int> v) { return v.size() + static_cast<std::size_t>(v.back()); }, big);
  require(size.get() == big.size() + static_cast<std::size_t>(big.back()), "a 400 KB argument");
  // And a result bigger than one message.
  auto back = dstd::async(drust::on(drust::num_nodes() - 1), [] { return numbers(50000); });
  require(back.get() == numbers(50000), "a 200 KB result");
}

struct counter {
  long base;
  long add(long more) { return base += more; }
  long peek(long more) const { return base + more; }
};

struct counter_job {
  long base;
  void run(long more, dstd::promise<long> out, int expected_node) {
    base += more;
    out.set_value(drust::node_id() == expected_node ? base : -1);
  }
};

void member() {
  const int node = drust::num_nodes() - 1;
  auto job = dstd::make_unique<counter_job>(counter_job{40});
  dstd::promise<long> out;
  auto got = out.get_future();
  dstd::thread t(drust::on(node), &counter_job::run, std::move(job), 2L, std::move(out), node);
  t.join();
  require(got.get() == 42, "a member function through a unique_ptr on node " + std::to_string(node));

  auto shared = dstd::make_shared<const counter>(counter{10});
  auto peeked = dstd::async(drust::on(node), &counter::peek, shared, 5L);
  require(peeked.get() == 15, "a const member function through a shared_ptr");
  auto owned = dstd::make_unique<counter>(counter{1});
  auto added = dstd::async(drust::on(node), &counter::add, std::move(owned), 1L);
  require(added.get() == 2, "a member function through a unique_ptr, by async");
}

void relocate() {
  const int node = drust::num_nodes() - 1;
  auto owned = dstd::make_unique<long>(5);
  auto shared = dstd::make_shared<const long>(7);
  dstd::weak_ptr<const long> watch = shared;
  dstd::promise<long> out;
  auto got = out.get_future();
  dstd::thread t(drust::on(node), [p = std::move(owned), shared, out = std::move(out)]() mutable {
    *p += 1;  // a write: the object moves here
    out.set_value(*std::as_const(p) * 100 + *shared + drust::node_id() * 1000);
  });
  t.join();
  require(!owned, "the moved unique_ptr is empty on node 0");
  require(got.get() == 6 * 100 + 7 + node * 1000, "the lambda's handles on node " + std::to_string(node));
  shared.reset();
  // The lambda's copy was released on the other node, once: the object dies now.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (watch.lock() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  require(!watch.lock(), "the shared object is destroyed once every copy is gone");
}

// Runs on another node: waits (at most a minute) for a stop request, then reports whether it came.
void wait_for_stop(std::stop_token stop, dstd::promise<bool> report) {
  std::atomic<bool> callback_ran{false};
  std::stop_callback on_stop(stop, [&callback_ran] { callback_ran = true; });
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  // Wait for the callback, not just the flag: request_stop sets the flag before it runs callbacks.
  while (!callback_ran && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  report.set_value(stop.stop_requested() && callback_ran);
}

void jthread_stop() {
  const int node = drust::num_nodes() - 1;
  dstd::promise<bool> first, second, third;
  auto first_seen = first.get_future(), second_seen = second.get_future(), third_seen = third.get_future();
  {
    dstd::jthread j(drust::on(node), wait_for_stop, std::move(first));
    std::this_thread::sleep_for(50ms);
    require(j.request_stop(), "request_stop on node 0");
    j.join();
  }
  require(first_seen.get(), "request_stop reached the jthread on node " + std::to_string(node));
  // The destructor stops and joins too, and get_stop_source().request_stop() is forwarded.
  {
    dstd::jthread j(drust::on(node), wait_for_stop, std::move(second));
  }
  require(second_seen.get(), "the jthread's destructor stopped the remote thread");
  dstd::jthread k(drust::on(node), [](std::stop_token stop, dstd::promise<bool> report) {
    wait_for_stop(std::move(stop), std::move(report));
  }, std::move(third));
  k.get_stop_source().request_stop();
  k.join();
  require(third_seen.get(), "get_stop_source().request_stop() reached the remote thread (a lambda)");
}

struct parse_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void async_results() {
  for (int node = 1; node < drust::num_nodes(); ++node) {
    auto text = dstd::async(drust::on(node), [](int n) { return "from node " + std::to_string(drust::node_id()) + " " + std::to_string(n); }, node);
    auto values = dstd::async(drust::on(node), [] { return std::vector<std::string>{"a", std::to_string(drust::node_id())}; });
    require(text.get() == "from node " + std::to_string(node) + " " + std::to_string(node), "async string");
    require(values.get() == std::vector<std::string>{"a", std::to_string(node)}, "async vector");
  }
  const int node = drust::num_nodes() - 1;
  auto failing = dstd::async(drust::on(node), []() -> int { throw std::out_of_range("index 12 on purpose"); });
  try {
    failing.get();
    require(false, "the remote exception reached get");
  } catch (const std::out_of_range& error) {
    require(std::string(error.what()) == "index 12 on purpose", "std::out_of_range keeps its message");
  }
  auto system = dstd::async(drust::on(node), []() -> int {
    throw std::system_error(std::make_error_code(std::errc::permission_denied), "opening /etc/shadow");
  });
  try {
    system.get();
    require(false, "the remote std::system_error reached get");
  } catch (const std::system_error& error) {
    require(error.code() == std::errc::permission_denied, "std::system_error keeps its code");
    require(std::string(error.what()) == std::system_error(std::make_error_code(std::errc::permission_denied),
                                                           "opening /etc/shadow").what(),
            std::string("std::system_error keeps its message: ") + error.what());
  }
  auto custom = dstd::async(drust::on(node), [] { throw parse_error("bad token at 3"); });
  try {
    custom.get();
    require(false, "the custom exception reached get");
  } catch (const drust::remote_exception& error) {
    require(error.type_name().find("parse_error") != std::string::npos, "the type name: " + error.type_name());
    require(error.message() == "bad token at 3", "the message");
    require(error.node() == node, "the node");
    std::printf("remote exception: %s\n", error.what());
  }
  auto deferred = dstd::async(drust::on(node), std::launch::deferred, [] { return drust::node_id(); });
  require(deferred.get() == 0, "deferred runs on the caller");
  auto shared = dstd::async(drust::on(node), [] { return std::string("shared"); }).share();
  auto copy = shared;
  require(shared.get() == "shared" && copy.get() == "shared", "shared_future");
}

void promises() {
  std::vector<dstd::future<std::string>> futures;
  std::vector<dstd::thread> threads;
  for (int node = 1; node < drust::num_nodes(); ++node) {
    dstd::promise<std::string> p;
    futures.push_back(p.get_future());
    threads.emplace_back(drust::on(node), [](dstd::promise<std::string> q) {
      std::this_thread::sleep_for(20ms);
      q.set_value("fulfilled on node " + std::to_string(drust::node_id()));
    }, std::move(p));
  }
  for (int node = 1; node < drust::num_nodes(); ++node) {
    require(futures[static_cast<std::size_t>(node - 1)].get() == "fulfilled on node " + std::to_string(node), "promise");
  }
  for (auto& t : threads) t.join();
  // Broken on the far side, and an exception set there.
  dstd::promise<int> dropped;
  auto broken = dropped.get_future();
  dstd::thread drop(drust::on(1), [](dstd::promise<int>) {}, std::move(dropped));
  drop.join();
  try {
    broken.get();
    require(false, "broken_promise");
  } catch (const std::future_error& error) {
    require(error.code() == std::future_errc::broken_promise, "broken_promise's code");
  }
  dstd::promise<void> failed;
  auto failure = failed.get_future();
  dstd::thread fail(drust::on(1), [](dstd::promise<void> q) {
    q.set_exception(std::make_exception_ptr(std::invalid_argument("set there")));
  }, std::move(failed));
  fail.join();
  try {
    failure.get();
    require(false, "set_exception on node 1");
  } catch (const std::invalid_argument& error) {
    require(std::string(error.what()) == "set there", "set_exception's message");
  }
}

std::atomic<int> ran{0};

void capture() {
  const int node = drust::num_nodes() - 1;
  int local = 5;
  try {
    dstd::thread t(drust::on(node), [&local] { std::printf("ran remotely with %d\n", local); });
    t.join();
    require(false, "a reference capture was refused");
  } catch (const std::invalid_argument& error) {
    std::printf("refused: %s\n", error.what());
  }
  const std::string text(200, 'x');
  try {
    dstd::thread t(drust::on(node), [text] { std::printf("ran remotely with %zu\n", text.size()); });
    t.join();
    require(false, "a std::string capture was refused");
  } catch (const std::invalid_argument& error) {
    std::printf("refused: %s\n", error.what());
  }
  // The same lambdas on this node run as in std.
  dstd::thread here(drust::on(0), [&local] { ran = local; });
  here.join();
  require(ran == 5, "a reference capture works on the calling node");
  // A refused lambda gives back the handles it captured.
  auto owned = dstd::make_unique<int>(1);
  const auto live = drust::stats().live_objects;
  try {
    dstd::thread t(drust::on(node), [p = std::move(owned), &local] { static_cast<void>(local); });
    t.join();
  } catch (const std::invalid_argument&) {
  }
  require(drust::stats().live_objects == live - 1, "the refused lambda's unique_ptr was freed");
}

// `node` refuses the next `count` threads other nodes ask it to start (the thread layer's test hook).
void refuse_on(int node, int count) {
  dstd::thread(drust::on(node), [count] { drust::threads::refuse_thread_starts(count); }).join();
}

// Waits up to 10 s for this node's live objects to come back to `expected` (a remote node's frees
// arrive in batches).
bool live_objects_become(std::uint64_t expected) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (drust::stats().live_objects != expected) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

void refused() {
  const int node = drust::num_nodes() - 1;
  const std::string cause = "node " + std::to_string(node) + " cannot start a thread: refused by";
  refuse_on(node, 2);
  const auto live = drust::stats().live_objects;
  auto owned = dstd::make_unique<int>(7);
  std::atomic<bool> joined{false};
  try {
    dstd::thread t(drust::on(node), [p = std::move(owned)] { std::printf("ran remotely with %d\n", *p); });
    t.join();
    require(false, "join of a refused thread throws");
  } catch (const std::system_error& error) {
    std::printf("join: %s\n", error.what());
    require(error.code() == std::errc::resource_unavailable_try_again, "join's error code");
    require(std::string(error.what()).find("never ran") != std::string::npos &&
                std::string(error.what()).find(cause) != std::string::npos,
            "join names the cause");
    joined = true;
  }
  require(joined, "join reported the refusal");
  require(live_objects_become(live), "the refused closure's unique_ptr was freed");

  auto value = dstd::make_unique<int>(8);
  auto future = dstd::async(drust::on(node), [p = std::move(value)] { return *p; });
  try {
    std::printf("async gave %d\n", future.get());
    require(false, "get of a refused async throws");
  } catch (const std::system_error& error) {
    std::printf("async: %s\n", error.what());
    require(error.code() == std::errc::resource_unavailable_try_again, "async's error code");
    require(std::string(error.what()).find(cause) != std::string::npos, "async's error names the cause");
  }
  require(live_objects_become(live), "the refused async's unique_ptr was freed");

  // The node starts threads again once it has refused those two.
  require(dstd::async(drust::on(node), [] { return drust::node_id(); }).get() == node, "a thread runs after refusals");
}

void refused_detached() {
  const int node = drust::num_nodes() - 1;
  refuse_on(node, 1);
  dstd::thread(drust::on(node), [] { std::puts("the detached thread ran"); }).detach();
  std::this_thread::sleep_for(3s);
  std::puts("main went on after the lost thread");
}

struct job_failure : std::logic_error {
  using std::logic_error::logic_error;
};

void uncaught() {
  dstd::thread t(drust::on(drust::num_nodes() - 1), [] { throw job_failure("no more input"); });
  t.join();
  std::puts("main went on after the exception");
}

// True on main's thread: the copies of an argument that the spawn path destroys there are not
// the thread's.
thread_local bool on_main = false;

// An argument that, destroyed on the thread that ran its async (after the async's value is
// back), takes 300 ms and then says so.
struct slow_tail {
  bool live = true;  // false once moved from
  slow_tail() = default;
  slow_tail(slow_tail&& other) noexcept : live(std::exchange(other.live, false)) {}
  slow_tail& operator=(slow_tail&&) = delete;
  ~slow_tail() {
    if (on_main || !live) return;
    std::this_thread::sleep_for(300ms);
    std::printf("tail ended node=%d\n", drust::node_id());
    std::fflush(stdout);
  }
};

void async_tail() {
  auto here = dstd::async(drust::on(0), [](const slow_tail&) { return drust::node_id(); }, slow_tail{});
  auto there = dstd::async(drust::on(1), [](const slow_tail&) { return drust::node_id(); }, slow_tail{});
  require(here.get() == 0 && there.get() == 1, "async_tail: the asyncs ran where drust::on said");
  std::puts("main returns");
}

}  // namespace

template <>
struct drust::codec<slow_tail> {
  static void encode(drust::encoder&, const slow_tail&) {}
  static slow_tail decode(drust::decoder&) { return {}; }
};

int main(int argc, char** argv) {
  on_main = true;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "arguments") {
      arguments();
    } else if (mode == "member") {
      member();
    } else if (mode == "relocate") {
      relocate();
    } else if (mode == "jthread") {
      jthread_stop();
    } else if (mode == "async") {
      async_results();
    } else if (mode == "promise") {
      promises();
    } else if (mode == "capture") {
      capture();
    } else if (mode == "uncaught") {
      uncaught();
    } else if (mode == "refused") {
      refused();
    } else if (mode == "refused_detached") {
      refused_detached();
    } else if (mode == "async_tail") {
      async_tail();
    } else {
      std::fprintf(stderr, "usage: %s arguments|member|relocate|jthread|async|promise|capture|uncaught|refused|refused_detached|async_tail\n",
                   argv[0]);
      return 2;
    }
  } catch (const std::exception& error) {
    std::printf("result failed: %s\n", error.what());
    return 1;
  }
  if (failures == 0) {
    std::printf("result ok\n");
    return 0;
  }
  std::printf("result failed: %d checks\n", failures);
  return 1;
}
