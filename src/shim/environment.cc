// Hosting a full Node.js environment on a thread that Rust started (see
// shared/design/ARCHITECTURE.md section 1 for the verified sequence and its traps).
#include "shim.h"

#include <dlfcn.h>
#include <sys/prctl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <climits>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace {

node::MultiIsolatePlatform* g_platform = nullptr;
std::atomic<bool> g_use_snapshot{true};

// Below this resourceLimits.maxOldGenerationSizeMb a worker does not start from the snapshot's
// bootstrapped main context (see corral_env_run): twice the most seen to crash.
constexpr double kSmallOldGenerationMb = 16;

// A stop cell lets any thread stop an environment that may not exist yet or may be gone.
struct StopCell {
  std::mutex mutex;
  node::Environment* env = nullptr;
  bool stop_requested = false;
  // For worker.performance.eventLoopUtilization(), read from the parent while env is set.
  uv_loop_t* loop = nullptr;
  uint64_t loop_start = 0;  // uv_hrtime() when the event loop started, 0 before
  bool out_of_memory = false;  // reported under the worker's id once its environment has ended
  std::atomic<int32_t>* exit_code = nullptr;  // while env is set
  // Stopped from now, the worker ends with 1, as a Node Worker stopped once its environment
  // exists. A warm thread's environment exists before its Worker does: it counts from the
  // worker's begin (markBegun), so one stopped in the tick of its `new Worker()` ends with 0,
  // as Node's (whose environment is not made yet then).
  bool env_counts = false;
};

void SetEnv(StopCell* cell, node::Environment* env, std::atomic<int32_t>* exit_code, bool counts) {
  std::lock_guard<std::mutex> lock(cell->mutex);
  cell->env = env;
  cell->exit_code = env != nullptr ? exit_code : nullptr;
  cell->env_counts = env != nullptr && counts;
  if (env != nullptr && cell->stop_requested) node::Stop(env);
}

thread_local StopCell* t_cell = nullptr;  // this thread's, while its environment runs

// resourceLimits.maxOldGenerationSizeMb. V8 enforces it when the isolate could be made with the
// limits (NewWorkerIsolate); otherwise, after every full GC the old generation's live size is
// checked against the cap. The near-heap-limit callback covers V8's own limit: the worker ends
// alone instead of aborting the process.
struct HeapGuard {
  StopCell* cell;
  size_t max_old_bytes;  // 0: no cap of our own
  std::atomic<int32_t>* exit_code;
  std::atomic<bool> tripped{false};
};

// V8 may call this on a thread of its own (a GC that an allocation off the worker's thread set
// off, seen on Node 26): nothing here may depend on which thread runs it. The worker's id is
// read on its own thread when the environment ends (ReportEnd).
void OutOfMemory(HeapGuard* guard) {
  if (guard->tripped.exchange(true)) return;
  std::lock_guard<std::mutex> lock(guard->cell->mutex);
  guard->cell->out_of_memory = true;
  guard->cell->stop_requested = true;
  // As Node's Worker: exit code 1 once the environment exists; before (out of memory while it
  // is made) 0, and it stops as soon as it does.
  if (guard->cell->env != nullptr) {
    int32_t expected = INT32_MIN;
    guard->exit_code->compare_exchange_strong(expected, 1);
    node::Stop(guard->cell->env);
  }
}

// On the worker's thread, when its environment has ended: its exit code and whether it ran out
// of memory, under the id it has now (a warm thread took its worker's id when claimed).
void ReportEnd(StopCell* cell, int32_t code) {
  bool out_of_memory;
  {
    std::lock_guard<std::mutex> lock(cell->mutex);
    out_of_memory = cell->out_of_memory;
  }
  uint64_t id = corral_current_thread_id();
  if (out_of_memory) corral_thread_set_out_of_memory(id);
  corral_thread_set_exit_code(id, code);
}

size_t OldGenerationBytes(v8::Isolate* isolate) {
  size_t total = 0;
  for (size_t i = 0; i < isolate->NumberOfHeapSpaces(); i++) {
    v8::HeapSpaceStatistics space;
    if (!isolate->GetHeapSpaceStatistics(&space, i)) continue;
    std::string name = space.space_name();
    if (name.rfind("new_", 0) != 0) total += space.space_used_size();
  }
  return total;
}

