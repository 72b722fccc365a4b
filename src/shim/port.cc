// The native half of MessagePort: an object with an internal field (so the serializer treats it
// as a host object), a Rust endpoint, and a uv_async_t on the owning thread's loop that delivers
// queued messages one node::MakeCallback each (so ticks and microtasks run between messages,
// as in Node). As Node's, a port is an async resource ('MESSAGEPORT') and says 'close' once its
// handle has closed.
#include "shim.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_set>

namespace corral {

void CapturePlatform(v8::Isolate* isolate, v8::Local<v8::Context> context);
void WrapMainExitHandler(v8::Local<v8::Context> context);

namespace {

// At most this many messages per wake-up before yielding to the event loop (more are
// picked up by a re-armed wake-up), so a flooding sender cannot starve timers and I/O.
constexpr int kMaxMessagesPerWake = 1000;

enum DispatchKind { kMessage = 0, kMessageError = 1, kClose = 2 };

struct PortData;

// One per thread that has loaded the addon (every environment runs on its own thread).
struct ThreadState {
  v8::Isolate* isolate = nullptr;
  uv_loop_t* loop = nullptr;
  uint64_t thread_id = 0;
  v8::Global<v8::Context> context;
  v8::Global<v8::FunctionTemplate> port_template;
  v8::Global<v8::Function> port_class;     // MessagePort (the template's function)
  v8::Global<v8::Value> port_token;        // lets native code call its private constructor
  v8::Global<v8::Function> dispatch;       // the ports' emit: emit.call(port, name, value)
  v8::Global<v8::Function> dispatch_in_frame;  // the same, in a port's async context frame
  v8::Global<v8::String> event_names[3];   // 'message', 'messageerror', 'close'
  v8::Global<v8::Private> untransferable;  // looked up by name once (a registry lookup each time)
  std::unordered_set<PortData*> ports;
  std::unordered_set<PortData*> closing;  // destroyed, their uv handles not closed yet
  bool tearing_down = false;  // the environment is going away: no more calls into JS
  Spinner* spinner = nullptr;
  // Ports woken (from any thread) while this thread was spinning; see spin.cc.
  std::mutex ready_mutex;
  std::deque<PortData*> ready;
};

thread_local ThreadState* t_state = nullptr;

struct PortData {
  ThreadState* state;
  void* ep;
  uv_async_t* async;
  // Weak unless receiving or ref'd; after Destroy, strong until 'close' has been said.
  v8::Global<v8::Object> object;
  node::async_context async_context{0, 0};  // async_hooks' MESSAGEPORT (none for internal ports)
  // The async context frame the port was made in (AsyncLocalStorage's stores from Node 24 on;
  // empty when there was none): its events run in it, as a Node port's (an AsyncWrap) do.
  v8::Global<v8::Value> context_frame;
  bool receiving = false;
  bool refed = false;       // as Node's: a port holds the event loop only once ref'd
  bool delivering = false;  // OnAsync is running its loop
  bool closing = false;     // closed by JS while delivering: destroyed when that loop ends
  bool destroyed = false;   // Destroy ran; the uv handle is closing
  bool announced = false;   // a port of the program's (not one of corral's internal channels)
  bool says_close = false;  // its object hears 'close' once the handle has closed
  void* closing_ep = nullptr;  // the endpoint, closed with the handle (see Destroy)
  uint64_t seq = 0;         // creation order on this thread
};

uint64_t g_next_port_seq = 0;  // (each thread's ports are made on that thread only)

// A port holds the event loop while ref'd (a listener refs it), as Node's handle does, and its
// object stays alive while it may still deliver or hold the loop.
void UpdateRef(PortData* pd) {
  if (pd->destroyed) return;
  if (pd->refed) {
    uv_ref(reinterpret_cast<uv_handle_t*>(pd->async));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(pd->async));
  }
}

void OnGarbageCollected(const v8::WeakCallbackInfo<PortData>& info);

void UpdateStrength(PortData* pd) {
  if (pd->destroyed || pd->object.IsEmpty()) return;
  if (pd->receiving || pd->refed) {
    pd->object.ClearWeak();
  } else {
    pd->object.SetWeak(pd, OnGarbageCollected, v8::WeakCallbackType::kParameter);
  }
}

// The async context frame now (V8's continuation-preserved embedder data), if it is a value.
v8::Local<v8::Value> CurrentContextFrame(v8::Isolate* isolate) {
#if V8_MAJOR_VERSION >= 14
  v8::Local<v8::Data> frame = isolate->GetContinuationPreservedEmbedderDataV2();
  if (frame.IsEmpty() || !frame->IsValue()) return v8::Local<v8::Value>();
  return frame.As<v8::Value>();
#elif NODE_MAJOR_VERSION >= 22
  return isolate->GetContinuationPreservedEmbedderData();
#else
  (void)isolate;
  return v8::Local<v8::Value>();
#endif
}

void SetContextFrame(v8::Isolate* isolate, v8::Local<v8::Value> frame) {
#if V8_MAJOR_VERSION >= 14
  isolate->SetContinuationPreservedEmbedderDataV2(frame);
#elif NODE_MAJOR_VERSION >= 22
  isolate->SetContinuationPreservedEmbedderData(frame);
#else
  (void)isolate;
  (void)frame;
#endif
}

// dispatchInFrame(frame, name, value[, ports]), called as the callback of node::MakeCallback
// (which enters no frame of its own from an addon): the port's emit in the frame it was made in.
void DispatchInFrame(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  ThreadState* st = t_state;
  if (st == nullptr || st->dispatch.IsEmpty()) return;
  v8::Local<v8::Value> previous = CurrentContextFrame(isolate);
  SetContextFrame(isolate, args[0]);
  v8::Local<v8::Value> argv[3];
  int argc = std::min(args.Length() - 1, 3);
  for (int i = 0; i < argc; i++) argv[i] = args[i + 1];
  v8::MaybeLocal<v8::Value> result =
      st->dispatch.Get(isolate)->Call(isolate->GetCurrentContext(), args.This(), argc, argv);
  if (!previous.IsEmpty()) SetContextFrame(isolate, previous);
  v8::Local<v8::Value> value;
  if (result.ToLocal(&value)) args.GetReturnValue().Set(value);
}

// port.emit(name, value[, ports]), as its own callback (ticks and microtasks run after it).
bool Dispatch(ThreadState* st, PortData* pd, v8::Local<v8::Object> port, DispatchKind kind,
              v8::Local<v8::Value> value, v8::Local<v8::Value> ports = v8::Local<v8::Value>()) {
  int argc = kind == kClose ? 1 : ports.IsEmpty() ? 2 : 3;
  v8::MaybeLocal<v8::Value> result;
  if (pd->context_frame.IsEmpty() || st->dispatch_in_frame.IsEmpty()) {
    v8::Local<v8::Value> argv[] = {st->event_names[kind].Get(st->isolate), value, ports};
    result = node::MakeCallback(st->isolate, port, st->dispatch.Get(st->isolate), argc, argv, pd->async_context);
  } else {
    v8::Local<v8::Value> argv[] = {pd->context_frame.Get(st->isolate), st->event_names[kind].Get(st->isolate),
                                   value, ports};
    result = node::MakeCallback(st->isolate, port, st->dispatch_in_frame.Get(st->isolate), argc + 1, argv,
                                pd->async_context);
  }
  return !result.IsEmpty();
}

// A closed port's object (if still alive) hears 'close', as a Node port's does once its handle
// has closed, and async_hooks its destroy; then it is freed.
void SayClosed(ThreadState* st, PortData* pd) {
  v8::Isolate* isolate = st->isolate;
  if (!st->tearing_down && !isolate->IsExecutionTerminating()) {
    v8::HandleScope scope(isolate);
    if (pd->says_close && !pd->object.IsEmpty()) {
      v8::Local<v8::Context> context = st->context.Get(isolate);
      v8::Context::Scope context_scope(context);
      Dispatch(st, pd, pd->object.Get(isolate), kClose, v8::Undefined(isolate));
    }
    if (pd->async_context.async_id != 0) node::EmitAsyncDestroy(isolate, pd->async_context);
  }
  pd->object.Reset();
  delete pd->async;
  delete pd;
}

void OnHandleClosed(uv_handle_t* handle) {
  auto* pd = static_cast<PortData*>(handle->data);
  ThreadState* st = pd->state;
  st->closing.erase(pd);
  if (pd->closing_ep != nullptr) corral_ep_close(pd->closing_ep);
  pd->closing_ep = nullptr;
  SayClosed(st, pd);
}

// Frees the endpoint and closes the uv handle; the JS object (if alive) becomes a closed port at
// once and hears 'close' when the handle has closed (`say_close`; else the caller says it).
void Destroy(PortData* pd, bool say_close = true) {
  if (pd->destroyed) return;
  pd->destroyed = true;
  if (pd->ep != nullptr) {
    corral_ep_set_waker(pd->ep, nullptr);
    // The peer learns of the close once this port's handle has closed, as a Node port's peer
    // does (it closes a turn later: 'close' on this port first, then on a peer on this thread).
    if (pd->state->tearing_down) {
      corral_ep_close(pd->ep);
    } else {
      pd->closing_ep = pd->ep;
    }
    pd->ep = nullptr;
  }
  if (!pd->object.IsEmpty()) {
    v8::HandleScope scope(pd->state->isolate);
    SetWrappedPointer(pd->object.Get(pd->state->isolate), 0, nullptr);
    if (say_close) {
      pd->object.ClearWeak();
    } else {
      pd->object.Reset();
    }
  }
  pd->state->ports.erase(pd);
  pd->state->closing.insert(pd);
  pd->says_close = say_close;
  {
    std::lock_guard<std::mutex> lock(pd->state->ready_mutex);
    auto& ready = pd->state->ready;
    ready.erase(std::remove(ready.begin(), ready.end(), pd), ready.end());
  }
  uv_close(reinterpret_cast<uv_handle_t*>(pd->async), OnHandleClosed);
}

void OnGarbageCollected(const v8::WeakCallbackInfo<PortData>& info) {
  PortData* pd = info.GetParameter();
  pd->object.Reset();
  Destroy(pd);
}

void SetReceiving(PortData* pd, bool receiving) {
  pd->receiving = receiving;
  UpdateStrength(pd);
}

void OnAsync(uv_async_t* handle) {
  PortData* pd = static_cast<PortData*>(handle->data);
  ThreadState* st = pd->state;
  if (pd->destroyed || pd->object.IsEmpty() || pd->ep == nullptr) return;
  if (!pd->delivering) NoteLoopWake(st->spinner);
  v8::Isolate* isolate = st->isolate;
  v8::HandleScope scope(isolate);
  v8::Local<v8::Context> context = st->context.Get(isolate);
  v8::Context::Scope context_scope(context);
  v8::Local<v8::Object> port = pd->object.Get(isolate);

  pd->delivering = true;
  bool peer_closed = false;
  for (int n = 0; !pd->destroyed; n++) {
    if (n == kMaxMessagesPerWake) {
      if (pd->closing) break;
      pd->delivering = false;
      uv_async_send(handle);
      return;
    }
    void* raw = nullptr;
    int32_t got = corral_ep_pop(pd->ep, pd->receiving ? &raw : nullptr);
    if (got == 0) break;
    if (got == 2) {
      peer_closed = true;
      break;
    }
    std::unique_ptr<Message> msg(static_cast<Message*>(raw));
    v8::HandleScope message_scope(isolate);
    v8::Local<v8::Value> value;
    std::vector<v8::Local<v8::Object>> ports;
    DispatchKind kind = kMessage;
    {
      // Only deserialization is caught (it becomes 'messageerror'); a listener's exception
      // must reach Node's uncaught-exception handling, as it does for Node's ports.
      v8::TryCatch try_catch(isolate);
      if (!Deserialize(isolate, context, msg.get(), &ports).ToLocal(&value)) {
        if (try_catch.HasTerminated()) {
          pd->delivering = false;
          return;
        }
        kind = kMessageError;
        value = try_catch.HasCaught() ? try_catch.Exception() : v8::Undefined(isolate).As<v8::Value>();
      }
    }
    msg.reset();
    if (st->spinner != nullptr) {
      st->spinner->deliveries++;
      st->spinner->ipc_last = false;
    }
    v8::Local<v8::Value> port_list;
    if (!ports.empty() && kind == kMessage) {
      port_list = v8::Array::New(isolate, reinterpret_cast<v8::Local<v8::Value>*>(ports.data()), ports.size());
    }
    if (!Dispatch(st, pd, port, kind, value, port_list) && isolate->IsExecutionTerminating()) {
      pd->delivering = false;
      return;
    }
  }
  pd->delivering = false;
  // As Node's: a port closed by its own listener still delivers what had already arrived, and
  // closes once that is done. A closed peer closes this port too: a port of the program's says
  // it once its handle has closed, after the peer's 'close' if that is on this thread (as in
  // Node); one of corral's internal channels says it at once, in this poll phase (a worker's
  // 'exit' follows from its control port's).
  if (peer_closed && !pd->destroyed) {
    pd->closing = false;
    if (pd->announced) {
      Destroy(pd);
    } else {
      Destroy(pd, false);
      Dispatch(st, pd, port, kClose, v8::Undefined(isolate));
    }
  } else if (pd->closing) {
    Destroy(pd);
  }
}

// The spinner's drain: delivers the ports woken while it spun. One at a time, since a
// listener may close (and so unlist) another ready port.
void DeliverReady(void* arg) {
  ThreadState* st = static_cast<ThreadState*>(arg);
  for (;;) {
    PortData* pd;
    {
      std::lock_guard<std::mutex> lock(st->ready_mutex);
      if (st->ready.empty()) return;
      pd = st->ready.front();
      st->ready.pop_front();
    }
    OnAsync(pd->async);
  }
}

// Called by a sender's thread (under the receiving endpoint's lock) when a port has news.
void Wake(PortData* pd) {
  ThreadState* st = pd->state;
  Spinner* spinner = st->spinner;
  if (spinner != nullptr && spinner->spinning.load()) {
    {
      std::lock_guard<std::mutex> lock(st->ready_mutex);
      st->ready.push_back(pd);
    }
    if (RingSpinner(spinner)) return;
    // The spin ended meanwhile: wake the loop as usual (a second delivery attempt is harmless).
  }
  uv_async_send(pd->async);
}

PortData* GetPortData(v8::Local<v8::Value> value) {
  if (t_state == nullptr || !IsPortObject(t_state->isolate, value)) return nullptr;
  return static_cast<PortData*>(GetWrappedPointer(value.As<v8::Object>(), 0));
}

// A MessagePort method's receiver: its data (null once closed or transferred), or false after
// throwing Node's "Illegal invocation" when it is no MessagePort at all.
bool ReceiverPort(const v8::FunctionCallbackInfo<v8::Value>& args, PortData** out) {
  v8::Isolate* isolate = args.GetIsolate();
  if (t_state == nullptr || !IsPortObject(isolate, args[0])) {
    isolate->ThrowException(v8::Exception::TypeError(Str(isolate, "Illegal invocation")));
    return false;
  }
  *out = static_cast<PortData*>(GetWrappedPointer(args[0].As<v8::Object>(), 0));
  return true;
}

// `announce`: an async resource for async_hooks, as Node's ports are (corral's own internal
// channels, which stand for Node's worker handle, are not).
void Attach(ThreadState* st, v8::Local<v8::Object> object, void* ep, bool announce = true) {
  auto* pd = new PortData{st, ep, new uv_async_t};
  pd->async->data = pd;
  uv_async_init(st->loop, pd->async, OnAsync);
  pd->object.Reset(st->isolate, object);
  SetWrappedPointer(object, 0, pd);
  st->ports.insert(pd);
  pd->seq = ++g_next_port_seq;
  pd->announced = announce;
  UpdateRef(pd);
  UpdateStrength(pd);
  if (announce) {
    pd->async_context = node::EmitAsyncInit(st->isolate, object, "MESSAGEPORT");
    v8::Local<v8::Value> frame = CurrentContextFrame(st->isolate);
    if (!frame.IsEmpty() && !frame->IsUndefined()) pd->context_frame.Reset(st->isolate, frame);
  }
  corral_ep_set_waker(ep, pd);  // wakes at once if messages are already queued
}

// Throws a TypeError with a `code`, as Node's native errors are made.
void ThrowTypeError(v8::Isolate* isolate, const char* code, const char* message) {
  v8::Local<v8::Object> err = v8::Exception::TypeError(Str(isolate, message)).As<v8::Object>();
  err->Set(isolate->GetCurrentContext(), Str(isolate, "code"), Str(isolate, code)).Check();
  isolate->ThrowException(err);
}

// ---- natives exposed to lib/worker_threads ----

// MessagePort itself: only corral makes ports (with its token), as only Node makes its own.
void PortConstructor(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  ThreadState* st = t_state;
  if (!args.IsConstructCall() || st == nullptr || st->port_token.IsEmpty() ||
      !args[0]->StrictEquals(st->port_token.Get(isolate))) {
    ThrowTypeError(isolate, "ERR_CONSTRUCT_CALL_INVALID", "Constructor cannot be called");
    return;
  }
  SetWrappedPointer(args.This(), 0, nullptr);
}

// setup(PortClass, token, emit)
void Setup(const v8::FunctionCallbackInfo<v8::Value>& args) {
  ThreadState* st = t_state;
  const char* names[] = {"message", "messageerror", "close"};
  for (int i = 0; i < 3; i++) {
    st->event_names[i].Reset(st->isolate, v8::String::NewFromUtf8(st->isolate, names[i],
                                                                   v8::NewStringType::kInternalized)
                                              .ToLocalChecked());
  }
  st->port_class.Reset(st->isolate, args[0].As<v8::Function>());
  st->port_token.Reset(st->isolate, args[1]);
  st->dispatch.Reset(st->isolate, args[2].As<v8::Function>());
  v8::Local<v8::Function> in_frame;
  if (v8::Function::New(st->isolate->GetCurrentContext(), DispatchInFrame).ToLocal(&in_frame)) {
    st->dispatch_in_frame.Reset(st->isolate, in_frame);
  }
}

// entangle(port1, port2, announce)
void Entangle(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (!IsPortObject(args.GetIsolate(), args[0]) || !IsPortObject(args.GetIsolate(), args[1])) return;
  void* a;
  void* b;
  corral_ep_pair(&a, &b);
  bool announce = !args[2]->IsFalse();
  Attach(t_state, args[0].As<v8::Object>(), a, announce);
  Attach(t_state, args[1].As<v8::Object>(), b, announce);
}

// post(port, value, transferList) -> 'lost' when the list held this port's own peer: the message
// is dropped and the channel closes (Node warns so); otherwise whether the other side took it
// (undefined from a closed port, which still serializes, to throw what Node throws).
void Post(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  PortData* pd = nullptr;
  if (!ReceiverPort(args, &pd)) return;
  void* ep = pd != nullptr ? pd->ep : nullptr;
  std::unique_ptr<Message> msg(Serialize(isolate, isolate->GetCurrentContext(), args[1], args[2], ep));
  if (!msg || ep == nullptr) return;  // exception pending, or closed
  if (msg->attached) {
    for (void* moved : msg->attached->ports) {
      if (corral_ep_entangled(moved, ep)) {
        args.GetReturnValue().Set(Str(isolate, "lost"));
        return;  // freeing the message closes the peer it carries
      }
    }
  }
  args.GetReturnValue().Set(corral_ep_send(ep, msg.release()));
}

void Start(const v8::FunctionCallbackInfo<v8::Value>& args) {
  PortData* pd = nullptr;
  if (!ReceiverPort(args, &pd) || pd == nullptr || pd->ep == nullptr) return;
  SetReceiving(pd, true);
  // Deliver what came before the listener. Only then: a needless wake-up would be one more
  // event on the loop, which ends a spin (spin.cc), and a Worker's port is started again at
  // every once('message') (its listeners ref and start it, as Node's do).
  if (corral_ep_has_news(pd->ep)) uv_async_send(pd->async);
}

void Stop(const v8::FunctionCallbackInfo<v8::Value>& args) {
  PortData* pd = GetPortData(args[0]);
  if (pd != nullptr && pd->ep != nullptr) SetReceiving(pd, false);
}

void Ref(const v8::FunctionCallbackInfo<v8::Value>& args) {
  PortData* pd = nullptr;
  if (!ReceiverPort(args, &pd) || pd == nullptr) return;
  pd->refed = args[1]->IsTrue();
  UpdateRef(pd);
  UpdateStrength(pd);
}

// hasRef(port) -> undefined when `port` is not an open port (Node's handle is gone), else bool.
void HasRef(const v8::FunctionCallbackInfo<v8::Value>& args) {
  PortData* pd = nullptr;
  if (!ReceiverPort(args, &pd)) return;
  if (pd != nullptr && pd->ep != nullptr) args.GetReturnValue().Set(pd->refed);
}

// close(port): closes both sides; the other side learns it through its own wake-up. From the
// port's own listener, what has already arrived is still delivered first (as in Node); either
// way the port is detached for JS at once.
void Close(const v8::FunctionCallbackInfo<v8::Value>& args) {
  PortData* pd = nullptr;
  if (!ReceiverPort(args, &pd) || pd == nullptr) return;
  if (pd->delivering) {
    pd->closing = true;
    SetWrappedPointer(args[0].As<v8::Object>(), 0, nullptr);
    return;
  }
  Destroy(pd);
}

void IsAttached(const v8::FunctionCallbackInfo<v8::Value>& args) {
  PortData* pd = GetPortData(args[0]);
  args.GetReturnValue().Set(pd != nullptr && pd->ep != nullptr);
}

// isPort(value): a MessagePort of corral's, open or not
void IsPort(const v8::FunctionCallbackInfo<v8::Value>& args) {
  args.GetReturnValue().Set(IsPortObject(args.GetIsolate(), args[0]));
}

// receive(port) -> { message } | undefined   (receiveMessageOnPort)
void Receive(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  PortData* pd = GetPortData(args[0]);
  if (pd == nullptr || pd->ep == nullptr) return;
  void* raw = nullptr;
  int32_t got = corral_ep_pop(pd->ep, &raw);
  if (got != 1) {
    if (got == 2) uv_async_send(pd->async);  // let the wake-up deliver 'close'
    return;
  }
  std::unique_ptr<Message> msg(static_cast<Message*>(raw));
  // The last message before the peer's close: the port closes now, as Node's does, even when
  // it is not receiving (its own wake-up for the close came while the message was still there).
  if (corral_ep_drained_and_closed(pd->ep)) uv_async_send(pd->async);
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Value> value;
  if (!Deserialize(isolate, context, msg.get()).ToLocal(&value)) return;
  v8::Local<v8::Object> wrapper = v8::Object::New(isolate);
  wrapper->Set(context, pd->state->event_names[kMessage].Get(isolate), value).Check();
  args.GetReturnValue().Set(wrapper);
}

// structuredClone-like round trip used by tests and by workerData validation.
void Clone(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  std::unique_ptr<Message> msg(Serialize(isolate, context, args[0], args[1], nullptr));
  if (!msg) return;
  v8::Local<v8::Value> value;
  if (Deserialize(isolate, context, msg.get()).ToLocal(&value)) args.GetReturnValue().Set(value);
}

// markAsUntransferable: a private property, invisible to the program.
v8::Local<v8::Private> UntransferableKey(v8::Isolate* isolate) {
  ThreadState* st = t_state;
  if (st == nullptr || st->isolate != isolate) return v8::Private::ForApi(isolate, Str(isolate, "corral:untransferable"));
  if (st->untransferable.IsEmpty()) {
    st->untransferable.Reset(isolate, v8::Private::ForApi(isolate, Str(isolate, "corral:untransferable")));
  }
  return st->untransferable.Get(isolate);
}

void MarkUntransferable(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (!args[0]->IsObject()) return;
  v8::Isolate* isolate = args.GetIsolate();
  args[0].As<v8::Object>()
      ->SetPrivate(isolate->GetCurrentContext(), UntransferableKey(isolate), v8::True(isolate))
      .Check();
}

void SetPortAliasesNative(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (args[0]->IsArray()) SetPortAliases(args.GetIsolate(), args[0].As<v8::Array>());
}

void SetJsTransferablesNative(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (args[0]->IsArray()) SetJsTransferables(args.GetIsolate(), args[0].As<v8::Array>());
}


void SetJsTransferableFactoryNative(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (args[0]->IsFunction()) SetJsTransferableFactory(args.GetIsolate(), args[0].As<v8::Function>());
}

void SetNodeObjectDescriberNative(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (args[0]->IsFunction()) SetNodeObjectDescriber(args.GetIsolate(), args[0].As<v8::Function>());
}

void MarkUncloneableNative(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (args[0]->IsObject()) MarkUncloneable(args.GetIsolate(), args[0].As<v8::Object>());
}

void IsMarkedUntransferable(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  bool marked = args[0]->IsObject() &&
                args[0].As<v8::Object>()->HasPrivate(isolate->GetCurrentContext(), UntransferableKey(isolate))
                    .FromMaybe(false);
  args.GetReturnValue().Set(marked);
}

void Cleanup(void* arg) {
  ThreadState* st = static_cast<ThreadState*>(arg);
  st->tearing_down = true;
  {
    v8::HandleScope scope(st->isolate);
    ClosePoolEndsOfThisThread();
    std::vector<PortData*> ports(st->ports.begin(), st->ports.end());
    for (PortData* pd : ports) Destroy(pd);
    StopSpinner(st->spinner);
    st->spinner = nullptr;
  }
  // Let the uv_close callbacks run so nothing outlives the loop.
  uv_run(st->loop, UV_RUN_NOWAIT);
  if (t_state == st) t_state = nullptr;
  delete st;
}

// Runs before Cleanup (registered after it), while the thread state is alive: its id may have
// changed since (a warm thread takes its worker's id when claimed).
void StopJoinChildren(void* arg) {
  corral_thread_stop_join(static_cast<ThreadState*>(arg)->thread_id, false);
}

}  // namespace

