#include "node_launcher.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <thread>

#include "absl/strings/str_join.h"
#include "child_setup.hpp"
#include "hosts.hpp"
#include "shell_quote.hpp"

extern char** environ;

namespace drust::launcher {

namespace {

// Everything the child needs, built before fork: between fork and exec only async-signal-safe
// calls are allowed, so no allocation happens there.
struct exec_request {
  ::std::string path;                    // what execv/execvp is given
  bool search_path = false;              // execvp (for "ssh")
  ::std::vector<::std::string> arguments;
  ::std::vector<::std::string> environment;
  bool keep_stdin = false;               // drun's stdin goes on to the child (after secret_line, if any)
  ::std::string secret_line;             // when not empty: the child's stdin is a pipe that starts with it
  bool tag_output = false;
  node_confinement confinement;
  ::std::vector<int> cpus;  // the node's CPU share, or empty (planned_node::cpus)
};

// What the child reports through its error pipe when it cannot go on: the step and its errno.
enum class child_step : int { exec, cgroup, network_namespace, cpu_binding };
struct child_failure {
  child_step step = child_step::exec;
  int error = 0;
};

::std::vector<::std::string> child_environment(
    const ::std::vector<::std::pair<::std::string, ::std::string>>& overrides) {
  ::std::vector<::std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    ::std::string_view assignment = *entry;
    ::std::string_view name = assignment.substr(0, assignment.find('='));
    bool overridden = false;
    for (const auto& [key, value] : overrides) overridden = overridden || name == key;
    if (!overridden) environment.emplace_back(assignment);
  }
  for (const auto& [key, value] : overrides) environment.push_back(key + "=" + value);
  return environment;
}

::std::vector<char*> c_strings(::std::vector<::std::string>& words) {
  ::std::vector<char*> pointers;
  for (::std::string& word : words) pointers.push_back(word.data());
  pointers.push_back(nullptr);
  return pointers;
}

void close_pair(int (&fds)[2]) {
  for (int& fd : fds) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
}

// Writes all of `bytes` to `fd`; false when the reader is gone (EPIPE: drun ignores SIGPIPE).
bool write_all(int fd, ::std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    bytes.remove_prefix(static_cast<::std::size_t>(written));
  }
  return true;
}

// Copies drun's stdin into `pipe_fd` until its end (or until the reader is gone), then closes the
// pipe so that the remote program sees the end of its input too. A thread rather than drun's event
// loop: the loop belongs to the job supervisor, and this copy needs no coordination with it. It
// is detached because a read of drun's stdin cannot be interrupted; should the job end first, the
// thread ends with drun.
void forward_drun_stdin(int pipe_fd) {
  ::std::thread([pipe_fd] {
    ::std::array<char, 65536> buffer;
    while (true) {
      ssize_t got = ::read(STDIN_FILENO, buffer.data(), buffer.size());
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      if (!write_all(pipe_fd, ::std::string_view(buffer.data(), static_cast<::std::size_t>(got)))) break;
    }
    ::close(pipe_fd);
  }).detach();
}

