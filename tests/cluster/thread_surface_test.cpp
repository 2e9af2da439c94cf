// The thread surface across real nodes under drun (tests/cluster/apps/thread_surface_app.cpp):
// arguments of every serialized kind, member functions through handles, relocated lambdas,
// jthread stop across nodes, async and promises, closures refused before they run, an uncaught
// remote exception ending the job, and threads a node refuses to start. Each run has a hard timeout (run_cluster_app).
#include <doctest/doctest.h>

#include <string>

#include "cluster_app.hpp"

namespace {

drust_test::process_result run(int nodes, const std::string& mode, const std::string& provider = "shm") {
  return drust_test::run_cluster_app("THREAD_SURFACE_APP", "thread_surface_app", nodes, provider, {mode});
}

// The job ended on its own (no timeout), with a failing status, before main went on, and its stderr
// has `cause`.
void check_job_ended(const drust_test::process_result& result, const std::string& cause) {
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE_FALSE(result.timed_out);
  CHECK(result.exit_code != 0);
  CHECK(result.out.find("main went on") == std::string::npos);
  CHECK(result.err.find(cause) != std::string::npos);
}

}  // namespace

TEST_CASE("string, vector, tuple and big arguments reach other nodes equal (2 and 4 nodes, shm)") {
  drust_test::check_ok(run(2, "arguments"));
  drust_test::check_ok(run(4, "arguments"));
}

TEST_CASE("arguments over tcp;ofi_rxm") { drust_test::check_ok(run(2, "arguments", "tcp;ofi_rxm")); }

TEST_CASE("member function pointers run through a unique_ptr and a shared_ptr on another node") {
  drust_test::check_ok(run(2, "member"));
}

TEST_CASE("a lambda's captured handles are relocated with their ownership and counted once") {
  drust_test::check_ok(run(2, "relocate"));
  drust_test::check_ok(run(4, "relocate"));
}

TEST_CASE("jthread::request_stop on node 0 reaches the thread on another node") {
  drust_test::check_ok(run(2, "jthread"));
  drust_test::check_ok(run(4, "jthread"));
}

TEST_CASE("async on other nodes returns strings and vectors; a remote exception (std::system_error with its code) reaches get with type and message") {
  const auto result = run(4, "async");
  drust_test::check_ok(result);
  CHECK(result.out.find("parse_error thrown on node 3: bad token at 3") != std::string::npos);
}

TEST_CASE("a promise shipped to another node is fulfilled there (or broken, or failed)") {
  drust_test::check_ok(run(4, "promise"));
}

TEST_CASE("a lambda capturing a reference or a std::string is refused before it runs remotely") {
  const auto result = run(2, "capture");
  drust_test::check_ok(result);
  CHECK(result.out.find("ran remotely") == std::string::npos);
  CHECK(drust_test::count_of(result.out, "refused: drust: the thread's callable .* cannot run on node 1: its word at "
                                         "byte offset \\d+ holds 0x[0-9a-f]+, an address in") == 2);
  CHECK(result.out.find("capture by value") != std::string::npos);
}

TEST_CASE("an uncaught exception in a remote thread ends the job, naming the node, the type and what()") {
  const auto result = run(2, "uncaught");
  check_job_ended(result, "drust: node 1: a thread started by node 0 ended with an uncaught exception of type");
  CHECK(result.err.find("job_failure: no more input") != std::string::npos);
}

TEST_CASE("a thread or async the other node refuses to start: join and get say why, the closure's objects are freed") {
  const auto result = run(2, "refused");
  drust_test::check_ok(result);
  CHECK(result.out.find("ran remotely") == std::string::npos);
  CHECK(result.out.find("async gave") == std::string::npos);
  CHECK(drust_test::search(result.out, "join: drust::std::thread::join: the thread never ran: node 1 cannot start a thread"));
}

TEST_CASE("a detached thread the other node refuses to start ends the job, naming the cause") {
  const auto result = run(2, "refused_detached");
  check_job_ended(result, "drust: node 0: a detached drust::std::thread never ran: node 1 cannot start a thread");
  CHECK(result.out.find("the detached thread ran") == std::string::npos);
}

TEST_CASE("main returns only once its asyncs' threads have ended, here and on another node") {
  // Their values are back at once; destroying their arguments takes 300 ms more (std::async's
  // thread completes before its future lets go). Before, the job ended without those ends, or a
  // local thread ending during exit() aborted on the destroyed thread table.
  const auto result = run(2, "async_tail");
  drust_test::check_ok(result);
  INFO("stdout:\n" << result.out);
  CHECK(result.out.find("main returns") != std::string::npos);
  CHECK(drust_test::count_of(result.out, "tail ended node=0") == 1);
  CHECK(drust_test::count_of(result.out, "tail ended node=1") == 1);
}