void* PortEndpoint(v8::Local<v8::Value> port) {
  PortData* pd = GetPortData(port);
  return pd != nullptr ? pd->ep : nullptr;
}

bool IsPortObject(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  return t_state != nullptr && value->IsObject() &&
         t_state->port_template.Get(isolate)->HasInstance(value);
}

void ListedPorts(v8::Isolate* isolate, std::vector<v8::Local<v8::Object>>* out) {
  ThreadState* st = t_state;
  if (st == nullptr || st->tearing_down) return;
  // As Node's handles: listed until closed, not only until close() (a closing one is still
  // there in the turn that closed it).
  std::vector<PortData*> listed;
  for (const auto* set : {&st->ports, &st->closing}) {
    for (PortData* pd : *set) {
      if (pd->announced && pd->refed && !pd->object.IsEmpty()) listed.push_back(pd);
    }
  }
  std::sort(listed.begin(), listed.end(), [](PortData* a, PortData* b) { return a->seq < b->seq; });
  for (PortData* pd : listed) out->push_back(pd->object.Get(isolate));
}

void* PortEndpoint(v8::Local<v8::Object> port) {
  auto* pd = static_cast<PortData*>(GetWrappedPointer(port, 0));
  return pd != nullptr ? pd->ep : nullptr;
}