absl::StatusOr<started_node> fork_and_exec(exec_request request, const ::std::string& shown_program) {
  ::std::vector<char*> argv = c_strings(request.arguments);
  ::std::vector<char*> envp = c_strings(request.environment);

  int output_pipe[2] = {-1, -1};
  int errors_pipe[2] = {-1, -1};
  int exec_error_pipe[2] = {-1, -1};  // the child writes a child_failure here; CLOEXEC closes it on exec
  if (request.tag_output && (::pipe2(output_pipe, O_CLOEXEC) != 0 || ::pipe2(errors_pipe, O_CLOEXEC) != 0)) {
    close_pair(output_pipe);
    close_pair(errors_pipe);
    return errno_status("cannot create a pipe for a node's output");
  }
  if (::pipe2(exec_error_pipe, O_CLOEXEC) != 0) {
    close_pair(output_pipe);
    close_pair(errors_pipe);
    return errno_status("cannot create a pipe");
  }
  // The secret line goes into the pipe now: it is far below the pipe's capacity, so the write
  // cannot block, and without drun's stdin to follow the pipe ends right after it.
  int input_pipe[2] = {-1, -1};
  if (!request.secret_line.empty()) {
    if (::pipe2(input_pipe, O_CLOEXEC) != 0 || !write_all(input_pipe[1], request.secret_line)) {
      int error = errno;
      close_pair(output_pipe);
      close_pair(errors_pipe);
      close_pair(exec_error_pipe);
      close_pair(input_pipe);
      return errno_status("cannot create a pipe for a node's input", error);
    }
    if (!request.keep_stdin) {
      ::close(input_pipe[1]);
      input_pipe[1] = -1;
    }
  }

  const char* cgroup_procs_file =
      request.confinement.cgroup_procs_file.empty() ? nullptr : request.confinement.cgroup_procs_file.c_str();
  const int namespace_fd = request.confinement.network_namespace_fd;
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  for (int cpu : request.cpus) {
    if (cpu >= 0 && cpu < CPU_SETSIZE) CPU_SET(cpu, &cpus);
  }
  const bool bind_cpus = !request.cpus.empty();
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    auto give_up = [&](child_step step) {
      child_failure failure{step, errno};
      ssize_t ignored = ::write(exec_error_pipe[1], &failure, sizeof failure);
      (void)ignored;
      ::_exit(127);
    };
    ::setpgid(0, 0);
    reset_signals_in_child();
    if (!die_with_parent_in_child(parent)) ::_exit(127);
    // Here, in the child, rather than by the parent after fork: the program must never run outside
    // its cgroup or namespace, not even for the moment before the parent would have moved it.
    if (cgroup_procs_file != nullptr && !enter_cgroup_in_child(cgroup_procs_file)) give_up(child_step::cgroup);
    if (namespace_fd >= 0 && !enter_network_namespace_in_child(namespace_fd)) give_up(child_step::network_namespace);
    // Threads the program starts inherit the binding.
    if (bind_cpus && ::sched_setaffinity(0, sizeof cpus, &cpus) != 0) give_up(child_step::cpu_binding);
    if (input_pipe[0] >= 0) {
      ::dup2(input_pipe[0], STDIN_FILENO);
    } else if (!request.keep_stdin) {
      int nothing = ::open("/dev/null", O_RDONLY);
      if (nothing >= 0) ::dup2(nothing, STDIN_FILENO);
    }
    if (request.tag_output) {
      ::dup2(output_pipe[1], STDOUT_FILENO);
      ::dup2(errors_pipe[1], STDERR_FILENO);
    }
    if (request.search_path) {
      ::execvpe(request.path.c_str(), argv.data(), envp.data());
    } else {
      ::execve(request.path.c_str(), argv.data(), envp.data());
    }
    give_up(child_step::exec);
  }
  int fork_error = errno;
  ::close(exec_error_pipe[1]);
  if (output_pipe[1] >= 0) ::close(output_pipe[1]);
  if (errors_pipe[1] >= 0) ::close(errors_pipe[1]);
  if (input_pipe[0] >= 0) ::close(input_pipe[0]);
  if (pid < 0) {
    ::close(exec_error_pipe[0]);
    if (output_pipe[0] >= 0) ::close(output_pipe[0]);
    if (errors_pipe[0] >= 0) ::close(errors_pipe[0]);
    if (input_pipe[1] >= 0) ::close(input_pipe[1]);
    return errno_status("fork", fork_error);
  }
  ::setpgid(pid, pid);  // also here, so that a signal sent right after fork reaches the group

  child_failure failure;
  ssize_t got;
  do got = ::read(exec_error_pipe[0], &failure, sizeof failure);
  while (got < 0 && errno == EINTR);
  ::close(exec_error_pipe[0]);
  if (got == sizeof failure) {
    ::waitpid(pid, nullptr, 0);
    if (input_pipe[1] >= 0) ::close(input_pipe[1]);
    if (output_pipe[0] >= 0) ::close(output_pipe[0]);
    if (errors_pipe[0] >= 0) ::close(errors_pipe[0]);
    const char* reason = ::std::strerror(failure.error);
    switch (failure.step) {
      case child_step::cgroup:
        return absl::UnavailableError(
            absl::StrCat("cannot enter the cgroup of ", request.confinement.cgroup_procs_file, ": ", reason));
      case child_step::network_namespace:
        return absl::UnavailableError(
            absl::StrCat("cannot enter the network namespace ", request.confinement.network_namespace, ": ", reason));
      case child_step::cpu_binding:
        return absl::UnavailableError(absl::StrCat("cannot bind the node to CPUs ", absl::StrJoin(request.cpus, ","),
                                                   ": ", reason, "; drun --cpu-bind none leaves the nodes where the kernel puts them"));
      case child_step::exec:
        break;
    }
    return absl::NotFoundError(absl::StrCat("cannot run '", shown_program, "': ", reason));
  }

  if (input_pipe[1] >= 0) forward_drun_stdin(input_pipe[1]);

  started_node started;
  started.pid = pid;
  started.output_fd = output_pipe[0];
  started.errors_fd = errors_pipe[0];
  for (int fd : {started.output_fd, started.errors_fd}) {
    if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  return started;
}

}  // namespace

