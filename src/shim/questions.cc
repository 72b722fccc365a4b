// worker.getHeapStatistics() and worker.cpuUsage() answered between the worker's JS steps, as
// Node answers them (node::RequestInterrupt): a worker busy in a long synchronous loop answers
// at once instead of when its loop gets to a request. The answer is made on the worker's thread
// without running JS (V8's rule for interrupts; it may come while the worker is inside any of
// its own calls, so nothing of the serializer's thread state is touched) and goes to the parent
// as a JSON string over the worker's control port, where the loop's answers go
// (lib/worker_threads/worker.js parses it).
#include "shim.h"

#include <sys/resource.h>

#include <memory>
#include <string>

namespace corral {

namespace {

constexpr int32_t kHeapStatistics = 1;
constexpr int32_t kCpuUsage = 2;

struct Question {
  node::Environment* env;
  uint32_t id;
  int32_t op;
};

// The worker's control port lives on its main context's global object under a private key (a
// handle kept elsewhere could outlive the isolate).
v8::Local<v8::Private> PortKey(v8::Isolate* isolate) {
  return v8::Private::ForApi(isolate, Str(isolate, "corral.questionsPort"));
}

void AddField(std::string* json, const char* name, uint64_t value) {
  if (json->size() > 1) *json += ',';
  *json += '"';
  *json += name;
  *json += "\":";
  *json += std::to_string(value);
}

// The fields and order of Node's worker.getHeapStatistics() on this line.
std::string HeapStatisticsJson(v8::Isolate* isolate) {
  v8::HeapStatistics s;
  isolate->GetHeapStatistics(&s);
  std::string json = "{";
  AddField(&json, "total_heap_size", s.total_heap_size());
  AddField(&json, "total_heap_size_executable", s.total_heap_size_executable());
  AddField(&json, "total_physical_size", s.total_physical_size());
  AddField(&json, "total_available_size", s.total_available_size());
  AddField(&json, "used_heap_size", s.used_heap_size());
  AddField(&json, "heap_size_limit", s.heap_size_limit());
  AddField(&json, "malloced_memory", s.malloced_memory());
  AddField(&json, "peak_malloced_memory", s.peak_malloced_memory());
  json += s.does_zap_garbage() ? ",\"does_zap_garbage\":true" : ",\"does_zap_garbage\":false";
  AddField(&json, "number_of_native_contexts", s.number_of_native_contexts());
  AddField(&json, "number_of_detached_contexts", s.number_of_detached_contexts());
  AddField(&json, "total_global_handles_size", s.total_global_handles_size());
  AddField(&json, "used_global_handles_size", s.used_global_handles_size());
  AddField(&json, "external_memory", s.external_memory());
#if NODE_MAJOR_VERSION >= 26
  AddField(&json, "total_allocated_bytes", s.total_allocated_bytes());
#endif
  return json + "}";
}

// This thread's CPU time in microseconds (getrusage of the thread, as Node's).
std::string CpuUsageJson() {
  struct rusage usage {};
  getrusage(RUSAGE_THREAD, &usage);
  std::string json = "{";
  AddField(&json, "user", static_cast<uint64_t>(usage.ru_utime.tv_sec) * 1000000 + usage.ru_utime.tv_usec);
  AddField(&json, "system", static_cast<uint64_t>(usage.ru_stime.tv_sec) * 1000000 + usage.ru_stime.tv_usec);
  return json + "}";
}

// On the worker's thread, between two JS steps (or in FreeEnvironment, which drains what is left:
// then the port is closed and nothing is sent; the parent settles its request at 'exit').
void Answer(void* raw) {
  std::unique_ptr<Question> question(static_cast<Question*>(raw));
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate == nullptr) return;
  v8::HandleScope scope(isolate);
  v8::Local<v8::Context> context = node::GetMainContext(question->env);
  if (context.IsEmpty()) return;
  v8::Local<v8::Value> port;
  if (!context->Global()->GetPrivate(context, PortKey(isolate)).ToLocal(&port)) return;
  void* ep = PortEndpoint(port);
  if (ep == nullptr) return;
  std::string value = question->op == kHeapStatistics ? HeapStatisticsJson(isolate) : CpuUsageJson();
  std::string json = "{\"type\":\"reply\",\"id\":" + std::to_string(question->id) + ",\"value\":" + value + "}";
  std::unique_ptr<Message> msg(new Message());
  msg->kind = Message::Kind::kOneByteString;
  msg->data.assign(json.begin(), json.end());
  corral_ep_send(ep, msg.release());
}

// setQuestionsPort(port): the worker's control port, once its boot has it.
void SetQuestionsPort(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  context->Global()->SetPrivate(context, PortKey(isolate), args[0]).Check();
}

// ask(threadId, requestId, op) -> whether the worker will answer between its steps (false: it
// has no environment to ask; the caller asks its loop instead).
void Ask(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (!args[0]->IsNumber() || !args[1]->IsUint32() || !args[2]->IsInt32()) return;
  int32_t op = args[2].As<v8::Int32>()->Value();
  if (op != kHeapStatistics && op != kCpuUsage) return;
  bool asked = corral_thread_ask(static_cast<uint64_t>(args[0].As<v8::Number>()->Value()),
                                 args[1].As<v8::Uint32>()->Value(), op);
  args.GetReturnValue().Set(asked);
}

}  // namespace

void AskBetweenSteps(node::Environment* env, uint32_t id, int32_t op) {
  node::RequestInterrupt(env, Answer, new Question{env, id, op});
}

void InitQuestionNatives(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> exports) {
  SetMethod(isolate, context, exports, "setQuestionsPort", SetQuestionsPort);
  SetMethod(isolate, context, exports, "askWorker", Ask);
}

}  // namespace corral