void* DetachPortEndpoint(v8::Local<v8::Object> port) {
  auto* pd = static_cast<PortData*>(GetWrappedPointer(port, 0));
  if (pd == nullptr || pd->ep == nullptr) return nullptr;
  void* ep = pd->ep;
  corral_ep_set_waker(ep, nullptr);
  pd->ep = nullptr;  // Destroy must not close the endpoint: it travels on
  Destroy(pd);
  return ep;
}

v8::MaybeLocal<v8::Object> NewPortForEndpoint(v8::Isolate* isolate, v8::Local<v8::Context> context,
                                              void* endpoint) {
  ThreadState* st = t_state;
  if (st == nullptr || st->port_class.IsEmpty()) return {};
  v8::Local<v8::Value> argv[] = {st->port_token.Get(isolate)};
  v8::Local<v8::Object> port;
  if (!st->port_class.Get(isolate)->NewInstance(context, 1, argv).ToLocal(&port)) return {};
  Attach(st, port, endpoint);
  return port;
}

void SetMethod(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> target,
               const char* name, v8::FunctionCallback callback) {
  v8::Local<v8::Function> fn = v8::Function::New(context, callback).ToLocalChecked();
  fn->SetName(Str(isolate, name));
  target->Set(context, Str(isolate, name), fn).Check();
}