bool reads_drun_stdin(const planned_node& node) { return node.id == 0 && ::isatty(STDIN_FILENO) == 0; }

::std::vector<::std::pair<::std::string, ::std::string>> node_environment(const job_plan& plan,
                                                                         const planned_node& node,
                                                                         const ::std::string& controller_address) {
  ::std::vector<::std::pair<::std::string, ::std::string>> environment = {
      {"DRUST_JOB", plan.job_id},
      {cookie_variable, plan.cookie},
      {"DRUST_NODE", ::std::to_string(node.id)},
      {"DRUST_NODES", ::std::to_string(plan.nodes.size())},
      {"DRUST_CONTROLLER", controller_address},
      {"DRUST_PROVIDER", plan.provider},
      {"DRUST_PARTITION_SIZE", ::std::to_string(plan.partition_size)},
      {"DRUST_HEAP_SIZE", ::std::to_string(node.heap_size)},
      {"DRUST_CORES", ::std::to_string(node.cores)},
      {"DRUST_CACHE_SIZE", ::std::to_string(node.cache_size)},
      {"DRUST_HEAP_PRESSURE", ::std::to_string(node.heap_pressure)},
      {"DRUST_FABRIC_HOST", node.fabric_host},
  };
  // Runtime settings the user gave drun travel to every node, remote ones included (the node
  // checks their values).
  for (const char* setting : {"DRUST_PROGRESS", "DRUST_MIRROR", "DRUST_MUTEX_LEASES", "DRUST_HUGE_PAGES"}) {
    if (const char* value = ::getenv(setting); value != nullptr && *value != '\0') environment.emplace_back(setting, value);
  }
  return environment;
}

::std::vector<::std::string> remote_node_command(const job_plan& plan, const planned_node& node,
                                                 const ::std::string& controller_address) {
  ::std::vector<::std::string> remote_words = {"env"};
  for (const auto& [key, value] : node_environment(plan, node, controller_address)) {
    if (key == cookie_variable) continue;  // it comes on stdin: see remote_cookie_line
    remote_words.push_back(key + "=" + value);
  }
  remote_words.push_back(node.program);
  remote_words.insert(remote_words.end(), plan.arguments.begin(), plan.arguments.end());

  // The remote shell takes the cookie from the first line of its stdin, never from its command
  // line, which `ps` shows to every user of both hosts. `read` stops at the newline (a shell reads
  // a pipe byte by byte), so what follows is the program's own input.
  ::std::vector<::std::string> command = ssh_command(node.host);
  command.push_back(absl::StrCat("IFS= read -r ", cookie_variable, " && export ", cookie_variable, " && exec ",
                                 shell_command(remote_words)));
  return command;
}

::std::string remote_cookie_line(const job_plan& plan) { return plan.cookie + "\n"; }

absl::StatusOr<started_node> start_node(const job_plan& plan, const planned_node& node,
                                        const ::std::string& controller_address,
                                        const node_confinement& confinement) {
  exec_request request;
  request.confinement = confinement;
  request.keep_stdin = reads_drun_stdin(node);
  request.tag_output = plan.tag_output;
  if (node.local) {
    request.cpus = node.cpus;
    request.path = node.program;
    request.arguments.push_back(node.program_as_written);
    request.arguments.insert(request.arguments.end(), plan.arguments.begin(), plan.arguments.end());
    request.environment = child_environment(node_environment(plan, node, controller_address));
    return fork_and_exec(::std::move(request), node.program_as_written);
  }
  request.search_path = true;
  request.arguments = remote_node_command(plan, node, controller_address);
  request.secret_line = remote_cookie_line(plan);
  request.path = request.arguments.front();
  // ssh and the remote shell need nothing of the job: only drun's own environment.
  request.environment = child_environment({});
  return fork_and_exec(::std::move(request), "ssh");
}

}  // namespace drust::launcher
