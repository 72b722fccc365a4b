// Worker natives: hand a worker's start-up spec to Rust (which owns the thread), stop it, read
// its exit code, and, inside the worker, take the boot payload.
#include "shim.h"

#include <climits>
#include <string>

namespace corral {

namespace {

bool ReadStrings(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Value> value,
                 std::vector<std::string>* out) {
  if (!value->IsArray()) return true;
  v8::Local<v8::Array> list = value.As<v8::Array>();
  for (uint32_t i = 0; i < list->Length(); i++) {
    v8::Local<v8::Value> item;
    v8::Local<v8::String> text;
    if (!list->Get(context, i).ToLocal(&item) || !item->ToString(context).ToLocal(&text)) return false;
    out->emplace_back(*v8::String::Utf8Value(isolate, text));
  }
  return true;
}

v8::Local<v8::Value> Field(v8::Local<v8::Context> context, v8::Local<v8::Object> obj, const char* key) {
  return obj->Get(context, Str(v8::Isolate::GetCurrent(), key)).ToLocalChecked();
}

struct SpecStrings {
  std::vector<std::string> argv, exec_argv;
  std::string bootstrap, name, url;
  double limits[4] = {0, 0, 0, 0};
  uint32_t flags = kWorkerTrackUnmanagedFds;
  std::vector<const char*> argv_c, exec_argv_c;

