// process._getActiveHandles() and process.getActiveResourcesInfo() as Node's, with corral's ports.
//
// A Node MessagePort is a handle of Node's: while ref'd (a 'message' listener, or ref()) it is in
// both lists, as the port object and as 'MessagePort'. corral's ports are not Node handles, so
// once a thread loads them (listPortsAsHandles, from lib/worker_threads/port.js) the two
// functions of its `process` are wrapped: Node's own result, with this thread's listed ports
// where Node puts its handles (_getActiveHandles: all of them; getActiveResourcesInfo: after
// the requests and handles, before the timers' 'Timeout' and 'Immediate').
#include "shim.h"

#include <cstring>

namespace corral {

namespace {

thread_local bool t_installed = false;

v8::Local<v8::String> Name(v8::Isolate* isolate, const char* text) {
  return v8::String::NewFromUtf8(isolate, text, v8::NewStringType::kInternalized).ToLocalChecked();
}

// Node's result (from the wrapped function, the wrapper's data) and this thread's listed ports.
bool CallOriginal(const v8::FunctionCallbackInfo<v8::Value>& args, v8::Local<v8::Array>* result,
                  std::vector<v8::Local<v8::Object>>* ports) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Value> value;
  if (!args.Data().As<v8::Function>()->Call(context, args.This(), 0, nullptr).ToLocal(&value)) return false;
  args.GetReturnValue().Set(value);
  if (!value->IsArray()) return false;
  ListedPorts(isolate, ports);
  *result = value.As<v8::Array>();
  return !ports->empty();
}

void ActiveHandles(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Local<v8::Array> handles;
  std::vector<v8::Local<v8::Object>> ports;
  if (!CallOriginal(args, &handles, &ports)) return;
  v8::Local<v8::Context> context = args.GetIsolate()->GetCurrentContext();
  uint32_t at = handles->Length();
  for (v8::Local<v8::Object> port : ports) {
    if (handles->Set(context, at++, port).IsNothing()) return;
  }
}

bool IsTimerName(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  if (!value->IsString()) return false;
  v8::String::Utf8Value text(isolate, value);
  return std::strcmp(*text, "Timeout") == 0 || std::strcmp(*text, "Immediate") == 0;
}

void ActiveResourcesInfo(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Local<v8::Array> names;
  std::vector<v8::Local<v8::Object>> ports;
  if (!CallOriginal(args, &names, &ports)) return;
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  uint32_t length = names->Length();
  std::vector<v8::Local<v8::Value>> items;
  items.reserve(length + ports.size());
  for (uint32_t i = 0; i < length; i++) {
    v8::Local<v8::Value> item;
    if (!names->Get(context, i).ToLocal(&item)) return;
    items.push_back(item);
  }
  size_t timers_at = items.size();
  while (timers_at > 0 && IsTimerName(isolate, items[timers_at - 1])) timers_at--;
  v8::Local<v8::String> port_name = Name(isolate, "MessagePort");
  items.insert(items.begin() + static_cast<std::ptrdiff_t>(timers_at), ports.size(), port_name);
  args.GetReturnValue().Set(v8::Array::New(isolate, items.data(), items.size()));
}

void Wrap(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> process,
          const char* name, v8::FunctionCallback callback) {
  v8::Local<v8::String> key = Name(isolate, name);
  v8::Local<v8::Value> original;
  if (!process->Get(context, key).ToLocal(&original) || !original->IsFunction()) return;
  v8::Local<v8::Function> wrapper;
  if (!v8::Function::New(context, callback, original, 0, v8::ConstructorBehavior::kThrow).ToLocal(&wrapper)) return;
  wrapper->SetName(key);
  if (process->Set(context, key, wrapper).IsNothing()) return;
}

// listPortsAsHandles(process): once per thread.
void ListPortsAsHandles(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (t_installed || !args[0]->IsObject()) return;
  t_installed = true;
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Object> process = args[0].As<v8::Object>();
  Wrap(isolate, context, process, "_getActiveHandles", ActiveHandles);
  Wrap(isolate, context, process, "getActiveResourcesInfo", ActiveResourcesInfo);
}

}  // namespace

void InitActiveHandleNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                             v8::Local<v8::Object> exports) {
  v8::Local<v8::Function> fn = v8::Function::New(context, ListPortsAsHandles).ToLocalChecked();
  fn->SetName(Name(isolate, "listPortsAsHandles"));
  exports->Set(context, Name(isolate, "listPortsAsHandles"), fn).Check();
}

}  // namespace corral
