#!/usr/bin/env bash
# A real two-host run of `drun --cluster` over ssh and tcp;ofi_rxm. The second "host" is a network
# namespace joined to this one by a veth pair, with its own sshd; drun reaches it with a real ssh
# client (a wrapper first in PATH adds a throwaway key and config). A namespace shares the file
# system and the process ids with this machine, so the same program path is valid on both hosts.
#
#   1. remote_thread_app: node 0 here starts a thread on node 1 there; exit 0, another pid.
#   2. sleeper_app: node 1's process is SIGKILLed in the namespace; drun must exit non-zero within
#      5 s naming node 1, and leave no process of the job behind, here or there.
#   3. sleeper_app with node 0 in the namespace (it reads drun's stdin, after the cookie line): while
#      the job runs, no process's command line on the machine holds the job's cookie (read from
#      node 1's environment here), the remote node has it in its environment all the same, drun's
#      --verbose output never shows it, and the job succeeds.
#
# Needs root, iproute2 and openssh-server/-client (./drust setup installs them). It fails, rather
# than skips, when it cannot build its second host. Environment: DRUN, REMOTE_THREAD_APP,
# SLEEPER_APP (meson sets them). Last line: `multihost: N passed, M failed`.

# Functions run only through trap, check and none_within, which shellcheck takes for unreachable.
# shellcheck disable=SC2317
set -euo pipefail

