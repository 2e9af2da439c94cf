#include "job.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "controller.hpp"
#include "cpu_quota.hpp"
#include "event_loop.hpp"
#include "job_lock.hpp"
#include "node_launcher.hpp"
#include "output_tagger.hpp"
#include "shared_memory_cleanup.hpp"
#include "signal_name.hpp"
#include "simulated_network.hpp"
#include "stats_table.hpp"

namespace drust::launcher {

namespace {

using ::std::chrono::milliseconds;
using ::std::chrono::seconds;

constexpr auto grace_before_kill = seconds(2);          // after shutdown or SIGTERM
constexpr auto grace_after_disconnect = seconds(2);     // a node that drops its connection must exit by then
constexpr auto hello_timeout = seconds(5);              // for every connection to the controller
constexpr auto output_drain_time = seconds(1);          // for output still in pipes after the last exit
constexpr auto remote_cleanup_time = seconds(3);
constexpr auto stats_wait = seconds(2);                 // --stats: for stats frames still on their way
// A node reported a peer gone: drun waits this long to hear of that peer's exit itself (a killed
// process with much memory takes a while to be reaped) before it names the peer on the report alone.
constexpr auto reported_failure_wait = seconds(2);

void write_to_stderr(::std::string_view rest) {
  while (!rest.empty()) {
    ssize_t written = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;
    rest.remove_prefix(static_cast<::std::size_t>(written));
  }
}

void print_line(const ::std::string& line) { write_to_stderr("drun: " + line + "\n"); }

// drun's exit status for a process that ended with `wait_status`: its status, or 128 + signal.
int exit_status_of(int wait_status) {
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return WEXITSTATUS(wait_status);
}

// "was killed by SIGKILL" or "exited with status 3".
::std::string how_it_ended(int wait_status) {
  if (WIFSIGNALED(wait_status)) return "was killed by " + signal_name(WTERMSIG(wait_status));
  return absl::StrCat("exited with status ", WEXITSTATUS(wait_status));
}

class job_supervisor {
 public:
  explicit job_supervisor(const job_plan& plan) : plan_(plan), nodes_(plan.nodes.size()) {}
  ~job_supervisor();

  int run();

 private:
  struct node_process {
    pid_t pid = -1;                   // the node, or its ssh client; also its process group
    bool running = false;
    int wait_status = 0;
    ::std::unique_ptr<output_tagger> output;
    ::std::unique_ptr<output_tagger> errors;
    event_loop::timer_id disconnect_timer = 0;
  };

  bool start();
  void remove_what_dead_jobs_left();
  bool set_up_simulation();
  void remove_simulation();
  node_confinement confinement_of(int node) const;
  void start_nodes();
  void read_signals();
  void reap_children();
  void on_node_exit(int node, int wait_status);
  void on_interrupt(int signal_number);
  void on_bootstrap_timeout();
  void on_executables_differ(int node, const ::std::string& build_id, const ::std::string& node0_build_id);
  void on_node_disconnected(int node);
  void on_node_silent(int node, milliseconds silent_for);
  void on_peer_lost(int reporter, int failed_node, const ::std::string& reason);
  void on_reported_failure_unconfirmed();
  bool is_consequence_of_reported_failure(int node_id, int wait_status);
  void print_consequences();

  // The three ways a job ends early or normally; each starts the 2 s countdown to SIGKILL.
  void shut_down();                                   // node 0 exited: the others may finish cleanly
  void stop_after_failure(int failed_node, const ::std::string& reason);
  void abort_job();                                   // drun itself gives up (timeout, refused node)

  void signal_running_nodes(int signal_number);
  void arm_kill_timer();
  void finish();
  void wait_for_stats();
  void print_stats() const;
  bool any_node_running() const;
  ::std::string describe(int node) const;
  ::std::string exited_before_joining_hint(int node, int wait_status) const;
  void note(const ::std::string& line) const {
    if (plan_.verbose) print_line(line);
  }