void AfterFullGC(v8::Isolate* isolate, v8::GCType, v8::GCCallbackFlags, void* data) {
  auto* guard = static_cast<HeapGuard*>(data);
  if (guard->max_old_bytes > 0 && OldGenerationBytes(isolate) > guard->max_old_bytes) OutOfMemory(guard);
}

size_t NearHeapLimit(void* data, size_t current_limit, size_t) {
  OutOfMemory(static_cast<HeapGuard*>(data));
  return current_limit * 2;  // room to unwind while the worker stops
}

// The bootstrap is the source of a function(process, internalRequire, natives) that returns
// corral's boot module (lib/worker_threads/boot.js); `natives` has what it loads corral's first
// files with (InitBootNatives). It runs in two phases, as Node's own workers do:
// `preload` before the program's preload modules (-r / --import) are loaded, so they see the
// worker's worker_threads values and run only when the worker's execArgv asks for them; then
// `main`, which reports 'online' and runs the worker's script.
v8::MaybeLocal<v8::Object> RunBootPreload(v8::Isolate* isolate, const char* bootstrap,
                                          v8::Local<v8::Value> process, v8::Local<v8::Value> require) {
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::String> source;
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> function;
  v8::Local<v8::Value> boot;
  v8::Local<v8::Value> preload;
  if (!v8::String::NewFromUtf8(isolate, bootstrap).ToLocal(&source) ||
      !v8::Script::Compile(context, source).ToLocal(&script) || !script->Run(context).ToLocal(&function) ||
      !function->IsFunction()) {
    return {};
  }
  v8::Local<v8::Object> natives = v8::Object::New(isolate);
  corral::InitBootNatives(isolate, context, natives);
  v8::Local<v8::Value> boot_args[] = {process, require, natives};
  v8::Local<v8::Value> args[] = {process, require};
  if (!function.As<v8::Function>()->Call(context, v8::Undefined(isolate), 3, boot_args).ToLocal(&boot) ||
      !boot->IsObject() || !boot.As<v8::Object>()->Get(context, corral::Str(isolate, "preload")).ToLocal(&preload) ||
      !preload->IsFunction() ||
      preload.As<v8::Function>()->Call(context, boot, 2, args).IsEmpty()) {
    return {};
  }
  return boot.As<v8::Object>();
}

// Loads the bootstrap and spins the loop inside the environment's (snapshot) context.
void RunEnvironment(node::Environment* env, const char* bootstrap, StopCell* cell,
                    std::atomic<int32_t>* exit_code) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> context = node::GetMainContext(env);
  v8::Context::Scope context_scope(context);
  {
    std::lock_guard<std::mutex> lock(cell->mutex);
    if (cell->stop_requested) return;
  }
  v8::Global<v8::Object> boot;
  // Node (20-24) hands an environment's embedder preload on to the workers Node itself starts
  // from it (the ESM loader-hooks thread, a node:worker_threads Worker): those are Node's own,
  // on another isolate and thread, and get nothing of corral's (touching this isolate from
  // there aborts the process).
  auto preload = [&, own_env = env](node::Environment* target, v8::Local<v8::Value> process,
                                    v8::Local<v8::Value> require) {
    if (target != own_env) return;
    v8::HandleScope scope(isolate);
    v8::TryCatch failed(isolate);
    v8::Local<v8::Object> module;
    if (RunBootPreload(isolate, bootstrap, process, require).ToLocal(&module)) {
      boot.Reset(isolate, module);
      return;
    }
    // corral's own boot could not load (e.g. out of file descriptors): the parent gets
    // ERR_WORKER_INIT_FAILED, and the program's preloads must not run in a worker that is no
    // worker (internal modules load from memory, not from files).
    // (A stop, or the boot's own exit after reporting, terminates instead: nothing to add.)
    if (failed.HasTerminated() || isolate->IsExecutionTerminating() || !failed.HasCaught()) return;
    v8::String::Utf8Value text(isolate, failed.Exception());
    std::string detail = *text != nullptr ? *text : "unknown error";
    failed.Reset();
    corral_thread_set_init_failed(corral_current_thread_id(), detail.c_str());
    v8::Local<v8::String> source = corral::Str(isolate,
        "(function (require) { const o = require('internal/options');"
        " for (const n of ['--require', '--import']) o.getOptionValue(n).length = 0; })");
    v8::Local<v8::Script> script;
    v8::Local<v8::Value> clear;
    if (v8::Script::Compile(context, source).ToLocal(&script) && script->Run(context).ToLocal(&clear) &&
        clear->IsFunction()) {
      v8::Local<v8::Value> args[] = {require};
      if (clear.As<v8::Function>()->Call(context, v8::Undefined(isolate), 1, args).IsEmpty()) return;
    }
  };
  auto main = [&](const node::StartExecutionCallbackInfo& info) -> v8::MaybeLocal<v8::Value> {
    v8::Local<v8::Value> run;
    if (boot.IsEmpty()) {
      // The preload phase failed before it could report anything: end the worker with 1.
      int32_t expected = INT32_MIN;
      exit_code->compare_exchange_strong(expected, 1);
      return v8::Undefined(isolate);
    }
    v8::Local<v8::Object> module = boot.Get(isolate);
    if (!module->Get(context, corral::Str(isolate, "main")).ToLocal(&run) || !run->IsFunction()) return {};
    v8::Local<v8::Value> args[] = {info.process_object};
    return run.As<v8::Function>()->Call(context, module, 1, args);
  };
  if (node::LoadEnvironment(env, main, preload).IsEmpty()) return;
  {
    std::lock_guard<std::mutex> lock(cell->mutex);
    cell->loop_start = uv_hrtime();
  }
  v8::Maybe<int> code = node::SpinEventLoop(env);
  int32_t expected = INT32_MIN;
  if (code.IsJust()) exit_code->compare_exchange_strong(expected, code.FromJust());
}

}  // namespace