passed=0
failed=0
pass() { passed=$((passed + 1)); printf 'multihost: ok: %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'multihost: FAIL: %s\n' "$*"; }
check() {  # check DESCRIPTION COMMAND...
  local what="$1"
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
finish() {
  printf 'multihost: %d passed, %d failed\n' "$passed" "$failed"
  if ((failed > 0 || passed == 0)); then exit 1; fi
  exit 0
}
# A problem with the test machine, not with drust: still a failure (CI runs this as root).
give_up() {
  fail "$*"
  finish
}

drun="${DRUN:-}"
thread_app="${REMOTE_THREAD_APP:-}"
sleeper_app="${SLEEPER_APP:-}"
for program in "$drun" "$thread_app" "$sleeper_app"; do
  [[ -n "$program" && -x "$program" ]] ||
    give_up "set DRUN, REMOTE_THREAD_APP and SLEEPER_APP to the built programs (meson test does); got '$program'"
done
((EUID == 0)) || give_up "must run as root (it creates a network namespace and starts sshd)"
for tool in /usr/sbin/sshd /usr/bin/ssh /usr/bin/ssh-keygen; do
  [[ -x "$tool" ]] || give_up "$tool is missing: install openssh-server and openssh-client (./drust setup)"
done
command -v ip >/dev/null || give_up "ip is missing: install iproute2 (./drust setup)"

ns="drust-mh-$$"
veth_here="dmh$$h"
veth_there="dmh$$n"
tmp=""
sshd_pid=""
drun_pid=""
jobs_seen=()

cleanup() {
  local pid job
  set +e
  # timeout passes SIGTERM on to drun, which stops its nodes; timeout's -k 5 bounds the wait.
  if [[ -n "$drun_pid" ]]; then kill -TERM "$drun_pid" 2>/dev/null; wait "$drun_pid" 2>/dev/null; fi
  if [[ -n "$sshd_pid" ]]; then kill -TERM "$sshd_pid" 2>/dev/null; wait "$sshd_pid" 2>/dev/null; fi
  # Everything left in the namespace was started by this script (through its sshd).
  if ip netns list 2>/dev/null | grep -qw "$ns"; then
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns delete "$ns" 2>/dev/null
  fi
  ip link delete "$veth_here" 2>/dev/null
  for job in "${jobs_seen[@]}"; do rm -f /dev/shm/drust-"$job"-*; done
  [[ -n "$tmp" ]] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the second host --------------------------------------------------------------------------
# 10.213.x.0/30 with an x no interface of this machine uses yet.
x=""
for _ in 1 2 3 4 5 6 7 8; do
  candidate=$(((RANDOM + $$) % 250 + 1))
  if ! ip -4 -o addr show | grep -q " 10\.213\.$candidate\."; then x="$candidate"; break; fi
done
[[ -n "$x" ]] || give_up "found no free 10.213.x.0/30 subnet"
here="10.213.$x.1"
there="10.213.$x.2"

tmp="$(mktemp -d /tmp/drust-multihost.XXXXXX)"
ip netns add "$ns" 2>"$tmp/ip.err" ||
  give_up "cannot create network namespace $ns: $(cat "$tmp/ip.err") (needs root and a kernel with netns)"
{
  ip link add "$veth_here" type veth peer name "$veth_there" &&
    ip link set "$veth_there" netns "$ns" &&
    ip addr add "$here/30" dev "$veth_here" &&
    ip link set "$veth_here" up &&
    ip -n "$ns" addr add "$there/30" dev "$veth_there" &&
    ip -n "$ns" link set "$veth_there" up &&
    ip -n "$ns" link set lo up
} 2>"$tmp/ip.err" || give_up "cannot set up the veth pair $veth_here/$veth_there: $(cat "$tmp/ip.err")"

ssh-keygen -q -t ed25519 -N '' -f "$tmp/host_key" -C drust-multihost-host >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$tmp/client_key" -C drust-multihost-client >/dev/null
cp "$tmp/client_key.pub" "$tmp/authorized_keys"
cat >"$tmp/sshd_config" <<EOF
ListenAddress $there:22
HostKey $tmp/host_key
PidFile $tmp/sshd.pid
AuthorizedKeysFile $tmp/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
LogLevel VERBOSE
EOF
cat >"$tmp/ssh_config" <<EOF
Host *
  User root
  IdentityFile $tmp/client_key
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  BatchMode yes
  ConnectTimeout 5
  LogLevel ERROR
EOF
mkdir "$tmp/bin"
printf '#!/bin/sh\nexec /usr/bin/ssh -F %s "$@"\n' "$tmp/ssh_config" >"$tmp/bin/ssh"
chmod 755 "$tmp/bin/ssh"
export PATH="$tmp/bin:$PATH"

# sshd's privilege-separation directory (systemd-tmpfiles makes it on a booted system).
mkdir -p /run/sshd
/usr/sbin/sshd -t -f "$tmp/sshd_config" 2>"$tmp/sshd.log" || give_up "sshd rejects its config: $(cat "$tmp/sshd.log")"
ip netns exec "$ns" /usr/sbin/sshd -D -e -f "$tmp/sshd_config" 2>"$tmp/sshd.log" &
sshd_pid=$!
reachable=0
for _ in $(seq 50); do
  if ssh "$there" true 2>"$tmp/ssh.err"; then reachable=1; break; fi
  sleep 0.2
done
((reachable)) || give_up "cannot ssh to $there in namespace $ns: $(cat "$tmp/ssh.err"); sshd said: $(cat "$tmp/sshd.log")"
printf 'multihost: host 2 is namespace %s at %s (sshd pid %s); this host is %s\n' "$ns" "$there" "$sshd_pid" "$here"

cat >"$tmp/cluster.json" <<EOF
{
  // node 0 here (drun starts it directly), node 1 in the namespace (through ssh).
  "provider": "tcp;ofi_rxm",
  "controller": "$here:0",
  "nodes": [
    {"name": "here", "host": "localhost", "heap": "64MiB"},
    {"name": "there", "host": "$there", "heap": "64MiB"}
  ]
}
EOF

show_run() {  # show_run NAME: drun's output, for a failure's diagnosis
  printf -- '--- %s: stdout\n' "$1"
  cat "$tmp/$1.out"
  printf -- '--- %s: stderr\n' "$1"
  cat "$tmp/$1.err"
  printf -- '---\n'
}
job_of() { sed -n 's/^drun: job \([0-9a-f]*\)$/\1/p' "$tmp/$1.err" | head -n 1; }
# Processes of a job, anywhere (a network namespace shares the process ids): a node has the job id
# in its environment, an ssh client that starts one has it in its command line.
job_processes() {
  local job="$1" proc
  for proc in /proc/[0-9]*; do
    if grep -qa "DRUST_JOB=$job" "$proc/environ" "$proc/cmdline" 2>/dev/null; then printf '%s\n' "${proc#/proc/}"; fi
  done
}
# Processes in the namespace other than the listening sshd.
namespace_leftovers() {
  local pid
  for pid in $(ip netns pids "$ns"); do
    [[ "$pid" == "$sshd_pid" ]] || printf '%s\n' "$pid"
  done
}
none_within() {  # none_within SECONDS FUNCTION [ARGS...]: FUNCTION prints nothing within SECONDS
  local deadline=$((SECONDS + $1)) left
  shift
  while :; do
    left="$("$@")"
    [[ -z "$left" ]] && return 0
    if ((SECONDS >= deadline)); then
      printf 'multihost: still running: %s\n' "$(for pid in $left; do ps -o pid=,comm= -p "$pid"; done | tr '\n' ' ')"
      return 1
    fi
    sleep 0.2
  done
}

# --- 1: a thread of node 0 runs on node 1, in the namespace -----------------------------------
mkdir "$tmp/markers"
sshd_accepted_before="$(grep -c 'Accepted publickey' "$tmp/sshd.log" || true)"
rc=0
timeout -k 5 60 "$drun" --verbose --cluster "$tmp/cluster.json" "$thread_app" "$tmp/markers" \
  >"$tmp/thread.out" 2>"$tmp/thread.err" || rc=$?
job="$(job_of thread)"
[[ -n "$job" ]] && jobs_seen+=("$job")
show_run thread
main_pid="$(sed -n 's/^main node=0 pid=\([0-9]*\) nodes=2$/\1/p' "$tmp/thread.out")"
thread_pid="$(sed -n 's/^thread node=1 pid=\([0-9]*\) expected=1 .*/\1/p' "$tmp/thread.out")"
check "remote thread: drun exits 0 (got $rc)" test "$rc" -eq 0
check "remote thread: node 0 ran main in a 2-node job" test -n "$main_pid"
check "remote thread: the thread ran on node 1" test -n "$thread_pid"
check "remote thread: in another process (pid ${thread_pid:-?} vs ${main_pid:-?})" \
  test -n "$thread_pid" -a -n "$main_pid" -a "$thread_pid" != "$main_pid"
check "remote thread: join waited for the thread's marker" grep -qx 'joined node=1 marker_from=1' "$tmp/thread.out"
check "remote thread: result failures=0" grep -qx 'result failures=0' "$tmp/thread.out"
check "remote thread: the controller listened on $here" grep -q "^drun: controller $here:[0-9]*$" "$tmp/thread.err"
check "remote thread: node 1 joined from $there (the namespace)" \
  grep -q "^drun: node 1 (pid ${thread_pid:-none}) said hello from $there:" "$tmp/thread.err"
# One ssh login asks for the host's cores (the file gives none), another starts node 1.
check "remote thread: drun logged in to the namespace's sshd for the cores and for node 1" \
  test "$(grep -c 'Accepted publickey' "$tmp/sshd.log" || true)" -ge "$((sshd_accepted_before + 2))"
check "remote thread: no shared-memory file of the job is left" \
  test -z "$(find /dev/shm -maxdepth 1 -name "drust-${job:-none}-*" -print -quit)"

# --- 2: node 1 is killed in the namespace: the job ends within 5 s, naming it -------------------
started_at=""
timeout -k 5 60 "$drun" --verbose --cluster "$tmp/cluster.json" "$sleeper_app" 60000 \
  >"$tmp/kill.out" 2>"$tmp/kill.err" &
drun_pid=$!
victim=""
for _ in $(seq 150); do  # node 0 runs main once every node is ready
  if grep -q '^sleeper .*node 0 of 2' "$tmp/kill.out"; then
    for pid in $(ip netns pids "$ns"); do
      if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == sleeper_app ]]; then victim="$pid"; fi
    done
    break
  fi
  kill -0 "$drun_pid" 2>/dev/null || break
  sleep 0.2
done
job="$(job_of kill)"
[[ -n "$job" ]] && jobs_seen+=("$job")
rc=0
if [[ -n "$victim" ]]; then
  printf 'multihost: killing node 1 (pid %s in %s)\n' "$victim" "$ns"
  started_at="$(date +%s%N)"
  kill -KILL "$victim"
  wait "$drun_pid" || rc=$?
  elapsed_ms=$((($(date +%s%N) - started_at) / 1000000))
else
  kill -TERM "$drun_pid" 2>/dev/null || true
  wait "$drun_pid" || rc=$?
  elapsed_ms=-1
fi
drun_pid=""
show_run kill
check "node killed: node 1's process was found in the namespace" test -n "$victim"
if [[ -n "$victim" ]]; then
  check "node killed: drun exits non-zero (got $rc)" test "$rc" -ne 0 -a "$rc" -ne 124 -a "$rc" -ne 137
  check "node killed: drun exits within 5 s (took $elapsed_ms ms)" test "$elapsed_ms" -lt 5000
  check "node killed: drun names node 1 and its pid" grep -q "^drun: node 1 (host $there, pid $victim)" "$tmp/kill.err"
  check "node killed: no process left in the namespace" none_within 3 namespace_leftovers
  check "node killed: no process of the job left anywhere" none_within 3 job_processes "${job:-none}"
  check "node killed: no shared-memory file of the job is left" \
    test -z "$(find /dev/shm -maxdepth 1 -name "drust-${job:-none}-*" -print -quit)"
fi

# --- 3: the cookie travels on ssh's stdin: no command line shows it ------------------------------
cat >"$tmp/cluster-remote-0.json" <<EOF
{
  // node 0 in the namespace (through ssh, reading drun's stdin after the cookie), node 1 here.
  "provider": "tcp;ofi_rxm",
  "controller": "$here:0",
  "nodes": [
    {"name": "there", "host": "$there", "heap": "64MiB", "cores": 1},
    {"name": "here", "host": "localhost", "heap": "64MiB", "cores": 1}
  ]
}
EOF
printf 'input for node 0\n' >"$tmp/cookie.in"
timeout -k 5 60 "$drun" --verbose --cluster "$tmp/cluster-remote-0.json" "$sleeper_app" 8000 \
  <"$tmp/cookie.in" >"$tmp/cookie.out" 2>"$tmp/cookie.err" &
drun_pid=$!
local_node=""
for _ in $(seq 150); do
  if grep -q 'every node is ready' "$tmp/cookie.err"; then
    local_node="$(sed -n 's/^drun: node 1 pid \([0-9]*\)$/\1/p' "$tmp/cookie.err")"
    break
  fi
  kill -0 "$drun_pid" 2>/dev/null || break
  sleep 0.2
done
# /proc/PID/environ keeps the environment the node was started with, before the runtime dropped
# DRUST_COOKIE from its own.
cookie=""
[[ -n "$local_node" ]] && cookie="$(tr '\0' '\n' <"/proc/$local_node/environ" 2>/dev/null | sed -n 's/^DRUST_COOKIE=//p')"
showing=""
remote_has_it=0
if [[ -n "$cookie" ]]; then
  for proc in /proc/[0-9]*; do
    if grep -qaF "$cookie" "$proc/cmdline" 2>/dev/null; then showing+="${proc#/proc/} "; fi
  done
  for pid in $(ip netns pids "$ns"); do
    if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == sleeper_app ]] &&
      tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "DRUST_COOKIE=$cookie"; then
      remote_has_it=1
    fi
  done
fi
rc=0
wait "$drun_pid" || rc=$?
drun_pid=""
job="$(job_of cookie)"
[[ -n "$job" ]] && jobs_seen+=("$job")
show_run cookie
check "cookie: node 1 here has a 128-bit cookie in its environment" grep -qE '^[0-9a-f]{32}$' <<<"$cookie"
check "cookie: no command line on the machine holds it (${showing:-none})" test -n "$cookie" -a -z "$showing"
check "cookie: node 0 in the namespace got it on ssh's stdin" test "$remote_has_it" -eq 1
check "cookie: drun exits 0 (got $rc)" test "$rc" -eq 0
check "cookie: node 0 ran main in the namespace" grep -q '^sleeper .*node 0 of 2' "$tmp/cookie.out"
check "cookie: drun --verbose never prints it" \
  test -n "$cookie" -a -z "$(grep -hF "${cookie:-none}" "$tmp/cookie.out" "$tmp/cookie.err")"

finish