  job_plan plan_;  // a copy: with --netns, the addresses are known only once the network exists
  event_loop loop_;
  // The simulated cluster (docs/simulation.md): the lock says this job is alive while they exist.
  ::std::optional<job_lock> lock_;
  ::std::optional<cpu_quota_cgroups> cgroups_;
  ::std::unique_ptr<simulated_network> network_;
  ::std::unique_ptr<controller> controller_;
  ::std::vector<node_process> nodes_;
  int signal_fd_ = -1;
  sigset_t handled_signals_{};
  sigset_t previous_mask_{};
  bool tearing_down_ = false;
  event_loop::timer_id kill_timer_ = 0;
  event_loop::timer_id bootstrap_timer_ = 0;
  int signals_received_ = 0;
  int interrupt_signal_ = 0;            // the first SIGINT/SIGTERM/SIGHUP
  bool interrupt_decided_status_ = false;
  ::std::optional<int> exit_status_;    // the first cause decides
  // The first node a peer reported gone (peer_lost) while drun had not yet heard of it: until that
  // node's exit is seen (or reported_failure_wait passes), it is the job's first cause, and the
  // exits of other nodes meanwhile are its consequences, told after it.
  struct reported_failure {
    int node = -1;
    int reporter = -1;
    ::std::string reason;
    event_loop::timer_id timer = 0;
  };
  ::std::optional<reported_failure> reported_failure_;
  ::std::vector<::std::string> consequences_;  // lines about those exits, printed after the cause
};

job_supervisor::~job_supervisor() {
  if (signal_fd_ >= 0) ::close(signal_fd_);
  ::sigprocmask(SIG_SETMASK, &previous_mask_, nullptr);
}

int job_supervisor::run() {
  if (start()) {
    while (any_node_running()) {
      loop_.run_once(seconds(1));
      reap_children();  // also here: a coalesced SIGCHLD must not leave an exit unnoticed
    }
  }
  finish();
  return exit_status_.value_or(0);
}

bool job_supervisor::start() {
  // Signals are read from a signalfd in the loop, so they must be blocked from now on; the
  // children unblock them before exec.
  ::sigemptyset(&handled_signals_);
  for (int signal_number : {SIGCHLD, SIGINT, SIGTERM, SIGHUP}) ::sigaddset(&handled_signals_, signal_number);
  ::sigprocmask(SIG_BLOCK, &handled_signals_, &previous_mask_);
  ::signal(SIGPIPE, SIG_IGN);
  signal_fd_ = ::signalfd(-1, &handled_signals_, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) {
    print_line(::std::string(errno_status("cannot create a signalfd").message()));
    exit_status_ = 1;
    return false;
  }
  loop_.watch(signal_fd_, [this] { read_signals(); });

  note(absl::StrCat("job ", plan_.job_id));
  remove_what_dead_jobs_left();
  if (!set_up_simulation()) {
    exit_status_ = 1;
    return false;
  }

  controller::settings settings;
  settings.cookie = plan_.cookie;
  settings.node_count = static_cast<int>(plan_.nodes.size());
  settings.listen = plan_.controller;
  settings.advertised_host = plan_.controller_advertised_host;
  settings.hello_timeout = hello_timeout;
  settings.silence_limit = plan_.hang_timeout;
  controller::observer events;
  events.executables_differ = [this](int node, const ::std::string& build_id, const ::std::string& node0_build_id) {
    on_executables_differ(node, build_id, node0_build_id);
  };
  events.job_started = [this] {
    loop_.cancel_timer(bootstrap_timer_);
    note("every node is ready: the job has started");
  };
  events.node_disconnected = [this](int node) { on_node_disconnected(node); };
  events.node_silent = [this](int node, milliseconds silent_for) { on_node_silent(node, silent_for); };
  events.peer_lost = [this](int reporter, int failed_node, const ::std::string& reason) {
    on_peer_lost(reporter, failed_node, reason);
  };
  events.log = [this](const ::std::string& line) { note(line); };
  auto started = controller::start(loop_, ::std::move(settings), ::std::move(events));
  if (!started.ok()) {
    print_line(::std::string(started.status().message()));
    exit_status_ = 1;
    return false;
  }
  controller_ = ::std::move(*started);

  note(absl::StrCat("controller ", controller_->address()));
  note(absl::StrCat("provider ", plan_.provider));
  bootstrap_timer_ = loop_.add_timer(plan_.bootstrap_timeout, [this] { on_bootstrap_timeout(); });
  start_nodes();
  return true;
}

void job_supervisor::remove_what_dead_jobs_left() {
  // A drun killed by SIGKILL could not remove its job's cgroups, network and /dev/shm files; every
  // drun removes those of dead jobs as it starts (best effort: a drun without root cannot remove
  // root's cgroups or network, and need not).
  // Their /dev/shm files go too: known dead now, such a job's files can be removed safely.
  ::std::vector<::std::string> dead_jobs;
  auto remove_files_of = [&](const removed_leftover& removed) {
    if (::std::find(dead_jobs.begin(), dead_jobs.end(), removed.job_id) != dead_jobs.end()) return;
    dead_jobs.push_back(removed.job_id);
    remove_local_shared_memory(removed.job_id);
  };
  for (const removed_leftover& removed : remove_stale_cpu_cgroups()) {
    note("removed the cgroup of a dead job: " + removed.what);
    remove_files_of(removed);
  }
  for (const removed_leftover& removed : remove_stale_networks()) {
    note("removed the network of a dead job: " + removed.what);
    remove_files_of(removed);
  }
  // A job without cgroups or network leaves only files: once none of its processes is left and no
  // process maps them, they are debris (remove_unused_shared_memory).
  for (const ::std::string& job : remove_unused_shared_memory()) {
    note(absl::StrCat("removed the files of a dead job: /dev/shm/", shared_memory_prefix(job), "*"));
  }
}

bool job_supervisor::set_up_simulation() {
  if (!plan_.cpu_quota && !plan_.separate_networks) return true;
  auto locked = job_lock::acquire(plan_.job_id);
  if (!locked.ok()) {
    print_line(::std::string(locked.status().message()));
    return false;
  }
  lock_ = ::std::move(*locked);
  const int node_count = static_cast<int>(plan_.nodes.size());
  if (plan_.cpu_quota) {
    auto hierarchy = find_cpu_hierarchy();
    if (!hierarchy.ok()) {
      print_line(::std::string(hierarchy.status().message()));
      return false;
    }
    auto created = cpu_quota_cgroups::create(*hierarchy, plan_.job_id, node_count, *plan_.cpu_quota);
    if (!created.ok()) {
      print_line(absl::StrCat("--cpu-quota: ", created.status().message()));
      return false;
    }
    cgroups_ = ::std::move(*created);
    note(absl::StrCat("cpu quota: ", *plan_.cpu_quota, " cores per node, cgroup v", hierarchy->version, " ",
                      cgroups_->job_directory(), "/node-<id>"));
  }
  if (plan_.separate_networks) {
    auto created = simulated_network::create({plan_.job_id, node_count, plan_.net_delay});
    if (!created.ok()) {
      print_line(::std::string(created.status().message()));
      return false;
    }
    network_ = ::std::move(*created);
    plan_.controller.host = network_->bridge_address();
    plan_.controller_advertised_host = network_->bridge_address();
    for (planned_node& node : plan_.nodes) node.fabric_host = network_->node_address(node.id);
    note(absl::StrCat("network: bridge ", network_->bridge_name(), " at ", network_->bridge_address(),
                      plan_.net_delay ? absl::StrCat(", netem delay ", format_net_delay(*plan_.net_delay), " on each node's eth0")
                                      : ::std::string()));
    for (const planned_node& node : plan_.nodes) {
      note(absl::StrCat("network: node ", node.id, " in namespace ", network_->namespace_name(node.id), " at ",
                        network_->node_address(node.id), " (eth0), link ", network_->link_name(node.id)));
    }
  }
  return true;
}

void job_supervisor::remove_simulation() {
  if (cgroups_) {
    ::std::string directory = cgroups_->job_directory();
    if (absl::Status removed = cgroups_->remove(); removed.ok()) {
      note("removed the cgroup " + directory);
    } else {
      print_line(::std::string(removed.message()));
    }
    cgroups_.reset();
  }
  if (network_) {
    if (absl::Status removed = network_->remove(); removed.ok()) {
      note("removed the network: bridge " + network_->bridge_name() + ", the namespaces and veth pairs");
    } else {
      print_line(::std::string(removed.message()));
    }
    network_.reset();
  }
  lock_.reset();  // only now: until the resources are gone, no other drun may take them for a dead job's
}

node_confinement job_supervisor::confinement_of(int node) const {
  node_confinement confinement;
  if (cgroups_) confinement.cgroup_procs_file = cgroups_->procs_file(node);
  if (network_) {
    confinement.network_namespace_fd = network_->namespace_fd(node);
    confinement.network_namespace = network_->namespace_name(node);
  }
  return confinement;
}

void job_supervisor::start_nodes() {
  for (const planned_node& planned : plan_.nodes) {
    auto started = start_node(plan_, planned, controller_->address(), confinement_of(planned.id));
    if (!started.ok()) {
      print_line(absl::StrCat("cannot start node ", planned.id, " on ", planned.host, ": ", started.status().message()));
      exit_status_ = absl::IsNotFound(started.status()) ? 127 : 1;
      abort_job();
      return;
    }
    node_process& node = nodes_[static_cast<::std::size_t>(planned.id)];
    node.pid = started->pid;
    node.running = true;
    if (started->output_fd >= 0) {
      ::std::string prefix = absl::StrCat("[n", planned.id, "] ");
      node.output = ::std::make_unique<output_tagger>(loop_, started->output_fd, STDOUT_FILENO, prefix);
      node.errors = ::std::make_unique<output_tagger>(loop_, started->errors_fd, STDERR_FILENO, prefix);
    }
    note(absl::StrCat("node ", planned.id, " pid ", node.pid,
                      planned.local ? ::std::string() : absl::StrCat(" (ssh to ", planned.host, ")"),
                      planned.cpus.empty() ? ::std::string() : absl::StrCat(" on CPUs ", absl::StrJoin(planned.cpus, ","))));
  }
}

void job_supervisor::read_signals() {
  signalfd_siginfo info;
  while (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    int signal_number = static_cast<int>(info.ssi_signo);
    if (signal_number == SIGCHLD) {
      reap_children();
    } else {
      on_interrupt(signal_number);
    }
  }
}

void job_supervisor::reap_children() {
  ::std::vector<::std::pair<int, int>> exits;
  for (::std::size_t i = 0; i < nodes_.size(); ++i) {
    node_process& node = nodes_[i];
    if (!node.running) continue;
    int wait_status = 0;
    pid_t done;
    do done = ::waitpid(node.pid, &wait_status, WNOHANG);
    while (done < 0 && errno == EINTR);
    if (done == node.pid) exits.emplace_back(static_cast<int>(i), wait_status);
  }
  if (exits.empty()) return;
  // When several nodes ended at once, the first cause goes first: a node that a peer reported gone
  // (what the nodes wrote before they exited is read now), then nodes other than 0, since a
  // peer's death is the likelier cause of node 0's.
  if (controller_ && !tearing_down_) controller_->read_pending();
  auto rank = [this](const ::std::pair<int, int>& exit) {
    if (reported_failure_ && reported_failure_->node == exit.first) return 0;
    return exit.first != 0 ? 1 : 2;
  };
  ::std::stable_sort(exits.begin(), exits.end(), [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
  for (const auto& [node, wait_status] : exits) on_node_exit(node, wait_status);
}

void job_supervisor::on_node_exit(int node_id, int wait_status) {
  node_process& node = nodes_[static_cast<::std::size_t>(node_id)];
  node.running = false;
  node.wait_status = wait_status;
  if (node.disconnect_timer != 0) loop_.cancel_timer(node.disconnect_timer);

  if (interrupt_signal_ != 0 || tearing_down_) note(absl::StrCat(describe(node_id), " ", how_it_ended(wait_status)));
  if (interrupt_signal_ != 0 && !tearing_down_) {
    // The user stopped the job: deaths are expected, reported once at the end as "interrupted".
    if (node_id == 0) {
      shut_down();
    } else {
      controller_->send_peer_failed(node_id, how_it_ended(wait_status));
    }
    return;
  }
  if (tearing_down_) return;  // the job is ending; this exit is its consequence
  if (is_consequence_of_reported_failure(node_id, wait_status)) return;
  if (reported_failure_) loop_.cancel_timer(reported_failure_->timer);

  const bool joined = controller_->said_hello(node_id);
  if (node_id == 0) {
    if (!joined && WIFEXITED(wait_status)) {
      print_line(absl::StrCat(describe(0), " ", how_it_ended(wait_status), " before joining the job: ",
                              exited_before_joining_hint(0, wait_status)));
      exit_status_ = WEXITSTATUS(wait_status) == 0 ? 1 : WEXITSTATUS(wait_status);
    } else {
      if (WIFSIGNALED(wait_status)) print_line(absl::StrCat(describe(0), " ", how_it_ended(wait_status)));
      exit_status_ = exit_status_of(wait_status);
    }
    print_consequences();
    if (WIFSIGNALED(wait_status)) {
      // Node 0 died: its peers hear that it failed, so that an operation towards it fails with
      // that reason, not with "this node's part of the job is over".
      stop_after_failure(0, how_it_ended(wait_status));
    } else {
      shut_down();
    }
    return;
  }

  ::std::string what = how_it_ended(wait_status);
  if (!joined) {
    what += " before joining the job";
    if (WIFEXITED(wait_status)) what += ": " + exited_before_joining_hint(node_id, wait_status);
  } else if (WIFEXITED(wait_status)) {
    what += " before the job ended";
  }
  print_line(absl::StrCat(describe(node_id), " ", what, "; stopping the job"));
  print_consequences();
  exit_status_ = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0 ? 1 : exit_status_of(wait_status);
  stop_after_failure(node_id, how_it_ended(wait_status));
}

bool job_supervisor::is_consequence_of_reported_failure(int node_id, int wait_status) {
  if (!reported_failure_ || reported_failure_->node == node_id) return false;
  // Node 0 returning 0 is the job's normal end, whatever a peer saw meanwhile.
  if (node_id == 0 && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) return false;
  const int failed = reported_failure_->node;
  if (!nodes_[static_cast<::std::size_t>(failed)].running) return false;
  // A node that a peer saw go is ending, and this node ended after that report: most likely of it
  // (an error from an operation towards the failed node that its program did not catch). The
  // failed node is named when drun hears of its exit; this one is told after it.
  consequences_.push_back(absl::StrCat(describe(node_id), " ", how_it_ended(wait_status), " after node ", failed,
                                       " failed: a consequence, not the cause"));
  note(absl::StrCat(describe(node_id), " ", how_it_ended(wait_status), "; waiting to hear of node ", failed,
                    "'s end, which node ", reported_failure_->reporter, " reported first"));
  return true;
}

void job_supervisor::on_peer_lost(int reporter, int failed_node, const ::std::string& reason) {
  // Once the job is ending, the nodes' reports only echo what drun told them.
  if (tearing_down_ || interrupt_signal_ != 0 || reported_failure_) return;
  if (!nodes_[static_cast<::std::size_t>(failed_node)].running) return;
  note(absl::StrCat("node ", reporter, " reports that node ", failed_node, " failed: ", reason));
  reported_failure_ = reported_failure{failed_node, reporter, reason, 0};
  reported_failure_->timer = loop_.add_timer(reported_failure_wait, [this] { on_reported_failure_unconfirmed(); });
}

void job_supervisor::on_reported_failure_unconfirmed() {
  reported_failure_->timer = 0;
  const int failed = reported_failure_->node;
  node_process& node = nodes_[static_cast<::std::size_t>(failed)];
  if (tearing_down_ || interrupt_signal_ != 0 || !node.running) return;
  // The node still runs as far as drun can tell, but a peer could not reach it: it is as good as
  // gone for the job (fail-stop), and it goes now, as a hung node does.
  print_line(absl::StrCat(describe(failed), " failed as node ", reported_failure_->reporter, " saw it: ",
                          reported_failure_->reason, "; stopping the job"));
  print_consequences();
  exit_status_ = 1;
  if (node.pid > 0) ::kill(-node.pid, SIGKILL);
  stop_after_failure(failed, reported_failure_->reason);
}

void job_supervisor::print_consequences() {
  for (const ::std::string& line : consequences_) print_line(line);
  consequences_.clear();
}

void job_supervisor::on_interrupt(int signal_number) {
  ++signals_received_;
  if (signals_received_ > 1) {
    note(absl::StrCat("second signal (", signal_name(signal_number), "): killing every node"));
    signal_running_nodes(SIGKILL);
    return;
  }
  interrupt_signal_ = signal_number;
  if (!exit_status_) {
    exit_status_ = 128 + signal_number;
    interrupt_decided_status_ = true;
  }
  note(absl::StrCat("forwarding ", signal_name(signal_number), " to every node"));
  signal_running_nodes(signal_number);
  // A node that does not end on the signal (it ignores it, or hangs in its exit) is killed after
  // the grace period, so that drun never waits for it.
  arm_kill_timer();
}

void job_supervisor::on_bootstrap_timeout() {
  bootstrap_timer_ = 0;
  if (tearing_down_ || interrupt_signal_ != 0 || controller_->started()) return;
  auto silent = controller_->nodes_without_hello();
  auto list = [&](const ::std::vector<int>& ids) {
    ::std::string text;
    for (::std::size_t i = 0; i < ids.size(); ++i) {
      if (i > 0) text += i + 1 == ids.size() ? " and " : ", ";
      text += describe(ids[i]);
    }
    return text;
  };
  auto timeout = ::std::chrono::duration_cast<milliseconds>(plan_.bootstrap_timeout).count();
  ::std::string waited = timeout % 1000 == 0 ? absl::StrCat(timeout / 1000, " s") : absl::StrCat(timeout, " ms");
  if (!silent.empty()) {
    print_line(absl::StrCat("the job did not start within ", waited, ": ", list(silent),
                            " never said hello to the controller at ",
                            controller_->address(), "; check that every host can reach that address (firewall, the "
                            "cluster file's \"controller\") or raise --bootstrap-timeout"));
  } else {
    auto waiting = controller_->nodes_not_ready();
    print_line(absl::StrCat("the job did not start within ", waited, ": ", list(waiting),
                            " never became ready (the nodes could not reach each other through provider ",
                            plan_.provider, "); check the provider, or raise --bootstrap-timeout"));
  }
  exit_status_ = 1;
  abort_job();
}

void job_supervisor::on_executables_differ(int node, const ::std::string& build_id,
                                           const ::std::string& node0_build_id) {
  if (tearing_down_ || interrupt_signal_ != 0) return;
  ::std::string message = absl::StrCat(describe(node), " runs a different executable (build id ", build_id,
                                       ") than node 0 (build id ", node0_build_id,
                                       "): build once and copy the same binary to every host");
  print_line(message);
  exit_status_ = 1;
  controller_->refuse(node, message);
  abort_job();
}

void job_supervisor::on_node_disconnected(int node_id) {
  node_process& node = nodes_[static_cast<::std::size_t>(node_id)];
  if (tearing_down_ || interrupt_signal_ != 0 || !node.running) return;
  // Node 0 closes its connection after `finish` and may run atexit handlers for a while yet.
  if (node_id == 0 && controller_->finish_status()) return;
  // A node closes its connection as it exits, just before drun hears of the exit: give it time.
  node.disconnect_timer = loop_.add_timer(grace_after_disconnect, [this, node_id] {
    node_process& late = nodes_[static_cast<::std::size_t>(node_id)];
    late.disconnect_timer = 0;
    if (tearing_down_ || interrupt_signal_ != 0 || !late.running) return;
    print_line(absl::StrCat(describe(node_id), " closed its control connection but kept running; stopping the job"));
    exit_status_ = 1;
    stop_after_failure(node_id, "lost its control connection");
  });
}

void job_supervisor::on_node_silent(int node_id, milliseconds silent_for) {
  node_process& node = nodes_[static_cast<::std::size_t>(node_id)];
  if (tearing_down_ || interrupt_signal_ != 0 || !node.running) return;
  const ::std::string silence = absl::StrFormat("%.1f s", static_cast<double>(silent_for.count()) / 1000);
  print_line(absl::StrCat(describe(node_id), " has sent nothing for ", silence,
                          ": it is hung (stopped, deadlocked, or cut off from drun's controller); stopping the job "
                          "(--hang-timeout sets how long drun waits)"));
  exit_status_ = 1;
  // A stopped process acts on SIGTERM only once continued, and a hung one may never: it goes now.
  if (node.pid > 0) ::kill(-node.pid, SIGKILL);
  stop_after_failure(node_id, absl::StrCat("stopped responding (nothing heard for ", silence, ")"));
}

void job_supervisor::shut_down() {
  tearing_down_ = true;
  controller_->send_shutdown();
  // A node that has not joined cannot hear `shutdown`.
  for (::std::size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].running && !controller_->connected(static_cast<int>(i))) ::kill(-nodes_[i].pid, SIGTERM);
  }
  arm_kill_timer();
}

void job_supervisor::stop_after_failure(int failed_node, const ::std::string& reason) {
  tearing_down_ = true;
  controller_->send_peer_failed(failed_node, reason);
  signal_running_nodes(SIGTERM);
  arm_kill_timer();
}

void job_supervisor::abort_job() {
  tearing_down_ = true;
  if (controller_) controller_->send_shutdown();
  signal_running_nodes(SIGTERM);
  arm_kill_timer();
}

void job_supervisor::signal_running_nodes(int signal_number) {
  for (const node_process& node : nodes_) {
    if (node.running) ::kill(-node.pid, signal_number);
  }
}

void job_supervisor::arm_kill_timer() {
  if (kill_timer_ != 0) return;
  kill_timer_ = loop_.add_timer(grace_before_kill, [this] {
    for (::std::size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].running) note(absl::StrCat(describe(static_cast<int>(i)), " is still running: SIGKILL"));
    }
    signal_running_nodes(SIGKILL);
  });
}

