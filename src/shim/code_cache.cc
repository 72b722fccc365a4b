// V8 code caches of corral's own JS modules, kept for the whole process: every worker
// environment compiles the same files at boot (lib/worker_threads/code-cache.js); the first
// leaves its caches here and the others deserialize them instead of parsing and compiling.
// The build leaves the caches of one worker's boot in build/corral-node<major>.codecache
// (scripts/make-code-cache.js), so that even a process's first worker finds them: each entry
// there carries a hash of the source it was made from and is used only for that source (V8
// itself checks only the source's length).
#include "shim.h"

#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace corral {
namespace {

struct Entry {
  std::vector<uint8_t> bytes;
  uint32_t source_hash = 0;
  bool checked = true;  // false: from the build's file, its source hash not yet compared
};

struct CodeCaches {
  std::mutex mutex;
  std::unordered_map<std::string, std::shared_ptr<const Entry>> by_file;
  std::atomic<bool> file_loaded{false};
  std::atomic<uint32_t> used{0};  // compiles that V8 took a kept cache for
};

// Never freed: a worker may still be booting while the process exits.
CodeCaches& Caches() {
  static auto* caches = new CodeCaches();
  return *caches;
}

std::shared_ptr<const Entry> Find(const std::string& filename) {
  CodeCaches& caches = Caches();
  std::lock_guard<std::mutex> lock(caches.mutex);
  auto found = caches.by_file.find(filename);
  return found == caches.by_file.end() ? nullptr : found->second;
}

void Keep(const std::string& filename, std::shared_ptr<const Entry> entry, bool only_if_absent = false) {
  CodeCaches& caches = Caches();
  std::lock_guard<std::mutex> lock(caches.mutex);
  if (only_if_absent) {
    caches.by_file.emplace(filename, std::move(entry));
  } else {
    caches.by_file[filename] = std::move(entry);
  }
}

// FNV-1a over the source's UTF-8.
uint32_t SourceHash(v8::Isolate* isolate, v8::Local<v8::String> source) {
  v8::String::Utf8Value text(isolate, source);
  uint32_t hash = 2166136261u;
  if (*text == nullptr) return hash;
  const size_t length = static_cast<size_t>(text.length());  // int or size_t, by V8 version
  for (size_t i = 0; i < length; i++) {
    hash ^= static_cast<uint8_t>((*text)[i]);
    hash *= 16777619u;
  }
  return hash;
}

// The kept cache for `filename` if it was made from `source`.
std::shared_ptr<const Entry> CacheFor(v8::Isolate* isolate, const std::string& filename,
                                      v8::Local<v8::String> source) {
  std::shared_ptr<const Entry> entry = Find(filename);
  if (!entry || entry->checked) return entry;
  if (SourceHash(isolate, source) != entry->source_hash) return nullptr;  // edited since the build
  auto checked = std::make_shared<Entry>(*entry);
  checked->checked = true;
  Keep(filename, checked);
  return checked;
}

// compileModule(source, filename) -> [function(exports, require, module, __filename,
// __dirname), fresh, sourceHash]: the module's function as Node's CommonJS loader compiles it,
// from the file's kept cache where V8 accepts it (`fresh`: compiled from source, its cache is
// to be made with keepModuleCache).
void CompileModule(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsString() || !args[1]->IsString()) return;
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::String> text = args[0].As<v8::String>();
  v8::String::Utf8Value name(isolate, args[1]);
  if (*name == nullptr) return;
  std::shared_ptr<const Entry> kept = CacheFor(isolate, *name, text);
#if V8_MAJOR_VERSION >= 12
  v8::ScriptOrigin origin(args[1]);
#else
  v8::ScriptOrigin origin(isolate, args[1]);
#endif
  // (The kept bytes outlive the compile: `kept` holds them.)
  auto* cached = kept ? new v8::ScriptCompiler::CachedData(kept->bytes.data(), static_cast<int>(kept->bytes.size()),
                                                           v8::ScriptCompiler::CachedData::BufferNotOwned)
                      : nullptr;
  v8::ScriptCompiler::Source source(text, origin, cached);
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
  if (!fresh) Caches().used.fetch_add(1, std::memory_order_relaxed);
  uint32_t hash = fresh ? SourceHash(isolate, text) : kept->source_hash;
  v8::Local<v8::Value> result[] = {fn, v8::Boolean::New(isolate, fresh), v8::Number::New(isolate, hash)};
  args.GetReturnValue().Set(v8::Array::New(isolate, result, 3));
}