namespace corral {
void SetUseSnapshot(bool use) { g_use_snapshot.store(use); }

// node::Environment::WaitForInspectorFrontendByOptions(): tells the parent's inspector the
// worker has started and, if a debugger asked for it (NodeWorker.enable's
// waitForDebuggerOnStart), waits for it. Not in node.h, but exported by every Node line corral
// supports; without it the worker's own inspector still works, but a debugger attached to the
// parent does not see it.
void WaitForInspectorFrontend(node::Environment* env) {
  using WaitFn = void (*)(node::Environment*);
  static const WaitFn wait = reinterpret_cast<WaitFn>(
      dlsym(RTLD_DEFAULT, "_ZN4node11Environment33WaitForInspectorFrontendByOptionsEv"));
  if (wait != nullptr) wait(env);
}

std::mutex g_inspector_handles_mutex;
std::unordered_map<uint64_t, ParentInspector> g_inspector_handles;

void StashInspectorHandle(uint64_t thread_id, ParentInspector parent) {
  std::lock_guard<std::mutex> lock(g_inspector_handles_mutex);
  g_inspector_handles[thread_id] = std::move(parent);
}

ParentInspector TakeInspectorHandle(uint64_t thread_id) {
  std::lock_guard<std::mutex> lock(g_inspector_handles_mutex);
  auto found = g_inspector_handles.find(thread_id);
  if (found == g_inspector_handles.end()) return {};
  ParentInspector parent = std::move(found->second);
  g_inspector_handles.erase(found);
  return parent;
}

// Before a worker that ended on its own frees its inspector: one interrupt through the parent's
// thread, so that whatever the parent's inspector was still doing for this worker (answering a
// `connectToMainThread` session the worker has just closed) is done. Node's inspector posts
// such answers to a worker's thread without keeping it alive, and one arriving while the
// worker's inspector is being destroyed aborts the process. Bounded: a parent that is busy or
// is itself ending (waiting for its workers) lets the worker go after 100 ms. Only for workers
// of the main thread, whose environment is sure to be alive.
// The process's main environment: it outlives every worker (it stops and joins them before it
// goes). A worker's parent that is itself a worker may be gone by the time its child ends.
std::atomic<node::Environment*> g_main_env{nullptr};

struct ParentTurn {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
};

void AwaitParentTurn(node::Environment* parent) {
  if (parent == nullptr || parent != g_main_env.load()) return;
  auto turn = std::make_shared<ParentTurn>();
  node::RequestInterrupt(parent, [](void* arg) {
    std::unique_ptr<std::shared_ptr<ParentTurn>> held(static_cast<std::shared_ptr<ParentTurn>*>(arg));
    std::lock_guard<std::mutex> lock((*held)->mutex);
    (*held)->done = true;
    (*held)->done_cv.notify_all();
  }, new std::shared_ptr<ParentTurn>(turn));
  std::unique_lock<std::mutex> lock(turn->mutex);
  turn->done_cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return turn->done; });
}

