// A spin-wait's pause: tells the core this thread is waiting for another (x86 `pause`, Arm
// `yield`), which saves power and lets a sibling hyper-thread run.
#pragma once

namespace drust {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace drust
