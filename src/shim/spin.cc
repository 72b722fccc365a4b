// Spin-before-sleep for a thread whose ports are busy.
//
// Waking a sleeping thread (eventfd write, then epoll_wait returning on the other core, then the
// eventfd read) costs several system calls and often a context switch: more than the rest of a
// small-message round trip. So a thread that delivered port messages in its last event-loop turn,
// and would now block in epoll, first spins for a short while. Meanwhile senders only queue the
// port on the thread's ready list and set a flag (no system call); the spinner delivers those
// ports itself. Any other event on the loop (I/O, timers due, a uv_async) ends the spin at once.
// A thread with no recent messages never spins. CORRAL_SPIN_US sets the budget (0: off).
//
// Two threads of a ping-pong may be queued on one CPU (the scheduler puts a woken thread beside
// its waker, which then spins): the spinner then holds the CPU its partner waits for, the whole
// budget, and so does the partner after it. On 2 cores that was a steady 110 µs round trip
// where 6 µs is the norm (sched_switch traces: both threads on one CPU, the other idle). The
// sign of it: the message comes just after a spin has given up. Then the next spins yield the
// CPU each time they poll (a sched_yield with no one else queued returns at once), for a while,
// and for a while again each time a yield found someone queued.
#include "shim.h"

#include <poll.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>