void CountEnvironmentFromNow() {
  StopCell* cell = t_cell;
  if (cell == nullptr) return;
  std::lock_guard<std::mutex> lock(cell->mutex);
  cell->env_counts = true;
}

// A warm thread is not a worker until claimed: announced then, a debugger never sees idle ones.
thread_local node::Environment* g_pending_announce = nullptr;
void SetPendingInspectorAnnounce(node::Environment* env) { g_pending_announce = env; }
void AnnouncePendingInspector() {
  node::Environment* env = g_pending_announce;
  g_pending_announce = nullptr;
  if (env != nullptr) WaitForInspectorFrontend(env);
}

// Called on the main thread when the addon first loads: the platform is shared by all isolates.
void CapturePlatform(v8::Isolate* isolate, v8::Local<v8::Context> context) {
  if (g_platform != nullptr) return;
  node::Environment* env = node::GetCurrentEnvironment(context);
  if (env != nullptr) g_platform = node::GetMultiIsolatePlatform(env);
}

// process.exit() in the main environment skips cleanup hooks: stop and join every worker first,
// or a worker still running while the process tears down crashes it.
void WrapMainExitHandler(v8::Local<v8::Context> context) {
  node::Environment* env = node::GetCurrentEnvironment(context);
  if (env == nullptr) return;
  g_main_env.store(env);
  node::SetProcessExitHandler(env, [](node::Environment* env, int code) {
    corral_thread_stop_join(0, true);
    node::DefaultProcessExitHandler(env, code);
  });
}

// Node 24 and later name a worker's OS thread (what `top -H`, perf and gdb show) after its
// `name` option, "WorkerThread" without one; earlier lines leave the name the thread inherited
// ("node"). A warm thread is named again when a Worker claims it (boot.js).
void NameWorkerThread(const char* name) {
#if NODE_MAJOR_VERSION >= 24
  // (PR_SET_NAME keeps the first 15 bytes, as Node's uv_thread_setname does)
  prctl(PR_SET_NAME, name != nullptr && *name != '\0' ? name : "WorkerThread", 0, 0, 0);
#else
  (void)name;
#endif
}

}  // namespace corral