v8::Local<v8::Value> ToLocal(napi_value value) {
  v8::Local<v8::Value> local;
  static_assert(sizeof(local) == sizeof(value), "napi_value is a v8::Local");
  memcpy(static_cast<void*>(&local), &value, sizeof(value));
  return local;
}

napi_value ToNapi(v8::Local<v8::Value> local) {
  napi_value value;
  memcpy(static_cast<void*>(&value), &local, sizeof(local));
  return value;
}

void InitPorts(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> exports) {
  v8::Local<v8::FunctionTemplate> tmpl = v8::FunctionTemplate::New(isolate, PortConstructor);
  tmpl->SetClassName(Str(isolate, "MessagePort"));
  tmpl->InstanceTemplate()->SetInternalFieldCount(1);
  t_state->port_template.Reset(isolate, tmpl);
  exports->Set(context, Str(isolate, "MessagePort"), tmpl->GetFunction(context).ToLocalChecked()).Check();
  SetMethod(isolate, context, exports, "setup", Setup);
  SetMethod(isolate, context, exports, "entangle", Entangle);
  SetMethod(isolate, context, exports, "post", Post);
  SetMethod(isolate, context, exports, "start", Start);
  SetMethod(isolate, context, exports, "stop", Stop);
  SetMethod(isolate, context, exports, "ref", Ref);
  SetMethod(isolate, context, exports, "hasRef", HasRef);
  SetMethod(isolate, context, exports, "close", Close);
  SetMethod(isolate, context, exports, "isAttached", IsAttached);
  SetMethod(isolate, context, exports, "isPort", IsPort);
  SetMethod(isolate, context, exports, "receive", Receive);
  SetMethod(isolate, context, exports, "clone", Clone);
  SetMethod(isolate, context, exports, "markUntransferable", MarkUntransferable);
  SetMethod(isolate, context, exports, "markUncloneable", MarkUncloneableNative);
  SetMethod(isolate, context, exports, "setPortAliases", SetPortAliasesNative);
  SetMethod(isolate, context, exports, "setJsTransferables", SetJsTransferablesNative);
  SetMethod(isolate, context, exports, "setJsTransferableFactory", SetJsTransferableFactoryNative);
  SetMethod(isolate, context, exports, "setNodeObjectDescriber", SetNodeObjectDescriberNative);
  SetMethod(isolate, context, exports, "isMarkedUntransferable", IsMarkedUntransferable);
}