void job_supervisor::finish() {
  // What the nodes started and left behind in their process groups goes with them.
  for (::std::size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].pid > 0 && plan_.nodes[i].local) ::kill(-nodes_[i].pid, SIGKILL);
  }
  if (plan_.stats) wait_for_stats();
  auto drain_deadline = event_loop::clock::now() + output_drain_time;
  auto output_pending = [this] {
    return ::std::any_of(nodes_.begin(), nodes_.end(), [](const node_process& node) {
      return (node.output && !node.output->finished()) || (node.errors && !node.errors->finished());
    });
  };
  while (output_pending() && event_loop::clock::now() < drain_deadline) loop_.run_once(milliseconds(50));
  for (node_process& node : nodes_) {
    node.output.reset();
    node.errors.reset();
  }
  if (plan_.stats) print_stats();
  controller_.reset();

  int removed = remove_local_shared_memory(plan_.job_id);
  if (removed > 0) note(absl::StrCat("removed ", removed, " leftover file(s) /dev/shm/", shared_memory_prefix(plan_.job_id), "*"));
  ::std::vector<::std::string> remote_hosts;
  for (const planned_node& node : plan_.nodes) {
    if (!node.local && ::std::find(remote_hosts.begin(), remote_hosts.end(), node.host) == remote_hosts.end()) {
      remote_hosts.push_back(node.host);
    }
  }
  remove_remote_shared_memory(plan_.job_id, remote_hosts, remote_cleanup_time);
  remove_simulation();

  if (interrupt_decided_status_) print_line("interrupted by " + signal_name(interrupt_signal_));
}

