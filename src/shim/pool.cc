// Pool natives: the main thread's pool handle (submit, cancel, results delivered in batches)
// and a pool worker's handle (take the next task on its own thread, complete it). The queue
// and the scheduling are Rust's (src/pool); here are only V8 values and uv_async_t wake-ups.
#include "shim.h"

#include <string>
#include <unordered_set>

extern "C" {
struct CorralPoolTaken {
  uint64_t id;
  void* msg;
  uint8_t* name;
  size_t name_len;
};
struct CorralPoolStats {
  double completed, queued, busy_ns, elapsed_ns;
  double summaries[14];
};
const void* corral_pool_new(uint32_t concurrency, double max_queue, uint32_t min_threads, uint64_t* id);
const void* corral_pool_find(uint64_t id);
void corral_pool_unregister(uint64_t id);
void corral_pool_release(const void* pool);
int64_t corral_pool_submit(const void* pool, uint64_t id, const uint8_t* name, size_t name_len, void* msg,
                           bool exclusive, uint32_t workers_up_to);
bool corral_pool_take(const void* pool, uint64_t worker, CorralPoolTaken* out);
void corral_pool_name_free(uint8_t* name, size_t len);
void corral_pool_complete(const void* pool, uint64_t worker, uint64_t id, uint8_t kind, void* msg);
size_t corral_pool_results(const void* pool, size_t cap, uint64_t* ids, uint8_t* kinds, void** msgs);
void corral_pool_set_result_waker(const void* pool, void* async);
void corral_pool_attach(const void* pool, uint64_t worker, void* async);
void corral_pool_clear_waker(const void* pool, uint64_t worker);
size_t corral_pool_detach(const void* pool, uint64_t worker, uint64_t* lost, size_t cap);
size_t corral_pool_running_on(const void* pool, uint64_t worker);
int64_t corral_pool_cancel(const void* pool, uint64_t id);
bool corral_pool_retire(const void* pool, uint64_t worker);
void corral_pool_close(const void* pool);
size_t corral_pool_drop_queued(const void* pool, uint64_t* ids, size_t cap);
void corral_pool_stats(const void* pool, CorralPoolStats* out);
size_t corral_pool_queued(const void* pool);
}

