// Worker natives: hand a worker's start-up spec to Rust (which owns the thread), stop it, read
// its exit code, and, inside the worker, take the boot payload.
#include "shim.h"

#include <climits>
#include <string>

namespace corral {

uint64_t CurrentThreadId();

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
  return obj->Get(context, Str(context->GetIsolate(), key)).ToLocalChecked();
}

// spawn({ argv, execArgv, bootstrap, limits, name }, payload, transferList) -> threadId
void Spawn(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  if (!args[0]->IsObject()) return;
  v8::Local<v8::Object> opts = args[0].As<v8::Object>();

  std::vector<std::string> argv, exec_argv;
  if (!ReadStrings(isolate, context, Field(context, opts, "argv"), &argv) ||
      !ReadStrings(isolate, context, Field(context, opts, "execArgv"), &exec_argv)) {
    return;
  }
  v8::String::Utf8Value bootstrap(isolate, Field(context, opts, "bootstrap"));
  v8::String::Utf8Value name(isolate, Field(context, opts, "name"));
  double limits[4] = {0, 0, 0, 0};
  v8::Local<v8::Value> limit_list = Field(context, opts, "limits");
  if (limit_list->IsArray()) {
    for (uint32_t i = 0; i < 4 && i < limit_list.As<v8::Array>()->Length(); i++) {
      v8::Local<v8::Value> v = limit_list.As<v8::Array>()->Get(context, i).ToLocalChecked();
      if (v->IsNumber()) limits[i] = v.As<v8::Number>()->Value();
    }
  }

  Message* payload = Serialize(isolate, context, args[1], args[2], nullptr);
  if (payload == nullptr) return;  // DataCloneError pending

  std::vector<const char*> argv_c, exec_argv_c;
  for (auto& s : argv) argv_c.push_back(s.c_str());
  for (auto& s : exec_argv) exec_argv_c.push_back(s.c_str());
  CorralWorkerSpec spec{argv_c.data(), argv_c.size(), exec_argv_c.data(), exec_argv_c.size(),
                        *bootstrap, payload, {limits[0], limits[1], limits[2], limits[3]}, *name};
  uint64_t id = corral_thread_spawn(&spec, CurrentThreadId());
  if (id == 0) {
    isolate->ThrowException(v8::Exception::Error(Str(isolate, "corral: could not start a worker thread")));
    return;
  }
  args.GetReturnValue().Set(v8::Number::New(isolate, static_cast<double>(id)));
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

void TakePayload(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  void* raw = corral_thread_take_payload(CurrentThreadId());
  if (raw == nullptr) {
    isolate->ThrowException(v8::Exception::Error(Str(isolate, "corral: no start-up payload for this thread")));
    return;
  }
  std::unique_ptr<Message> msg(static_cast<Message*>(raw));
  v8::Local<v8::Value> value;
  if (Deserialize(isolate, isolate->GetCurrentContext(), msg.get()).ToLocal(&value)) {
    args.GetReturnValue().Set(value);
  }
}

}  // namespace

void InitWorkerNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                       v8::Local<v8::Object> exports) {
  SetMethod(isolate, context, exports, "spawn", Spawn);
  SetMethod(isolate, context, exports, "stopWorker", StopWorker);
  SetMethod(isolate, context, exports, "exitCode", ExitCode);
  SetMethod(isolate, context, exports, "takePayload", TakePayload);
  SetMethod(isolate, context, exports, "outOfMemory", OutOfMemory);
  SetMethod(isolate, context, exports, "loopTimes", LoopTimes);
}

}  // namespace corral
