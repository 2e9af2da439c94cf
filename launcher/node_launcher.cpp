#include "node_launcher.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

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
  bool keep_stdin = false;
  bool tag_output = false;
  node_confinement confinement;
};

// What the child reports through its error pipe when it cannot go on: the step and its errno.
enum class child_step : int { exec, cgroup, network_namespace };
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

  const char* cgroup_procs_file =
      request.confinement.cgroup_procs_file.empty() ? nullptr : request.confinement.cgroup_procs_file.c_str();
  const int namespace_fd = request.confinement.network_namespace_fd;
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
    if (!request.keep_stdin) {
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
  if (pid < 0) {
    ::close(exec_error_pipe[0]);
    if (output_pipe[0] >= 0) ::close(output_pipe[0]);
    if (errors_pipe[0] >= 0) ::close(errors_pipe[0]);
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
      case child_step::exec:
        break;
    }
    return absl::NotFoundError(absl::StrCat("cannot run '", shown_program, "': ", reason));
  }

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
      {"DRUST_COOKIE", plan.cookie},
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
  for (const char* setting : {"DRUST_PROGRESS"}) {
    if (const char* value = ::getenv(setting); value != nullptr && *value != '\0') environment.emplace_back(setting, value);
  }
  return environment;
}

::std::vector<::std::string> remote_node_command(const job_plan& plan, const planned_node& node,
                                                 const ::std::string& controller_address) {
  ::std::vector<::std::string> remote_words = {"env"};
  for (const auto& [key, value] : node_environment(plan, node, controller_address)) {
    remote_words.push_back(key + "=" + value);
  }
  remote_words.push_back(node.program);
  remote_words.insert(remote_words.end(), plan.arguments.begin(), plan.arguments.end());

  ::std::vector<::std::string> command = ssh_command(node.host);
  // -n: ssh must not read drun's stdin for a node that does not run main.
  if (!reads_drun_stdin(node)) command.insert(command.begin() + 1, "-n");
  command.push_back(shell_command(remote_words));
  return command;
}

absl::StatusOr<started_node> start_node(const job_plan& plan, const planned_node& node,
                                        const ::std::string& controller_address,
                                        const node_confinement& confinement) {
  exec_request request;
  request.confinement = confinement;
  request.keep_stdin = reads_drun_stdin(node);
  request.tag_output = plan.tag_output;
  if (node.local) {
    request.path = node.program;
    request.arguments.push_back(node.program_as_written);
    request.arguments.insert(request.arguments.end(), plan.arguments.begin(), plan.arguments.end());
    request.environment = child_environment(node_environment(plan, node, controller_address));
    return fork_and_exec(::std::move(request), node.program_as_written);
  }
  request.search_path = true;
  request.arguments = remote_node_command(plan, node, controller_address);
  request.path = request.arguments.front();
  // ssh and the remote shell need nothing of the job: only drun's own environment.
  request.environment = child_environment({});
  return fork_and_exec(::std::move(request), "ssh");
}

}  // namespace drust::launcher