extern "C" {

void* corral_stop_cell_new() { return new StopCell(); }
void corral_stop_cell_free(void* cell) { delete static_cast<StopCell*>(cell); }
void corral_inspector_handle_drop(uint64_t thread_id) { corral::TakeInspectorHandle(thread_id); }
bool corral_stop_cell_loop_times(void* raw, uint64_t* idle_ns, uint64_t* start_ns) {
  auto* cell = static_cast<StopCell*>(raw);
  std::lock_guard<std::mutex> lock(cell->mutex);
  if (cell->env == nullptr || cell->loop_start == 0) return false;
  *idle_ns = uv_metrics_idle_time(cell->loop);
  *start_ns = cell->loop_start;
  return true;
}

bool corral_stop_cell_ask(void* raw, uint32_t id, int32_t op) {
  auto* cell = static_cast<StopCell*>(raw);
  std::lock_guard<std::mutex> lock(cell->mutex);
  if (cell->env == nullptr) return false;
  corral::AskBetweenSteps(cell->env, id, op);
  return true;
}

void corral_stop_cell_stop(void* raw) {
  auto* cell = static_cast<StopCell*>(raw);
  std::lock_guard<std::mutex> lock(cell->mutex);
  cell->stop_requested = true;
  if (cell->env == nullptr) return;
  // As Node's Worker: stopped while its environment lives (even in its 'exit' handlers, after
  // the loop ended with another code), the worker ends with 1.
  if (cell->exit_code != nullptr && cell->env_counts) cell->exit_code->store(1);
  node::Stop(cell->env);
}

int32_t corral_env_run(const CorralWorkerSpec* spec, uint64_t thread_id, void* stop_raw) {
  (void)thread_id;  // the id is read when needed: a warm thread changes it when claimed
  corral::NameWorkerThread(spec->name);
  auto* cell = static_cast<StopCell*>(stop_raw);
  // Taken first, so every return below frees it (a handle never given to an environment tells
  // the parent's inspector the worker is gone).
  corral::ParentInspector parent_inspector =
      spec->thread_id != 0 ? corral::TakeInspectorHandle(spec->thread_id) : corral::ParentInspector{};
  std::unique_ptr<node::InspectorParentHandle> inspector = std::move(parent_inspector.handle);
  if (g_platform == nullptr) return 1;

  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return 1;
  uv_loop_configure(&loop, UV_METRICS_IDLE_TIME);
  {
    std::lock_guard<std::mutex> lock(cell->mutex);
    cell->loop = &loop;
  }

  std::shared_ptr<node::ArrayBufferAllocator> allocator = node::ArrayBufferAllocator::Create();
  // Under --no-node-snapshot the process was not made from the built-in snapshot and its data
  // does not match it: workers then bootstrap from scratch too, as Node's do.
  node::EmbedderSnapshotData::Pointer snapshot;
  if (g_use_snapshot.load()) snapshot = node::EmbedderSnapshotData::BuiltinSnapshotData();
  bool heap_limits_applied = false;
  v8::Isolate* isolate = corral::NewWorkerIsolate(allocator, &loop, g_platform, snapshot.get(),
                                                  spec->limits, &heap_limits_applied);
  if (isolate == nullptr) {
    uv_loop_close(&loop);
    return 1;
  }

  std::atomic<int32_t> exit_code{INT32_MIN};
  constexpr double kMiB = 1024.0 * 1024.0;
  size_t own_old_cap = heap_limits_applied ? 0 : static_cast<size_t>(spec->limits[1] * kMiB);
  HeapGuard heap_guard{cell, own_old_cap, &exit_code};
  {
    v8::Locker locker(isolate);
    v8::Isolate::Scope isolate_scope(isolate);
    // JS may use the thread's whole stack (stackSizeMb, 4 MiB by default), less a reserve for
    // native frames, as in Node's workers.
    // A stack smaller than that reserve leaves JS none (as Node clamps it: the worker's first JS
    // overflows); a limit above the current frame would fail V8's stack checks (Node 26 aborts).
    double stack_mb = spec->limits[3] > 0 ? spec->limits[3] : 4;
    constexpr uintptr_t kNativeReserve = 192 * 1024;
    uintptr_t stack_bytes = static_cast<uintptr_t>(stack_mb * kMiB);
    uintptr_t stack_here = reinterpret_cast<uintptr_t>(&stack_mb);
    isolate->SetStackLimit(stack_here - (stack_bytes > kNativeReserve ? stack_bytes - kNativeReserve : 0));
    if (own_old_cap > 0) {
      isolate->AddGCEpilogueCallback(AfterFullGC, &heap_guard, v8::kGCTypeMarkSweepCompact);
    }
    isolate->AddNearHeapLimitCallback(NearHeapLimit, &heap_guard);
    // NewIsolate has already called SetIsolateUpForNode (a second call would register a
    // second message listener and report every uncaught exception twice).
    node::IsolateData* isolate_data =
        node::CreateIsolateData(isolate, &loop, g_platform, allocator.get(), snapshot.get());
    {
      v8::HandleScope handle_scope(isolate);
      std::vector<std::string> args(spec->argv, spec->argv + spec->argc);
      std::vector<std::string> exec_args(spec->exec_argv, spec->exec_argv + spec->exec_argc);
      // Without a parent handle an inspector would set itself up as the main thread's (and
      // abort: its start-up state is process-wide).
      // With one, the wait for a debugger (and the report to the parent's inspector) is
      // done below, as Node's Worker does: Node skips it in the environment's own set-up when
      // the process was started with --inspect (the worker is not listening itself).
      uint64_t env_flags = node::EnvironmentFlags::kNoStartDebugSignalHandler;
      env_flags |= inspector ? node::EnvironmentFlags::kNoWaitForInspectorFrontend
                             : node::EnvironmentFlags::kNoCreateInspector;
      bool has_inspector = static_cast<bool>(inspector);
      if (spec->flags & kWorkerTrackUnmanagedFds) env_flags |= node::EnvironmentFlags::kTrackUnmanagedFds;
      auto flags = static_cast<node::EnvironmentFlags::Flags>(env_flags);
      // An empty context makes Node deserialize its bootstrapped main context from the built-in
      // snapshot instead of running the bootstrap scripts again (about 20 ms saved per worker).
      // That state is the main thread's: process-wide operations (chdir, setuid, ...) that
      // would hit a CHECK without kOwnsProcessState are replaced by lib/worker_threads/boot.js
      // before any user code runs, with Node's own worker errors.
      // A small old generation (resourceLimits.maxOldGenerationSizeMb) cannot take that context:
      // a full GC while V8 deserializes it crashes the process (Node 22 and 24 up to 6-7 MiB).
      // Such a worker bootstraps in JS from a fresh context, as Node's own Worker does, and runs
      // out of memory the way it does.
      bool bootstrap_in_js = !snapshot || (spec->limits[1] > 0 && spec->limits[1] < kSmallOldGenerationMb);
      v8::Local<v8::Context> context;
      std::optional<v8::Context::Scope> context_scope;
      if (bootstrap_in_js) {
        context = node::NewContext(isolate);
        if (!context.IsEmpty()) context_scope.emplace(context);
      }
      node::ThreadId node_thread_id;  // default: Node allocates one
      if (has_inspector) node_thread_id.id = spec->thread_id;
      node::Environment* env =
          context.IsEmpty() && bootstrap_in_js
              ? nullptr
              : node::CreateEnvironment(isolate_data, context, args, exec_args, flags, node_thread_id,
                                        std::move(inspector));
      if (env != nullptr) {
        // process.exit(n) in a worker ends only that worker, with code n.
        node::SetProcessExitHandler(env, [&exit_code](node::Environment* env, int code) {
          int32_t expected = INT32_MIN;
          exit_code.compare_exchange_strong(expected, code);
          node::Stop(env);
        });
        if (has_inspector && (spec->flags & kWorkerWarm)) {
          corral::SetPendingInspectorAnnounce(env);
        } else if (has_inspector) {
          corral::WaitForInspectorFrontend(env);
        }
        SetEnv(cell, env, &exit_code, (spec->flags & kWorkerWarm) == 0);
        t_cell = cell;
        RunEnvironment(env, spec->bootstrap, cell, &exit_code);
        t_cell = nullptr;
        SetEnv(cell, nullptr, nullptr, false);
        corral::SetPendingInspectorAnnounce(nullptr);
        // terminate(): Node reports exit code 1, or 0 when its Worker had no environment yet
        // (here: the worker had not begun, see markBegun).
        int32_t expected = INT32_MIN;
        exit_code.compare_exchange_strong(expected, corral_thread_begun() ? 1 : 0);
        ReportEnd(cell, exit_code.load());
        bool stopped;
        {
          std::lock_guard<std::mutex> lock(cell->mutex);
          stopped = cell->stop_requested;
        }
        if (has_inspector && !stopped && parent_inspector.env != nullptr) {
          corral::AwaitParentTurn(parent_inspector.env);
        }
        isolate->CancelTerminateExecution();
        corral::StopProfilers(isolate);
        node::FreeEnvironment(env);
      } else {
        // No environment: 1, or 0 when it was out of memory while being made (as Node's Worker).
        bool out_of_memory;
        {
          std::lock_guard<std::mutex> lock(cell->mutex);
          out_of_memory = cell->out_of_memory;
        }
        exit_code.store(out_of_memory ? 0 : 1);
        ReportEnd(cell, exit_code.load());
      }
      corral_thread_env_freed(corral_current_thread_id());
    }
    node::FreeIsolateData(isolate_data);
  }

  bool platform_finished = false;
  g_platform->AddIsolateFinishedCallback(
      isolate, [](void* data) { *static_cast<bool*>(data) = true; }, &platform_finished);
#if NODE_MAJOR_VERSION >= 24
  // Node 24+ requires Dispose before Unregister; DisposeIsolate does both in order (Node 22's
  // platform has no DisposeIsolate and wants Unregister first, as Node 20's).
  g_platform->DisposeIsolate(isolate);
#else
  g_platform->UnregisterIsolate(isolate);
  isolate->Dispose();
#endif
  while (!platform_finished) uv_run(&loop, UV_RUN_ONCE);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return exit_code.load();
}

}  // extern "C"
