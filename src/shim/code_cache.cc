// V8 code caches of corral's own JS modules, kept for the whole process: every worker
// environment compiles the same files at boot (lib/worker_threads/code-cache.js); the first
// leaves its caches here and the others deserialize them instead of parsing and compiling.
// (codeCacheGet / codeCacheSet: for tests.)
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

std::shared_ptr<const std::vector<uint8_t>> Find(const std::string& filename) {
  CodeCaches& caches = Caches();
  std::lock_guard<std::mutex> lock(caches.mutex);
  auto found = caches.by_file.find(filename);
  return found == caches.by_file.end() ? nullptr : found->second;
}

void Keep(const std::string& filename, std::shared_ptr<const std::vector<uint8_t>> data) {
  CodeCaches& caches = Caches();
  std::lock_guard<std::mutex> lock(caches.mutex);
  caches.by_file[filename] = std::move(data);
}

// compileModule(source, filename) -> [function(exports, require, module, __filename,
// __dirname), fresh]: the module's function as Node's CommonJS loader compiles it, from the
// file's kept cache where V8 accepts it (`fresh`: compiled from source, its cache is to be made).
void CompileModule(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsString() || !args[1]->IsString()) return;
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::String::Utf8Value name(isolate, args[1]);
  if (*name == nullptr) return;
  std::shared_ptr<const std::vector<uint8_t>> kept = Find(*name);
#if V8_MAJOR_VERSION >= 12
  v8::ScriptOrigin origin(args[1]);
#else
  v8::ScriptOrigin origin(isolate, args[1]);
#endif
  // (The kept bytes outlive the compile: `kept` holds them.)
  auto* cached = kept ? new v8::ScriptCompiler::CachedData(kept->data(), static_cast<int>(kept->size()),
                                                           v8::ScriptCompiler::CachedData::BufferNotOwned)
                      : nullptr;
  v8::ScriptCompiler::Source source(args[0].As<v8::String>(), origin, cached);
  v8::Local<v8::String> params[] = {Str(isolate, "exports"), Str(isolate, "require"), Str(isolate, "module"),
                                    Str(isolate, "__filename"), Str(isolate, "__dirname")};
  v8::Local<v8::Function> fn;
  if (!v8::ScriptCompiler::CompileFunction(context, &source, 5, params, 0, nullptr,
                                           cached ? v8::ScriptCompiler::kConsumeCodeCache
                                                  : v8::ScriptCompiler::kNoCompileOptions)
           .ToLocal(&fn)) {
    return;  // a SyntaxError, pending
  }
  bool fresh = cached == nullptr || source.GetCachedData()->rejected;
  v8::Local<v8::Value> result[] = {fn, v8::Boolean::New(isolate, fresh)};
  args.GetReturnValue().Set(v8::Array::New(isolate, result, 2));
}

// keepModuleCache(filename, fn): the code cache of a module function compiled from source (with
// the functions it has compiled since), for the process's next environments
void KeepModuleCache(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsString() || !args[1]->IsFunction()) return;
  v8::String::Utf8Value name(isolate, args[0]);
  if (*name == nullptr) return;
  std::unique_ptr<v8::ScriptCompiler::CachedData> data(
      v8::ScriptCompiler::CreateCodeCacheForFunction(args[1].As<v8::Function>()));
  if (!data || data->length <= 0) return;
  Keep(*name, std::make_shared<const std::vector<uint8_t>>(data->data, data->data + data->length));
}

// codeCacheGet(filename) -> Uint8Array (a copy) | undefined
void Get(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsString()) return;
  v8::String::Utf8Value name(isolate, args[0]);
  if (*name == nullptr) return;
  std::shared_ptr<const std::vector<uint8_t>> data = Find(*name);
  if (!data) return;
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, data->size());
  if (!data->empty()) memcpy(buffer->Data(), data->data(), data->size());
  args.GetReturnValue().Set(v8::Uint8Array::New(buffer, 0, data->size()));
}

// codeCacheSet(filename, bytes: ArrayBufferView): replaces what is kept for that file
void Set(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsString() || !args[1]->IsArrayBufferView()) return;
  v8::String::Utf8Value name(isolate, args[0]);
  if (*name == nullptr) return;
  v8::Local<v8::ArrayBufferView> view = args[1].As<v8::ArrayBufferView>();
  auto data = std::make_shared<std::vector<uint8_t>>(view->ByteLength());
  view->CopyContents(data->data(), data->size());
  Keep(*name, std::move(data));
}

}  // namespace

void InitCodeCacheNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                          v8::Local<v8::Object> exports) {
  SetMethod(isolate, context, exports, "compileModule", CompileModule);
  SetMethod(isolate, context, exports, "keepModuleCache", KeepModuleCache);
  SetMethod(isolate, context, exports, "codeCacheGet", Get);
  SetMethod(isolate, context, exports, "codeCacheSet", Set);
}

}  // namespace corral