// keepModuleCache(filename, fn, sourceHash): the code cache of a module function compiled from
// source (with the functions it has compiled since), for the process's next environments
void KeepModuleCache(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsString() || !args[1]->IsFunction() || !args[2]->IsNumber()) return;
  v8::String::Utf8Value name(isolate, args[0]);
  if (*name == nullptr) return;
  std::unique_ptr<v8::ScriptCompiler::CachedData> data(
      v8::ScriptCompiler::CreateCodeCacheForFunction(args[1].As<v8::Function>()));
  if (!data || data->length <= 0) return;
  auto entry = std::make_shared<Entry>();
  entry->bytes.assign(data->data, data->data + data->length);
  entry->source_hash = static_cast<uint32_t>(args[2].As<v8::Number>()->Value());
  Keep(*name, std::move(entry));
}

// The build's file: "CORRALCC", u32 version (2), u32 length and the lib/ directory it was made
// for, u32 count, then per entry u32 name length, name (relative to lib/), u32 source hash, u32
// length, the cache. Little-endian. A cache names its scripts (V8 11 keeps those names in stack
// traces): a file made for another directory (an install moved after its build) is not used.
constexpr char kMagic[8] = {'C', 'O', 'R', 'R', 'A', 'L', 'C', 'C'};

bool ReadU32(const uint8_t* data, size_t size, size_t* at, uint32_t* out) {
  if (size - *at < 4) return false;
  *out = static_cast<uint32_t>(data[*at]) | static_cast<uint32_t>(data[*at + 1]) << 8 |
         static_cast<uint32_t>(data[*at + 2]) << 16 | static_cast<uint32_t>(data[*at + 3]) << 24;
  *at += 4;
  return true;
}

// codeCacheLoadFile(path, libDir) -> entries taken: the build's caches, for files the process
// has none of yet. Only the process's first call reads the file (later ones, from other
// environments' boots, return 0 at once); a missing or unreadable file gives none.
void LoadFile(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  args.GetReturnValue().Set(0);
  if (!args[0]->IsString() || !args[1]->IsString() || Caches().file_loaded.exchange(true)) return;
  v8::String::Utf8Value path(isolate, args[0]);
  v8::String::Utf8Value lib(isolate, args[1]);
  if (*path == nullptr || *lib == nullptr) return;
  std::vector<uint8_t> file;
  if (FILE* f = fopen(*path, "rb")) {
    uint8_t chunk[16384];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) file.insert(file.end(), chunk, chunk + n);
    fclose(f);
  }
  const uint8_t* data = file.data();
  size_t size = file.size(), at = sizeof kMagic;
  uint32_t version = 0, dir_length = 0, count = 0;
  if (size < sizeof kMagic || memcmp(data, kMagic, sizeof kMagic) != 0 || !ReadU32(data, size, &at, &version) ||
      version != 2 || !ReadU32(data, size, &at, &dir_length) || size - at < dir_length) {
    return;
  }
  if (std::string(reinterpret_cast<const char*>(data + at), dir_length) != *lib) return;
  at += dir_length;
  if (!ReadU32(data, size, &at, &count)) return;
  uint32_t taken = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t name_length = 0, hash = 0, length = 0;
    if (!ReadU32(data, size, &at, &name_length) || size - at < name_length) break;
    std::string name(*lib);
    name.append(reinterpret_cast<const char*>(data + at), name_length);
    at += name_length;
    if (!ReadU32(data, size, &at, &hash) || !ReadU32(data, size, &at, &length) || size - at < length) break;
    auto entry = std::make_shared<Entry>();
    entry->bytes.assign(data + at, data + at + length);
    entry->source_hash = hash;
    entry->checked = false;
    at += length;
    Keep(name, std::move(entry), true);
    taken++;
  }
  args.GetReturnValue().Set(taken);
}

// codeCacheEntries() -> [[filename, sourceHash, Uint8Array], ...]: what the process keeps
// (scripts/make-code-cache.js writes them for the build)
void Entries(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  std::vector<std::pair<std::string, std::shared_ptr<const Entry>>> entries;
  {
    CodeCaches& caches = Caches();
    std::lock_guard<std::mutex> lock(caches.mutex);
    entries.assign(caches.by_file.begin(), caches.by_file.end());
  }
  v8::Local<v8::Array> out = v8::Array::New(isolate, static_cast<int>(entries.size()));
  uint32_t i = 0;
  for (const auto& [name, entry] : entries) {
    v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, entry->bytes.size());
    if (!entry->bytes.empty()) memcpy(buffer->Data(), entry->bytes.data(), entry->bytes.size());
    v8::Local<v8::Value> row[] = {Str(isolate, name.c_str()), v8::Number::New(isolate, entry->source_hash),
                                  v8::Uint8Array::New(buffer, 0, entry->bytes.size())};
    if (out->Set(context, i++, v8::Array::New(isolate, row, 3)).IsNothing()) return;
  }
  args.GetReturnValue().Set(out);
}