  CorralWorkerSpec Spec(void* payload) {
    argv_c.clear();
    exec_argv_c.clear();
    for (auto& s : argv) argv_c.push_back(s.c_str());
    for (auto& s : exec_argv) exec_argv_c.push_back(s.c_str());
    return CorralWorkerSpec{argv_c.data(), argv_c.size(), exec_argv_c.data(), exec_argv_c.size(),
                            bootstrap.c_str(), payload, {limits[0], limits[1], limits[2], limits[3]},
                            name.c_str(), flags, 0};
  }
};

// Reads { argv, execArgv, bootstrap, limits, name, trackUnmanagedFds }; false with an exception
// pending.
bool ReadSpec(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Value> value,
              SpecStrings* out) {
  if (!value->IsObject()) return false;
  v8::Local<v8::Object> opts = value.As<v8::Object>();
  if (!ReadStrings(isolate, context, Field(context, opts, "argv"), &out->argv) ||
      !ReadStrings(isolate, context, Field(context, opts, "execArgv"), &out->exec_argv)) {
    return false;
  }
  out->bootstrap = *v8::String::Utf8Value(isolate, Field(context, opts, "bootstrap"));
  out->name = *v8::String::Utf8Value(isolate, Field(context, opts, "name"));
  v8::Local<v8::Value> url = Field(context, opts, "url");
  if (url->IsString()) out->url = *v8::String::Utf8Value(isolate, url);
  if (Field(context, opts, "trackUnmanagedFds")->IsFalse()) out->flags &= ~kWorkerTrackUnmanagedFds;
  v8::Local<v8::Value> limit_list = Field(context, opts, "limits");
  if (limit_list->IsArray()) {
    for (uint32_t i = 0; i < 4 && i < limit_list.As<v8::Array>()->Length(); i++) {
      v8::Local<v8::Value> v = limit_list.As<v8::Array>()->Get(context, i).ToLocalChecked();
      if (v->IsNumber()) out->limits[i] = v.As<v8::Number>()->Value();
    }
  }
  return true;
}

// The worker's inspector hangs off its parent's, as a Node Worker's does: a debugger attached
// to the parent sees it (NodeWorker domain) and `inspector.Session` works inside it. The
// handle names the worker's threadId, so the id is reserved here, before the thread exists.
// (A parent without an inspector gives none: the worker then has none either.)
// A warm thread's handle is made when the thread starts, before its worker exists: it names
// the thread's warm id and no name (lib/worker_threads/worker.js uses no warm threads while an
// inspector is in use, so that a debugger sees workers as Node names them).
void AttachInspector(v8::Local<v8::Context> context, const SpecStrings& spec, CorralWorkerSpec* raw, bool warm) {
  node::Environment* env = node::GetCurrentEnvironment(context);
  if (env == nullptr) return;
  raw->thread_id = warm ? corral_thread_reserve_warm_id() : corral_thread_reserve_id();
  std::unique_ptr<node::InspectorParentHandle> handle =
      node::GetInspectorParentHandle(env, node::ThreadId{raw->thread_id}, spec.url.c_str(), spec.name.c_str());
  if (handle) StashInspectorHandle(raw->thread_id, ParentInspector{std::move(handle), env});
}

// spawn({ argv, execArgv, bootstrap, limits, name, url, warm }, payload, transferList) -> threadId.
// With `warm`, a warm thread (an environment already bootstrapped) takes the payload if one
// is waiting.
void Spawn(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  SpecStrings spec;
  if (!ReadSpec(isolate, context, args[0], &spec)) return;

  Message* payload = Serialize(isolate, context, args[1], args[2], nullptr);
  if (payload == nullptr) return;  // DataCloneError pending

  uint64_t id = 0;
  if (Field(context, args[0].As<v8::Object>(), "warm")->IsTrue()) id = corral_thread_claim_warm(payload);
  if (id == 0) {
    CorralWorkerSpec raw = spec.Spec(payload);
    AttachInspector(context, spec, &raw, false);
    id = corral_thread_spawn(&raw, CurrentThreadId());
  }
  if (id == 0) {
    // As Node's Worker when its thread cannot be made (pthread_create: no threads, or no
    // memory for the stack asked for).
    v8::Local<v8::Value> error = v8::Exception::Error(Str(isolate, "EAGAIN"));
    error.As<v8::Object>()->Set(context, Str(isolate, "code"), Str(isolate, "ERR_WORKER_INIT_FAILED")).Check();
    isolate->ThrowException(error);
    return;
  }
  args.GetReturnValue().Set(v8::Number::New(isolate, static_cast<double>(id)));
}

// spawnEarly(spec) -> threadId, or 0 when a warm thread waits (spawn() claims it then): the
// thread of a Worker being constructed, started before its payload exists so that its isolate
// and environment are made meanwhile. It is the worker's own from the start (its threadId,
// name and inspector handle); deliver() hands it the payload.
void SpawnEarly(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  if (corral_thread_warm_missing(1) == 0) {
    args.GetReturnValue().Set(0);
    return;
  }
  SpecStrings spec;
  if (!ReadSpec(isolate, context, args[0], &spec)) return;
  CorralWorkerSpec raw = spec.Spec(nullptr);
  raw.flags |= kWorkerAwaitsPayload;
  AttachInspector(context, spec, &raw, false);
  uint64_t id = corral_thread_spawn(&raw, CurrentThreadId());
  args.GetReturnValue().Set(v8::Number::New(isolate, static_cast<double>(id)));
}

// deliver(threadId, payload, transferList) -> whether the thread spawnEarly() started took it.
void Deliver(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsNumber()) return;
  Message* payload = Serialize(isolate, isolate->GetCurrentContext(), args[1], args[2], nullptr);
  if (payload == nullptr) return;  // DataCloneError pending
  bool taken = corral_thread_deliver(static_cast<uint64_t>(args[0].As<v8::Number>()->Value()), payload);
  args.GetReturnValue().Set(taken);
}

// keepWarm(spec, count): start warm threads until `count` wait to be claimed.
void KeepWarm(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  SpecStrings spec;
  if (!ReadSpec(isolate, isolate->GetCurrentContext(), args[0], &spec) || !args[1]->IsNumber()) return;
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  size_t missing = corral_thread_warm_missing(static_cast<size_t>(args[1].As<v8::Number>()->Value()));
  for (size_t i = 0; i < missing; i++) {
    CorralWorkerSpec raw = spec.Spec(nullptr);
    raw.flags |= kWorkerWarm;
    AttachInspector(context, spec, &raw, true);
    if (corral_thread_spawn(&raw, 0) == 0) break;
  }
}

void StopWorker(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (args[0]->IsNumber()) corral_thread_stop(static_cast<uint64_t>(args[0].As<v8::Number>()->Value()));
}

void ExitCode(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (!args[0]->IsNumber()) return;
  int32_t code = corral_thread_exit_code(static_cast<uint64_t>(args[0].As<v8::Number>()->Value()));
  if (code != INT32_MIN) args.GetReturnValue().Set(code);
}

void OutOfMemory(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (!args[0]->IsNumber()) return;
  args.GetReturnValue().Set(
      corral_thread_take_out_of_memory(static_cast<uint64_t>(args[0].As<v8::Number>()->Value())));
}

// initFailed(threadId) -> the text of a boot failure the worker could not report, or undefined
void InitFailed(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (!args[0]->IsNumber()) return;
  char detail[512];
  if (!corral_thread_take_init_failed(static_cast<uint64_t>(args[0].As<v8::Number>()->Value()), detail,
                                      sizeof detail)) {
    return;
  }
  args.GetReturnValue().Set(Str(args.GetIsolate(), detail));
}

// setInitFailed(text): this worker's boot failed before it had its parent's port
void SetInitFailed(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::String::Utf8Value text(args.GetIsolate(), args[0]);
  corral_thread_set_init_failed(corral_current_thread_id(), *text != nullptr ? *text : "unknown error");
}

// useSnapshot(bool)
void UseSnapshot(const v8::FunctionCallbackInfo<v8::Value>& args) {
  SetUseSnapshot(args[0]->BooleanValue(args.GetIsolate()));
}

// awaitEnvFreed(threadId, timeoutMs) -> whether the worker's environment has been freed
void AwaitEnvFreed(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (!args[0]->IsNumber() || !args[1]->IsNumber()) return;
  args.GetReturnValue().Set(corral_thread_await_env_freed(
      static_cast<uint64_t>(args[0].As<v8::Number>()->Value()), static_cast<uint32_t>(args[1].As<v8::Number>()->Value())));
}

// loopTimes(threadId) -> [idleMs, startNs(hrtime, as a Number)] | undefined
void LoopTimes(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (!args[0]->IsNumber()) return;
  v8::Isolate* isolate = args.GetIsolate();
  uint64_t idle = 0, start = 0;
  if (!corral_thread_loop_times(static_cast<uint64_t>(args[0].As<v8::Number>()->Value()), &idle, &start)) return;
  v8::Local<v8::Value> values[] = {v8::Number::New(isolate, static_cast<double>(idle) / 1e6),
                                   v8::Number::New(isolate, static_cast<double>(start))};
  args.GetReturnValue().Set(v8::Array::New(isolate, values, 2));
}

void CurrentThreadIdNative(const v8::FunctionCallbackInfo<v8::Value>& args) {
  args.GetReturnValue().Set(v8::Number::New(args.GetIsolate(), static_cast<double>(CurrentThreadId())));
}

void TakePayload(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  void* raw = corral_thread_take_payload();
  SetCurrentThreadId(corral_current_thread_id());
  if (raw == nullptr) return;  // a warm thread stopped before it was claimed
  AnnouncePendingInspector();
  std::unique_ptr<Message> msg(static_cast<Message*>(raw));
  v8::Local<v8::Value> value;
  if (Deserialize(isolate, isolate->GetCurrentContext(), msg.get()).ToLocal(&value)) {
    args.GetReturnValue().Set(value);
  }
}

// markBegun(): the worker is about to say 'online' (its exit code when stopped is 1 from now).
void MarkBegun(const v8::FunctionCallbackInfo<v8::Value>&) {
  corral_thread_mark_begun();
  CountEnvironmentFromNow();
}

// Whether resourceLimits' young generation and code range reach V8 (see isolate.cc).
void HeapLimitsApplied(const v8::FunctionCallbackInfo<v8::Value>& args) {
  args.GetReturnValue().Set(CanApplyHeapLimits());
}

// defaultHeapSizes() -> [youngMb, oldMb]: what a worker without resourceLimits gets.
void DefaultHeapSizes(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  double young = 0, old = 0;
  DefaultHeapSizesMb(&young, &old);
  v8::Local<v8::Value> values[] = {v8::Number::New(isolate, young), v8::Number::New(isolate, old)};
  args.GetReturnValue().Set(v8::Array::New(isolate, values, 2));
}

// setThreadName(name): a claimed warm thread takes its Worker's name (NameWorkerThread).
void SetThreadName(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (!args[0]->IsString()) return;
  v8::String::Utf8Value name(args.GetIsolate(), args[0]);
  NameWorkerThread(*name);
}

}  // namespace

void InitWorkerNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                       v8::Local<v8::Object> exports) {
  SetMethod(isolate, context, exports, "spawn", Spawn);
  SetMethod(isolate, context, exports, "stopWorker", StopWorker);
  SetMethod(isolate, context, exports, "exitCode", ExitCode);
  SetMethod(isolate, context, exports, "takePayload", TakePayload);
  SetMethod(isolate, context, exports, "markBegun", MarkBegun);
  SetMethod(isolate, context, exports, "keepWarm", KeepWarm);
  SetMethod(isolate, context, exports, "spawnEarly", SpawnEarly);
  SetMethod(isolate, context, exports, "deliver", Deliver);
  SetMethod(isolate, context, exports, "currentThreadId", CurrentThreadIdNative);
  SetMethod(isolate, context, exports, "outOfMemory", OutOfMemory);
  SetMethod(isolate, context, exports, "initFailed", InitFailed);
  SetMethod(isolate, context, exports, "setInitFailed", SetInitFailed);
  SetMethod(isolate, context, exports, "useSnapshot", UseSnapshot);
  SetMethod(isolate, context, exports, "awaitEnvFreed", AwaitEnvFreed);
  SetMethod(isolate, context, exports, "loopTimes", LoopTimes);
  SetMethod(isolate, context, exports, "heapLimitsApplied", HeapLimitsApplied);
  SetMethod(isolate, context, exports, "defaultHeapSizes", DefaultHeapSizes);
  SetMethod(isolate, context, exports, "setThreadName", SetThreadName);
}

}  // namespace corral