namespace corral {

uint64_t CurrentThreadId();

namespace {

// Results delivered per wake-up before yielding to the event loop (a re-sent wake-up picks up
// the rest), so a flood of results cannot starve timers and I/O.
constexpr size_t kResultsPerBatch = 256;
constexpr size_t kResultsPerWake = 4096;

// One per pool handle: the main thread's (results) or a worker's (task wake-ups).
struct PoolEnd {
  v8::Isolate* isolate;
  v8::Global<v8::Context> context;
  const void* pool;
  uint64_t pool_id;       // main end: the id it registered; worker end: 0
  uint64_t worker;        // worker end: its threadId; main end: 0
  uv_async_t* async;
  v8::Global<v8::Function> callback;
  v8::Global<v8::Object> object;
  std::string taken_name;  // worker end: the name of the last task taken
};

thread_local std::unordered_set<PoolEnd*>* t_ends = nullptr;
thread_local v8::Global<v8::ObjectTemplate>* t_template = nullptr;

v8::Local<v8::Object> NewHandleObject(v8::Isolate* isolate, v8::Local<v8::Context> context, PoolEnd* end) {
  if (t_template == nullptr) {
    v8::Local<v8::ObjectTemplate> tmpl = v8::ObjectTemplate::New(isolate);
    tmpl->SetInternalFieldCount(1);
    t_template = new v8::Global<v8::ObjectTemplate>(isolate, tmpl);
  }
  v8::Local<v8::Object> obj = t_template->Get(isolate)->NewInstance(context).ToLocalChecked();
  SetWrappedPointer(obj, 0, end);
  end->object.Reset(isolate, obj);
  return obj;
}

PoolEnd* EndOf(v8::Local<v8::Value> value) {
  if (!value->IsObject()) return nullptr;
  v8::Local<v8::Object> obj = value.As<v8::Object>();
  if (obj->InternalFieldCount() != 1) return nullptr;
  auto* end = static_cast<PoolEnd*>(GetWrappedPointer(obj, 0));
  if (end == nullptr || t_ends == nullptr || t_ends->count(end) == 0) return nullptr;
  return end;
}

void Dispose(PoolEnd* end) {
  if (end->worker != 0) {
    corral_pool_clear_waker(end->pool, end->worker);
  } else {
    corral_pool_set_result_waker(end->pool, nullptr);
    corral_pool_unregister(end->pool_id);
  }
  corral_pool_release(end->pool);
  if (!end->object.IsEmpty()) {
    v8::HandleScope scope(end->isolate);
    SetWrappedPointer(end->object.Get(end->isolate), 0, nullptr);
  }
  t_ends->erase(end);
  uv_close(reinterpret_cast<uv_handle_t*>(end->async), [](uv_handle_t* handle) {
    delete static_cast<PoolEnd*>(handle->data);
    delete reinterpret_cast<uv_async_t*>(handle);
  });
}

PoolEnd* NewEnd(v8::Isolate* isolate, v8::Local<v8::Context> context, const void* pool,
                v8::Local<v8::Value> callback, uv_async_cb on_async) {
  if (t_ends == nullptr) t_ends = new std::unordered_set<PoolEnd*>();
  auto* end = new PoolEnd{isolate, v8::Global<v8::Context>(isolate, context), pool, 0, 0, new uv_async_t};
  end->async->data = end;
  uv_async_init(node::GetCurrentEventLoop(isolate), end->async, on_async);
  end->callback.Reset(isolate, callback.As<v8::Function>());
  t_ends->insert(end);
  return end;
}

uint64_t U64(v8::Local<v8::Value> v) {
  return v->IsNumber() ? static_cast<uint64_t>(v.As<v8::Number>()->Value()) : 0;
}

// ---- main thread ----

void OnResults(uv_async_t* handle) {
  auto* end = static_cast<PoolEnd*>(handle->data);
  v8::Isolate* isolate = end->isolate;
  v8::HandleScope scope(isolate);
  v8::Local<v8::Context> context = end->context.Get(isolate);
  v8::Context::Scope context_scope(context);
  uint64_t ids[kResultsPerBatch];
  uint8_t kinds[kResultsPerBatch];
  void* msgs[kResultsPerBatch];
  size_t delivered = 0;
  while (t_ends != nullptr && t_ends->count(end) != 0) {
    if (delivered >= kResultsPerWake) {
      uv_async_send(handle);
      return;
    }
    size_t n = corral_pool_results(end->pool, kResultsPerBatch, ids, kinds, msgs);
    if (n == 0) return;
    delivered += n;
    v8::HandleScope batch_scope(isolate);
    v8::Local<v8::Array> flat = v8::Array::New(isolate, static_cast<int>(n * 3));
    for (size_t i = 0; i < n; i++) {
      std::unique_ptr<Message> msg(static_cast<Message*>(msgs[i]));
      v8::TryCatch try_catch(isolate);
      v8::Local<v8::Value> value;
      uint8_t kind = kinds[i];
      if (!Deserialize(isolate, context, msg.get()).ToLocal(&value)) {
        value = try_catch.HasCaught() ? try_catch.Exception() : v8::Undefined(isolate).As<v8::Value>();
        kind = 0;  // the result could not be read: the task fails with that error
      }
      flat->Set(context, static_cast<uint32_t>(i * 3), v8::Number::New(isolate, static_cast<double>(ids[i]))).Check();
      flat->Set(context, static_cast<uint32_t>(i * 3 + 1), v8::Integer::NewFromUnsigned(isolate, kind)).Check();
      flat->Set(context, static_cast<uint32_t>(i * 3 + 2), value).Check();
    }
    v8::Local<v8::Value> argv[] = {flat};
    v8::Local<v8::Object> recv = end->object.Get(isolate);
    v8::MaybeLocal<v8::Value> result = node::MakeCallback(
        isolate, recv, end->callback.Get(isolate), 1, argv, node::async_context{0, 0});
    if (result.IsEmpty() && isolate->IsExecutionTerminating()) return;
  }
}

// create(concurrency, maxQueue, minThreads, onResults) -> [handle, poolId]
void Create(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  if (!args[3]->IsFunction()) return;
  uint64_t id = 0;
  const void* pool = corral_pool_new(static_cast<uint32_t>(U64(args[0])),
                                     args[1].As<v8::Number>()->Value(),
                                     static_cast<uint32_t>(U64(args[2])), &id);
  PoolEnd* end = NewEnd(isolate, context, pool, args[3], OnResults);
  end->pool_id = id;
  uv_unref(reinterpret_cast<uv_handle_t*>(end->async));  // ref'd while tasks are pending
  v8::Local<v8::Value> out[] = {NewHandleObject(isolate, context, end),
                                v8::Number::New(isolate, static_cast<double>(id))};
  corral_pool_set_result_waker(pool, end->async);
  args.GetReturnValue().Set(v8::Array::New(isolate, out, 2));
}

// submit(handle, taskId, value, transferList, name?, exclusive, workersUpTo) -> status (see
// corral_pool_submit; exclusive: the task runs alone on its worker; workersUpTo: how many
// workers the pool has or may still start)
void Submit(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  PoolEnd* end = EndOf(args[0]);
  if (end == nullptr) return args.GetReturnValue().Set(-2);
  Message* msg = Serialize(isolate, isolate->GetCurrentContext(), args[2], args[3], nullptr);
  if (msg == nullptr) return;  // DataCloneError pending
  int64_t status;
  bool exclusive = args[5]->IsTrue();
  uint32_t workers_up_to = args[6]->IsUint32() ? args[6].As<v8::Uint32>()->Value() : 0;
  if (args[4]->IsString()) {
    v8::String::Utf8Value name(isolate, args[4]);
    status = corral_pool_submit(end->pool, U64(args[1]), reinterpret_cast<const uint8_t*>(*name),
                                name.length(), msg, exclusive, workers_up_to);
  } else {
    status = corral_pool_submit(end->pool, U64(args[1]), nullptr, 0, msg, exclusive, workers_up_to);
  }
  args.GetReturnValue().Set(static_cast<double>(status));
}

void Cancel(const v8::FunctionCallbackInfo<v8::Value>& args) {
  PoolEnd* end = EndOf(args[0]);
  if (end == nullptr) return;
  args.GetReturnValue().Set(static_cast<double>(corral_pool_cancel(end->pool, U64(args[1]))));
}

v8::Local<v8::Array> IdArray(v8::Isolate* isolate, const std::vector<uint64_t>& ids) {
  std::vector<v8::Local<v8::Value>> values;
  values.reserve(ids.size());
  for (uint64_t id : ids) values.push_back(v8::Number::New(isolate, static_cast<double>(id)));
  return v8::Array::New(isolate, values.data(), values.size());
}

// workerGone(handle, threadId) -> ids of the tasks it never finished
void WorkerGone(const v8::FunctionCallbackInfo<v8::Value>& args) {
  PoolEnd* end = EndOf(args[0]);
  if (end == nullptr) return;
  uint64_t worker = U64(args[1]);
  std::vector<uint64_t> lost(corral_pool_running_on(end->pool, worker) + 1);
  size_t n = corral_pool_detach(end->pool, worker, lost.data(), lost.size());
  lost.resize(std::min(n, lost.size()));
  args.GetReturnValue().Set(IdArray(args.GetIsolate(), lost));
}

void Close(const v8::FunctionCallbackInfo<v8::Value>& args) {
  PoolEnd* end = EndOf(args[0]);
  if (end != nullptr) corral_pool_close(end->pool);
}

// dropQueued(handle) -> ids of the queued tasks dropped
void DropQueued(const v8::FunctionCallbackInfo<v8::Value>& args) {
  PoolEnd* end = EndOf(args[0]);
  if (end == nullptr) return;
  std::vector<uint64_t> dropped;
  uint64_t chunk[1024];
  size_t n;
  while ((n = corral_pool_drop_queued(end->pool, chunk, 1024)) > 0) dropped.insert(dropped.end(), chunk, chunk + n);
  args.GetReturnValue().Set(IdArray(args.GetIsolate(), dropped));
}

// stats(handle) -> [completed, queued, busyNs, elapsedNs, run: count mean min max p50 p90 p99,
//                   wait: the same]
void Stats(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  PoolEnd* end = EndOf(args[0]);
  if (end == nullptr) return;
  CorralPoolStats s;
  corral_pool_stats(end->pool, &s);
  v8::Local<v8::Value> values[18];
  double head[] = {s.completed, s.queued, s.busy_ns, s.elapsed_ns};
  for (int i = 0; i < 4; i++) values[i] = v8::Number::New(isolate, head[i]);
  for (int i = 0; i < 14; i++) values[4 + i] = v8::Number::New(isolate, s.summaries[i]);
  args.GetReturnValue().Set(v8::Array::New(isolate, values, 18));
}

void Queued(const v8::FunctionCallbackInfo<v8::Value>& args) {
  PoolEnd* end = EndOf(args[0]);
  args.GetReturnValue().Set(end == nullptr ? 0.0 : static_cast<double>(corral_pool_queued(end->pool)));
}

void Ref(const v8::FunctionCallbackInfo<v8::Value>& args) {
  PoolEnd* end = EndOf(args[0]);
  if (end == nullptr) return;
  auto* handle = reinterpret_cast<uv_handle_t*>(end->async);
  if (args[1]->IsTrue()) uv_ref(handle); else uv_unref(handle);
}

void DisposeNative(const v8::FunctionCallbackInfo<v8::Value>& args) {
  PoolEnd* end = EndOf(args[0]);
  if (end != nullptr) Dispose(end);
}

// ---- pool worker ----

void OnTasks(uv_async_t* handle) {
  auto* end = static_cast<PoolEnd*>(handle->data);
  v8::Isolate* isolate = end->isolate;
  v8::HandleScope scope(isolate);
  v8::Local<v8::Context> context = end->context.Get(isolate);
  v8::Context::Scope context_scope(context);
  node::MakeCallback(isolate, end->object.Get(isolate), end->callback.Get(isolate), 0, nullptr,
                     node::async_context{0, 0});
}

// attach(poolId, onWake) -> handle | undefined (no such pool)
void Attach(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  if (!args[1]->IsFunction()) return;
  const void* pool = corral_pool_find(U64(args[0]));
  if (pool == nullptr) return;
  PoolEnd* end = NewEnd(isolate, context, pool, args[1], OnTasks);
  end->worker = CurrentThreadId();
  v8::Local<v8::Object> obj = NewHandleObject(isolate, context, end);
  corral_pool_attach(pool, end->worker, end->async);
  args.GetReturnValue().Set(obj);
}

// take(handle, meta: Float64Array[3]) -> value; meta = [taken ? 1 : 0, taskId, hasName ? 1 : 0]
void Take(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  PoolEnd* end = EndOf(args[0]);
  if (end == nullptr || !args[1]->IsFloat64Array()) return;
  v8::Local<v8::Float64Array> meta_array = args[1].As<v8::Float64Array>();
  if (meta_array->Length() < 3) return;
  double* meta = reinterpret_cast<double*>(
      static_cast<uint8_t*>(meta_array->Buffer()->Data()) + meta_array->ByteOffset());
  CorralPoolTaken taken;
  if (!corral_pool_take(end->pool, end->worker, &taken)) {
    meta[0] = 0;
    return;
  }
  meta[0] = 1;
  meta[1] = static_cast<double>(taken.id);
  meta[2] = taken.name != nullptr ? 1 : 0;
  if (taken.name != nullptr) {
    end->taken_name.assign(reinterpret_cast<char*>(taken.name), taken.name_len);
    corral_pool_name_free(taken.name, taken.name_len);
  }
  std::unique_ptr<Message> msg(static_cast<Message*>(taken.msg));
  v8::Local<v8::Value> value;
  // A task that cannot be read (messageerror) throws here; the worker fails that task.
  if (Deserialize(isolate, isolate->GetCurrentContext(), msg.get()).ToLocal(&value)) {
    args.GetReturnValue().Set(value);
  }
}

void TakenName(const v8::FunctionCallbackInfo<v8::Value>& args) {
  PoolEnd* end = EndOf(args[0]);
  if (end == nullptr) return;
  args.GetReturnValue().Set(
      v8::String::NewFromUtf8(args.GetIsolate(), end->taken_name.data(), v8::NewStringType::kNormal,
                              static_cast<int>(end->taken_name.size()))
          .ToLocalChecked());
}

// complete(handle, taskId, kind, value): DataCloneError (pending) if value cannot be cloned.
// kind: 0 = failed with value, 1 = value, 2 = failed with [error, its own properties].
void Complete(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  PoolEnd* end = EndOf(args[0]);
  if (end == nullptr) return;
  Message* msg = Serialize(isolate, isolate->GetCurrentContext(), args[3], v8::Local<v8::Value>(), nullptr);
  if (msg == nullptr) return;
  corral_pool_complete(end->pool, end->worker, U64(args[1]),
                       static_cast<uint8_t>(args[2]->Uint32Value(isolate->GetCurrentContext()).FromMaybe(0)), msg);
}

void Retire(const v8::FunctionCallbackInfo<v8::Value>& args) {
  PoolEnd* end = EndOf(args[0]);
  args.GetReturnValue().Set(end != nullptr && corral_pool_retire(end->pool, end->worker));
}

}  // namespace

void ClosePoolEndsOfThisThread() {
  if (t_ends == nullptr) return;
  std::vector<PoolEnd*> ends(t_ends->begin(), t_ends->end());
  for (PoolEnd* end : ends) Dispose(end);
  delete t_template;
  t_template = nullptr;
}

void InitPoolNatives(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> exports) {
  SetMethod(isolate, context, exports, "poolCreate", Create);
  SetMethod(isolate, context, exports, "poolSubmit", Submit);
  SetMethod(isolate, context, exports, "poolCancel", Cancel);
  SetMethod(isolate, context, exports, "poolWorkerGone", WorkerGone);
  SetMethod(isolate, context, exports, "poolClose", Close);
  SetMethod(isolate, context, exports, "poolDropQueued", DropQueued);
  SetMethod(isolate, context, exports, "poolStats", Stats);
  SetMethod(isolate, context, exports, "poolQueued", Queued);
  SetMethod(isolate, context, exports, "poolRef", Ref);
  SetMethod(isolate, context, exports, "poolDispose", DisposeNative);
  SetMethod(isolate, context, exports, "poolAttach", Attach);
  SetMethod(isolate, context, exports, "poolTake", Take);
  SetMethod(isolate, context, exports, "poolTakenName", TakenName);
  SetMethod(isolate, context, exports, "poolComplete", Complete);
  SetMethod(isolate, context, exports, "poolRetire", Retire);
}

}  // namespace corral