uint64_t CurrentThreadId() { return t_state != nullptr ? t_state->thread_id : 0; }

v8::Local<v8::Context> ThreadContext(v8::Isolate* isolate) {
  if (t_state == nullptr || t_state->isolate != isolate || t_state->tearing_down) return {};
  return t_state->context.Get(isolate);
}

void SetCurrentThreadId(uint64_t id) {
  if (t_state != nullptr) t_state->thread_id = id;
}

}  // namespace corral

// IPC channels (src/ipc) deliver messages on this thread too: the spinner counts them.
extern "C" void corral_spin_note_delivery() {
  if (corral::t_state != nullptr && corral::t_state->spinner != nullptr) {
    // An IPC message always comes through the loop: one just after a spin gave up was most
    // likely waiting for this CPU (a unix socket's write wakes the peer beside its writer,
    // expecting the writer to sleep), as for a port woken through the loop (spin.cc).
    corral::NoteLoopWake(corral::t_state->spinner);
    corral::t_state->spinner->deliveries++;
    corral::t_state->spinner->ipc_last = true;
  }
}

// An IPC channel of this thread has a doorbell (src/ipc/bell.rs): its spinner watches `word`
// while `on`, until the channel closes.
extern "C" void corral_spin_watch(const void* word, bool on) {
  if (corral::t_state == nullptr || corral::t_state->spinner == nullptr) return;
  auto& bells = corral::t_state->spinner->bells;
  auto* bell = static_cast<const std::atomic<uint32_t>*>(word);
  auto at = std::find(bells.begin(), bells.end(), bell);
  if (on && at == bells.end()) bells.push_back(bell);
  if (!on && at != bells.end()) bells.erase(at);
}

