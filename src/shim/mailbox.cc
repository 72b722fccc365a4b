// postMessageToThread natives: a thread's mailbox is a native port fed by the Rust registry
// (src/port/mailbox.rs); posting serializes here and hands the message to the registry.
#include "shim.h"

extern "C" {
void* corral_mailbox_open(uint64_t thread_id);
bool corral_mailbox_post(uint64_t thread_id, void* msg);
bool corral_mailbox_exists(uint64_t thread_id);
}

namespace corral {
namespace {

// open() -> a MessagePort receiving what other threads post to this one
void Open(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Object> port;
  if (NewPortForEndpoint(isolate, isolate->GetCurrentContext(), corral_mailbox_open(CurrentThreadId()))
          .ToLocal(&port)) {
    args.GetReturnValue().Set(port);
  }
}

// post(threadId, value, transferList) -> false if that thread has no mailbox; DataCloneError
// (pending) if value cannot be cloned
void Post(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsNumber()) {
    args.GetReturnValue().Set(false);
    return;
  }
  double id = args[0].As<v8::Number>()->Value();
  // As Node (posting from the main thread): a thread that is not there fails before the value
  // is cloned.
  if (!(id >= 0 && id == static_cast<double>(static_cast<uint64_t>(id))) ||
      !corral_mailbox_exists(static_cast<uint64_t>(id))) {
    args.GetReturnValue().Set(false);
    return;
  }
  Message* msg = Serialize(isolate, isolate->GetCurrentContext(), args[1], args[2], nullptr);
  if (msg == nullptr) return;
  args.GetReturnValue().Set(corral_mailbox_post(static_cast<uint64_t>(id), msg));
}

}  // namespace

void InitMailboxNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                        v8::Local<v8::Object> exports) {
  v8::Local<v8::Object> mailbox = v8::Object::New(isolate);
  SetMethod(isolate, context, mailbox, "open", Open);
  SetMethod(isolate, context, mailbox, "post", Post);
  exports->Set(context, Str(isolate, "mailbox"), mailbox).Check();
}

}  // namespace corral
