// BroadcastChannel natives: a member is a native port whose endpoint the Rust group feeds
// (src/port/broadcast.rs); posting serializes once and the group copies per member.
#include "shim.h"

extern "C" {
void* corral_bc_join(const char* name);
void corral_bc_leave(const char* name, void* ep);
void corral_bc_post(const char* name, void* ep, void* msg);
}

namespace corral {
namespace {

// join(name) -> a MessagePort that receives the group's messages
void Join(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::String::Utf8Value name(isolate, args[0]);
  v8::Local<v8::Object> port;
  if (NewPortForEndpoint(isolate, isolate->GetCurrentContext(), corral_bc_join(*name)).ToLocal(&port)) {
    args.GetReturnValue().Set(port);
  }
}

// post(port, name, value): DataCloneError (pending) if value cannot be cloned
void Post(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!IsPortObject(isolate, args[0])) return;
  void* ep = PortEndpoint(args[0].As<v8::Object>());
  if (ep == nullptr) return;
  Message* msg = Serialize(isolate, isolate->GetCurrentContext(), args[2], v8::Local<v8::Value>(), nullptr);
  if (msg == nullptr) return;
  v8::String::Utf8Value name(isolate, args[1]);
  corral_bc_post(*name, ep, msg);
}

// leave(port, name): stop receiving (the port itself is closed by the caller)
void Leave(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!IsPortObject(isolate, args[0])) return;
  void* ep = PortEndpoint(args[0].As<v8::Object>());
  if (ep == nullptr) return;
  v8::String::Utf8Value name(isolate, args[1]);
  corral_bc_leave(*name, ep);
}

}  // namespace

void InitBroadcastNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                          v8::Local<v8::Object> exports) {
  v8::Local<v8::Object> bc = v8::Object::New(isolate);
  SetMethod(isolate, context, bc, "join", Join);
  SetMethod(isolate, context, bc, "post", Post);
  SetMethod(isolate, context, bc, "leave", Leave);
  exports->Set(context, Str(isolate, "broadcast"), bc).Check();
}

}  // namespace corral

extern "C" void* corral_message_clone(void* raw) {
  auto* msg = static_cast<corral::Message*>(raw);
  auto* copy = new corral::Message();
  copy->kind = msg->kind;
  copy->number = msg->number;
  copy->data = msg->data;
  if (msg->attached) {
    copy->Attach().shared = msg->attached->shared;
    for (const auto& module : msg->attached->wasm_modules) copy->attached->wasm_modules.push_back(module);
  }
  return copy;
}