// codeCacheUses() -> how many of this process's module compiles V8 took a kept cache for (tests)
void Uses(const v8::FunctionCallbackInfo<v8::Value>& args) {
  args.GetReturnValue().Set(Caches().used.load(std::memory_order_relaxed));
}

// codeCacheGet(filename) -> Uint8Array (a copy) | undefined (for tests)
void Get(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsString()) return;
  v8::String::Utf8Value name(isolate, args[0]);
  if (*name == nullptr) return;
  std::shared_ptr<const Entry> entry = Find(*name);
  if (!entry) return;
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, entry->bytes.size());
  if (!entry->bytes.empty()) memcpy(buffer->Data(), entry->bytes.data(), entry->bytes.size());
  args.GetReturnValue().Set(v8::Uint8Array::New(buffer, 0, entry->bytes.size()));
}

// codeCacheSet(filename, bytes: ArrayBufferView): replaces what is kept for that file, as if the
// process had made it (for tests)
void Set(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsString() || !args[1]->IsArrayBufferView()) return;
  v8::String::Utf8Value name(isolate, args[0]);
  if (*name == nullptr) return;
  v8::Local<v8::ArrayBufferView> view = args[1].As<v8::ArrayBufferView>();
  auto entry = std::make_shared<Entry>();
  entry->bytes.resize(view->ByteLength());
  view->CopyContents(entry->bytes.data(), entry->bytes.size());
  Keep(*name, std::move(entry));
}

// The sources of corral's modules, read once per process and shared by every environment as
// V8 external strings: no worker's heap holds a copy (about 0.13 MiB each) and its boot
// allocates none. Re-read when the file's size or mtime changes; ASCII-only files (corral's
// own are) qualify.
struct SharedSource {
  std::shared_ptr<const std::string> text;
  off_t size = -1;
  struct timespec mtime = {};
};

class SharedSourceResource : public v8::String::ExternalOneByteStringResource {
 public:
  explicit SharedSourceResource(std::shared_ptr<const std::string> text) : text_(std::move(text)) {}
  const char* data() const override { return text_->data(); }
  size_t length() const override { return text_->size(); }

 private:
  std::shared_ptr<const std::string> text_;  // (the process's table may have replaced it since)
};

std::shared_ptr<const std::string> ReadSharedSource(const char* path) {
  struct stat info;
  if (stat(path, &info) != 0 || !S_ISREG(info.st_mode)) return nullptr;
  static auto* mutex = new std::mutex();
  static auto* table = new std::unordered_map<std::string, SharedSource>();
  std::lock_guard<std::mutex> lock(*mutex);
  SharedSource& entry = (*table)[path];
  if (entry.text && entry.size == info.st_size && entry.mtime.tv_sec == info.st_mtim.tv_sec &&
      entry.mtime.tv_nsec == info.st_mtim.tv_nsec) {
    return entry.text;
  }
  auto text = std::make_shared<std::string>();
  FILE* f = fopen(path, "rb");
  if (f == nullptr) return nullptr;
  char chunk[16384];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) text->append(chunk, n);
  fclose(f);
  for (unsigned char c : *text) {
    if (c >= 0x80) return nullptr;
  }
  entry.text = std::move(text);
  entry.size = info.st_size;
  entry.mtime = info.st_mtim;
  return entry.text;
}

// moduleSource(filename) -> string | undefined: the file's text as an external string shared
// with the process's other environments (undefined: unreadable, or not ASCII)
void ModuleSource(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsString()) return;
  v8::String::Utf8Value path(isolate, args[0]);
  if (*path == nullptr) return;
  std::shared_ptr<const std::string> text = ReadSharedSource(*path);
  if (!text) return;
  v8::Local<v8::String> source;
  if (v8::String::NewExternalOneByte(isolate, new SharedSourceResource(text)).ToLocal(&source)) {
    args.GetReturnValue().Set(source);
  }
}

}  // namespace

void InitBootNatives(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> target) {
  SetMethod(isolate, context, target, "compileModule", CompileModule);
  SetMethod(isolate, context, target, "moduleSource", ModuleSource);
}

void InitCodeCacheNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                          v8::Local<v8::Object> exports) {
  SetMethod(isolate, context, exports, "compileModule", CompileModule);
  SetMethod(isolate, context, exports, "moduleSource", ModuleSource);
  SetMethod(isolate, context, exports, "keepModuleCache", KeepModuleCache);
  SetMethod(isolate, context, exports, "codeCacheLoadFile", LoadFile);
  SetMethod(isolate, context, exports, "codeCacheEntries", Entries);
  SetMethod(isolate, context, exports, "codeCacheGet", Get);
  SetMethod(isolate, context, exports, "codeCacheUses", Uses);
  SetMethod(isolate, context, exports, "codeCacheSet", Set);
}

}  // namespace corral
