// SharedArrayBuffers over corral's shared-memory regions (src/shared). The only part that needs
// V8: a BackingStore over the mapping whose deleter hands the region back to Rust (munmap,
// close) when the last holder (any isolate, any thread) lets go.
//
// One BackingStore per region per process: V8's Atomics.wait/notify between threads key on the
// store, and wrapping the same memory twice breaks Atomics.notify. Opening a region this process
// already maps (same device + inode) reuses the live store and drops the new mapping.
#include "shim.h"

#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace corral {
namespace {

std::mutex g_mu;
std::map<std::pair<uint64_t, uint64_t>, std::weak_ptr<v8::BackingStore>> g_live;

void ReleaseRegion(void* /*data*/, size_t /*length*/, void* region) {
  corral_region_release(region);
}

v8::Local<v8::SharedArrayBuffer> Wrap(v8::Isolate* isolate, const CorralRegionOut& out) {
  std::shared_ptr<v8::BackingStore> store;
  bool reused = false;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    for (auto it = g_live.begin(); it != g_live.end();) {
      it = it->second.expired() ? g_live.erase(it) : std::next(it);
    }
    auto key = std::make_pair(out.dev, out.ino);
    auto found = g_live.find(key);
    if (found != g_live.end()) store = found->second.lock();
    if (store && store->ByteLength() == out.len) {
      reused = true;
    } else {
      store = v8::SharedArrayBuffer::NewBackingStore(out.data, out.len, ReleaseRegion, out.region);
      g_live[key] = store;
    }
  }
  if (reused) corral_region_release(out.region);
  return v8::SharedArrayBuffer::New(isolate, store);
}

void Finish(const v8::FunctionCallbackInfo<v8::Value>& args, int32_t code, const CorralRegionOut& out) {
  v8::Isolate* isolate = args.GetIsolate();
  if (code != 0) {
    args.GetReturnValue().Set(v8::Integer::New(isolate, code));
    return;
  }
  args.GetReturnValue().Set(Wrap(isolate, out));
}

// sharedCreate(size, name | undefined, posix) -> SharedArrayBuffer | error code
void Create(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsNumber()) return;
  double size = args[0].As<v8::Number>()->Value();
  if (!(size >= 1 && size <= 9007199254740991.0)) {
    args.GetReturnValue().Set(v8::Integer::New(isolate, -22));  // EINVAL
    return;
  }
  bool posix = args[2]->IsTrue();
  CorralRegionOut out{};
  int32_t code;
  if (args[1]->IsString()) {
    v8::String::Utf8Value name(isolate, args[1]);
    code = corral_region_create(static_cast<uint64_t>(size),
                                reinterpret_cast<const uint8_t*>(*name), name.length(), posix, &out);
  } else {
    code = corral_region_create(static_cast<uint64_t>(size), nullptr, 0, posix, &out);
  }
  Finish(args, code, out);
}

// sharedOpen(mode, nameOrHandleOrFd) -> SharedArrayBuffer | error code
void Open(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsInt32()) return;
  int32_t mode = args[0].As<v8::Int32>()->Value();
  CorralRegionOut out{};
  int32_t code;
  if (mode == 4) {
    if (!args[1]->IsInt32()) return;
    code = corral_region_open(mode, nullptr, 0, args[1].As<v8::Int32>()->Value(), &out);
  } else {
    if (!args[1]->IsString()) return;
    v8::String::Utf8Value text(isolate, args[1]);
    code = corral_region_open(mode, reinterpret_cast<const uint8_t*>(*text), text.length(), -1, &out);
  }
  Finish(args, code, out);
}

// sharedDescribe(sab) -> "kind\nfd\nhandle\nname" | undefined (not a corral region)
void Describe(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsSharedArrayBuffer()) return;
  std::shared_ptr<v8::BackingStore> store = args[0].As<v8::SharedArrayBuffer>()->GetBackingStore();
  const uint8_t* addr = static_cast<const uint8_t*>(store->Data());
  if (addr == nullptr) return;
  std::string buf(512, '\0');
  intptr_t n = corral_region_describe(addr, reinterpret_cast<uint8_t*>(&buf[0]), buf.size());
  if (n < 0) return;
  if (static_cast<size_t>(n) > buf.size()) {
    buf.resize(n);
    n = corral_region_describe(addr, reinterpret_cast<uint8_t*>(&buf[0]), buf.size());
    if (n < 0 || static_cast<size_t>(n) > buf.size()) return;
  }
  args.GetReturnValue().Set(
      v8::String::NewFromUtf8(isolate, buf.data(), v8::NewStringType::kNormal, static_cast<int>(n))
          .ToLocalChecked());
}

}  // namespace

void InitSharedNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                       v8::Local<v8::Object> exports) {
  SetMethod(isolate, context, exports, "sharedCreate", Create);
  SetMethod(isolate, context, exports, "sharedOpen", Open);
  SetMethod(isolate, context, exports, "sharedDescribe", Describe);
}

}  // namespace corral