void job_supervisor::wait_for_stats() {
  // Every node sends its stats frame before it exits, so what is still to come is already in the
  // sockets; a node that died without sending one closes its connection. The bound is for a
  // remote node whose connection outlives its ssh client.
  if (!controller_ || !controller_->started()) return;  // no node got as far as main: no stats
  auto deadline = event_loop::clock::now() + stats_wait;
  while (controller_->awaiting_stats() && event_loop::clock::now() < deadline) loop_.run_once(milliseconds(50));
}

void job_supervisor::print_stats() const {
  if (!controller_ || !controller_->started()) return;
  ::std::vector<::std::optional<nlohmann::json>> stats(nodes_.size());
  for (::std::size_t node = 0; node < nodes_.size(); ++node) {
    if (const nlohmann::json* counters = controller_->stats_of(static_cast<int>(node))) stats[node] = *counters;
  }
  write_to_stderr(format_stats_table(stats));
}

bool job_supervisor::any_node_running() const {
  return ::std::any_of(nodes_.begin(), nodes_.end(), [](const node_process& node) { return node.running; });
}

::std::string job_supervisor::describe(int node_id) const {
  const planned_node& planned = plan_.nodes[static_cast<::std::size_t>(node_id)];
  const node_process& node = nodes_[static_cast<::std::size_t>(node_id)];
  if (planned.local) return absl::StrCat("node ", node_id, " (host ", planned.host, ", pid ", node.pid, ")");
  if (const node_hello* hello = controller_ ? controller_->hello_of(node_id) : nullptr; hello && hello->pid > 0) {
    return absl::StrCat("node ", node_id, " (host ", planned.host, ", pid ", hello->pid, ")");
  }
  return absl::StrCat("node ", node_id, " (host ", planned.host, ", ssh pid ", node.pid, ")");
}

::std::string job_supervisor::exited_before_joining_hint(int node_id, int wait_status) const {
  const planned_node& planned = plan_.nodes[static_cast<::std::size_t>(node_id)];
  int status = WEXITSTATUS(wait_status);
  if (!planned.local && status == 255) {
    return absl::StrCat("ssh to ", planned.host, " failed; check that `ssh -o BatchMode=yes ", planned.host,
                        " true` works without a password");
  }
  if (!planned.local && status == 127) {
    return absl::StrCat(planned.host, " cannot run ", planned.program,
                        "; copy the program there (same path) or set the node's \"program\" in the cluster file");
  }
  if (status == 0) return absl::StrCat("is ", planned.program_as_written, " linked with drust (pkg-config drust)?");
  return "see its own messages above";
}

}  // namespace

int run_job(const job_plan& plan) {
  job_supervisor supervisor(plan);
  return supervisor.run();
}

}  // namespace drust::launcher
