// V8 code caches of corral's own JS modules, kept for the whole process: every worker
// environment compiles the same files at boot (lib/worker_threads/code-cache.js); the first
// leaves its caches here and the others deserialize them instead of parsing and compiling.
#include "shim.h"

#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace corral {
namespace {

struct CodeCaches {
  std::mutex mutex;
  std::unordered_map<std::string, std::shared_ptr<const std::vector<uint8_t>>> by_file;
};

// Never freed: a worker may still be booting while the process exits.
CodeCaches& Caches() {
  static auto* caches = new CodeCaches();
  return *caches;
}

// codeCacheGet(filename) -> Uint8Array (a copy) | undefined
void Get(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsString()) return;
  v8::String::Utf8Value name(isolate, args[0]);
  if (*name == nullptr) return;
  std::shared_ptr<const std::vector<uint8_t>> data;
  {
    CodeCaches& caches = Caches();
    std::lock_guard<std::mutex> lock(caches.mutex);
    auto found = caches.by_file.find(*name);
    if (found == caches.by_file.end()) return;
    data = found->second;
  }
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, data->size());
  if (!data->empty()) memcpy(buffer->Data(), data->data(), data->size());
  args.GetReturnValue().Set(v8::Uint8Array::New(buffer, 0, data->size()));
}

// codeCacheSet(filename, bytes: ArrayBufferView): replaces what was kept for that file
void Set(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsString() || !args[1]->IsArrayBufferView()) return;
  v8::String::Utf8Value name(isolate, args[0]);
  if (*name == nullptr) return;
  v8::Local<v8::ArrayBufferView> view = args[1].As<v8::ArrayBufferView>();
  auto data = std::make_shared<std::vector<uint8_t>>(view->ByteLength());
  view->CopyContents(data->data(), data->size());
  CodeCaches& caches = Caches();
  std::lock_guard<std::mutex> lock(caches.mutex);
  caches.by_file[*name] = std::move(data);
}

}  // namespace

void InitCodeCacheNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                          v8::Local<v8::Object> exports) {
  SetMethod(isolate, context, exports, "codeCacheGet", Get);
  SetMethod(isolate, context, exports, "codeCacheSet", Set);
}

}  // namespace corral