namespace corral {

namespace {

constexpr uint64_t kDefaultSpinNs = 50 * 1000;
// Checking the loop's epoll fd is a system call: done once per this many flag checks. (An IPC
// reply is seen only this way: 16 made it wait ~1 µs more in the spin than 4 did, measured on
// Node 26 over the first 2,000 trips of fresh children, 11.3 -> 10.75 µs, medians of 6x5.)
constexpr int kFlagChecksPerPoll = 4;
// After an IPC message: a process's reply over a unix socket, which wakes the peer beside its
// writer (expecting the writer to sleep), so a spin held while the peer waits for this CPU
// costs the whole budget: kept short.
constexpr uint64_t kIpcSpinNs = 20 * 1000;
// After a sender rings: time given to the messages right behind it.
constexpr uint64_t kGatherNs = 2 * 1000;
// Longest stay in one spin-and-deliver turn before timers get their chance again.
constexpr uint64_t kMaxStayNs = 1000 * 1000;
// A message this soon after a spin gave up was most likely waiting for this thread's CPU.
constexpr uint64_t kColocatedNs = 15 * 1000;
// How many spins then yield as they poll, and a yield that took this long gave the CPU away.
constexpr uint32_t kYieldSpins = 64;
constexpr uint64_t kYieldGaveCpuNs = 2 * 1000;

uint64_t SpinBudgetNs() {
  static const uint64_t budget = [] {
    const char* env = std::getenv("CORRAL_SPIN_US");
    if (env == nullptr || *env == '\0') return kDefaultSpinNs;
    return static_cast<uint64_t>(std::strtoull(env, nullptr, 10)) * 1000;
  }();
  return budget;
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// True once the loop's epoll fd has something to report.
bool BackendReady(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

// The IPC doorbells a spin watches (more are found by the poll alone).
constexpr size_t kMaxBells = 8;

// Whether a doorbell has moved since `heard` was taken.
bool BellRang(const Spinner* spinner, const uint32_t* heard, size_t count) {
  for (size_t i = 0; i < count; i++) {
    if (spinner->bells[i]->load(std::memory_order_relaxed) != heard[i]) return true;
  }
  return false;
}

// Spins until a sender rings, another event arrives, or the budget is spent.
void Spin(Spinner* spinner, uv_loop_t* loop, uint64_t budget) {
  int fd = uv_backend_fd(loop);
  uint32_t heard[kMaxBells];
  size_t bells = std::min(spinner->bells.size(), kMaxBells);
  for (size_t i = 0; i < bells; i++) heard[i] = spinner->bells[i]->load(std::memory_order_acquire);
  uint64_t deadline = uv_hrtime() + budget;
  bool yielding = spinner->yield_spins > 0;
  if (yielding) spinner->yield_spins--;
  spinner->gave_up_at = 0;
  spinner->spinning.store(true);
  for (int n = 1; !spinner->rung.load(std::memory_order_relaxed); n++) {
    CpuRelax();
    // (A peer process's write: the loop's poll, next, will find it at once.)
    if (bells > 0 && BellRang(spinner, heard, bells)) break;
    if (n % kFlagChecksPerPoll != 0) continue;
    if (BackendReady(fd)) break;
    uint64_t now = uv_hrtime();
    if (now >= deadline) {
      spinner->gave_up_at = now;
      break;
    }
    if (yielding) {
      sched_yield();
      if (uv_hrtime() - now > kYieldGaveCpuNs) spinner->yield_spins = kYieldSpins;
    }
  }
  spinner->spinning.store(false);
  if (spinner->rung.load()) spinner->gave_up_at = 0;
}

void OnPrepare(uv_prepare_t* handle) {
  auto* spinner = static_cast<Spinner*>(handle->data);
  if (spinner->deliveries == spinner->seen) return;
  uv_loop_t* loop = handle->loop;
  // Something is due already (immediates, expired timers, pending callbacks): no sleep ahead.
  int timeout = uv_backend_timeout(loop);
  if (timeout == 0) return;
  uint64_t budget = spinner->ipc_last ? std::min(SpinBudgetNs(), kIpcSpinNs) : SpinBudgetNs();
  uint64_t stay = kMaxStayNs;
  if (timeout > 0 && static_cast<uint64_t>(timeout) * 1000000 < stay) {
    stay = static_cast<uint64_t>(timeout) * 1000000;
  }
  uint64_t leave_at = uv_hrtime() + stay;
  bool drained = false;
  // Deliver what arrives while spinning, and spin again, until the spin times out, another
  // event is ready, or a listener scheduled something that is due at once.
  for (;;) {
    uint64_t now = uv_hrtime();
    if (now >= leave_at) break;
    Spin(spinner, loop, std::min(budget, leave_at - now));
    if (!spinner->rung.exchange(false)) break;
    // While messages stream in (the last drain found several), a short pause lets them gather
    // into a batch (one drain for many). A lone message, as in a ping-pong, goes at once.
    if (spinner->last_drain > 1) {
      uint64_t gather_until = uv_hrtime() + kGatherNs;
      while (uv_hrtime() < gather_until) CpuRelax();
    }
    uint64_t before = spinner->deliveries;
    spinner->drain(spinner->drain_arg);
    spinner->last_drain = spinner->deliveries - before;
    drained = true;
    if (uv_backend_timeout(loop) == 0) break;
  }
  spinner->seen = spinner->deliveries;
  // Come back here after the poll (which must not block) instead of sleeping in it.
  if (drained) uv_idle_start(&spinner->idle, [](uv_idle_t* idle) { uv_idle_stop(idle); });
}

}  // namespace

Spinner* StartSpinner(uv_loop_t* loop, void (*drain)(void*), void* drain_arg) {
  if (SpinBudgetNs() == 0) return nullptr;
  auto* spinner = new Spinner();
  spinner->drain = drain;
  spinner->drain_arg = drain_arg;
  spinner->prepare.data = spinner;
  uv_prepare_init(loop, &spinner->prepare);
  uv_prepare_start(&spinner->prepare, OnPrepare);
  uv_idle_init(loop, &spinner->idle);
  // Neither keeps a loop alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(&spinner->prepare));
  uv_unref(reinterpret_cast<uv_handle_t*>(&spinner->idle));
  return spinner;
}

void NoteLoopWake(Spinner* spinner) {
  if (spinner == nullptr || spinner->gave_up_at == 0) return;
  if (uv_hrtime() - spinner->gave_up_at < kColocatedNs) spinner->yield_spins = kYieldSpins;
  spinner->gave_up_at = 0;
}

bool RingSpinner(Spinner* spinner) {
  spinner->rung.store(true);
  return spinner->spinning.load();
}

void StopSpinner(Spinner* spinner) {
  if (spinner == nullptr) return;
  // Freed after the second of the two handles is closed.
  auto closed = [](uv_handle_t* handle) {
    auto* owner = static_cast<Spinner*>(handle->data);
    if (--owner->open_handles == 0) delete owner;
  };
  spinner->idle.data = spinner;
  spinner->open_handles = 2;
  uv_close(reinterpret_cast<uv_handle_t*>(&spinner->idle), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&spinner->prepare), closed);
}

}  // namespace corral