extern "C" void corral_port_wake(void* waker) {
  corral::Wake(static_cast<corral::PortData*>(waker));
}

extern "C" napi_value corral_shim_init(napi_env env, napi_value exports, uint64_t thread_id) {
  using namespace corral;
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Object> target = v8::Object::New(isolate);
  if (t_state == nullptr) {
    auto* st = new ThreadState();
    st->isolate = isolate;
    napi_get_uv_event_loop(env, &st->loop);
    st->thread_id = thread_id;
    st->context.Reset(isolate, context);
    t_state = st;
    st->spinner = StartSpinner(st->loop, DeliverReady, st);
    napi_add_env_cleanup_hook(env, Cleanup, st);
    if (thread_id == 0) {
      CapturePlatform(isolate, context);
      WrapMainExitHandler(context);
    }
    // Registered last so it runs first: workers started here stop before ports go away.
    napi_add_env_cleanup_hook(env, StopJoinChildren, st);
  }
  InitPorts(isolate, context, target);
  InitWorkerNatives(isolate, context, target);
  InitQuestionNatives(isolate, context, target);
  InitBroadcastNatives(isolate, context, target);
  InitSharedNatives(isolate, context, target);
  InitPoolNatives(isolate, context, target);
  InitIpcCodecNatives(isolate, context, target);
  InitProfilerNatives(isolate, context, target);
  InitMailboxNatives(isolate, context, target);
  InitCodeCacheNatives(isolate, context, target);
  InitActiveHandleNatives(isolate, context, target);
  InitEnvObjectNatives(isolate, context, target);
  target->Set(context, Str(isolate, "threadId"),
              v8::Number::New(isolate, static_cast<double>(thread_id))).Check();
  ToLocal(exports).As<v8::Object>()->Set(context, Str(isolate, "native"), target).Check();
  return exports;
}
