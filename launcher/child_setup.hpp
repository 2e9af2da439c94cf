// What every process drun forks does before exec, so that it starts as if from a shell.
//
// drun blocks the signals it reads through a signalfd and ignores SIGPIPE; a child inherits both,
// and a program started with SIGTERM blocked could not be stopped. Only async-signal-safe calls:
// these run between fork and exec.
#pragma once

#include <sys/types.h>

namespace drust::launcher {

// Default dispositions for every signal and an empty signal mask.
void reset_signals_in_child() noexcept;

// Asks the kernel to SIGKILL this process when `parent` (drun) dies, closing the race where drun
// died before the request was made. Returns false when the parent is already gone.
bool die_with_parent_in_child(pid_t parent) noexcept;

}  // namespace drust::launcher
