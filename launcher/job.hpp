// Running a planned job to its end: the controller, the node processes, signals, failures and the
// cleanup afterwards. What drun does between "the input is good" and its exit status.
//
// The rules (docs/launcher.md has them for users):
// - node 0 exits: the others get `shutdown`, 2 s, then SIGKILL; drun's status is node 0's;
// - another node exits first: one line naming it, `peer_failed` and SIGTERM to the others, SIGKILL
//   after 2 s, drun's status is that node's (128 + signal, its status, or 1);
// - SIGINT, SIGTERM, SIGHUP: forwarded to every node; a second one SIGKILLs them all;
// - at the end no child is left and the job's /dev/shm files are gone;
// - with --stats, the nodes' counters (their `stats` frames, waited for at most 2 s after the last
//   exit) are printed as a table on stderr, after the nodes' own output.
//
//   auto plan = make_job_plan(options, cluster, default_host_facts());
//   return run_job(*plan);
#pragma once

#include "job_plan.hpp"

namespace drust::launcher {

// Returns drun's exit status. Prints drun's messages ("drun: ...") on stderr.
int run_job(const job_plan& plan);

}  // namespace drust::launcher
