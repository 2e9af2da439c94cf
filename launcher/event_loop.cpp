#include "event_loop.hpp"

#include <poll.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace drust::launcher {

void event_loop::watch(int fd, callback on_readable) {
  watched_[fd] = watched_fd{next_generation_++, ::std::move(on_readable)};
}

void event_loop::unwatch(int fd) { watched_.erase(fd); }

event_loop::timer_id event_loop::add_timer(clock::duration delay, callback on_expiry) {
  timer_id id = next_timer_++;
  timers_[id] = timer{clock::now() + delay, ::std::move(on_expiry)};
  return id;
}

void event_loop::cancel_timer(timer_id id) { timers_.erase(id); }

void event_loop::run_once(clock::duration longest_wait) {
  clock::time_point wake = clock::now() + longest_wait;
  for (const auto& [id, pending] : timers_) wake = ::std::min(wake, pending.expiry);
  auto wait = ::std::chrono::ceil<::std::chrono::milliseconds>(wake - clock::now()).count();

  ::std::vector<pollfd> waiting;
  ::std::vector<::std::uint64_t> generations;
  for (const auto& [fd, entry] : watched_) {
    waiting.push_back({fd, POLLIN, 0});
    generations.push_back(entry.generation);
  }
  int ready = ::poll(waiting.data(), waiting.size(), static_cast<int>(::std::max<long long>(wait, 0)));

  if (ready > 0) {
    for (::std::size_t i = 0; i < waiting.size(); ++i) {
      if (waiting[i].revents == 0) continue;
      // An earlier callback of this round may have unwatched the fd, or closed it and watched a
      // new one with the same number: only the fd poll saw gets its callback.
      auto entry = watched_.find(waiting[i].fd);
      if (entry == watched_.end() || entry->second.generation != generations[i]) continue;
      callback on_readable = entry->second.on_readable;  // a copy: the callback may unwatch itself
      on_readable();
    }
  }

  clock::time_point now = clock::now();
  ::std::vector<timer_id> due;
  for (const auto& [id, pending] : timers_) {
    if (pending.expiry <= now) due.push_back(id);
  }
  for (timer_id id : due) {
    auto pending = timers_.find(id);
    if (pending == timers_.end()) continue;  // cancelled by an earlier timer of this round
    callback on_expiry = ::std::move(pending->second.on_expiry);
    timers_.erase(pending);
    on_expiry();
  }
}

}  // namespace drust::launcher
