// Objects of Node's own classes that Node's serializer treats as host objects. From Node 22 they
// are plain JS objects to V8 (Node marks them with a private symbol an addon cannot read), and
// V8 alone would write them as empty objects: a Blob would arrive as `{}`. Recognised here by
// what their classes carry: Node's messaging methods on the prototype chain (symbols described
// 'messaging_clone_symbol' or 'messaging_transfer_symbol': Blob, File, BlockList, SocketAddress,
// histograms, web streams, ...), or being a URL or URLSearchParams, which Node refuses to clone.
// A crypto KeyObject (a native object to V8 on every line), a webcrypto CryptoKey (22+), a
// net.SocketAddress, a net.BlockList, a Blob (or File) and an X509Certificate are told apart too
// (clone.cc).
// An AbortSignal stays plain (Node transfers only the ones transferableAbortSignal() made, and
// writes the others as plain objects, as happens here); a DOMException is told apart: it is
// cloned as Node clones it (clone.cc).
// The answer is kept on the object's prototype (a private property), so each class is looked at
// once per thread; a plain object costs a prototype read and a private lookup.
#include "shim.h"

#include <cstring>
#include <string>

namespace corral {
namespace {

constexpr int kMaxDepth = 16;

v8::Local<v8::Value> PrototypeOf(v8::Local<v8::Object> object) {
#if V8_MAJOR_VERSION > 13 || (V8_MAJOR_VERSION == 13 && V8_MINOR_VERSION >= 6)
  return object->GetPrototypeV2();
#else
  return object->GetPrototype();
#endif
}

// Per thread (one isolate each): the key of the kept answers, and the Object.prototype of the
// first context asked in, the prototype most objects in a message have. Never freed: the
// handles go with the isolate, and nothing reads them after it.
struct ThreadCache {
  v8::Isolate* isolate;
  v8::Global<v8::Private> key;
  v8::Global<v8::Value> object_prototype;
};
thread_local ThreadCache* t_cache = nullptr;

ThreadCache* CacheFor(v8::Isolate* isolate) {
  if (t_cache == nullptr || t_cache->isolate != isolate) {
    t_cache = new ThreadCache{isolate, {}, {}};
    t_cache->key.Reset(isolate, v8::Private::ForApi(isolate, Str(isolate, "corral.nodeMessagingClass")));
    t_cache->object_prototype.Reset(isolate, PrototypeOf(v8::Object::New(isolate)));
  }
  return t_cache;
}

bool HasMessagingMethod(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> level) {
  v8::Local<v8::Array> keys;
  if (!level->GetOwnPropertyNames(context, static_cast<v8::PropertyFilter>(v8::SKIP_STRINGS)).ToLocal(&keys)) {
    return false;
  }
  for (uint32_t i = 0; i < keys->Length(); i++) {
    v8::Local<v8::Value> key;
    if (!keys->Get(context, i).ToLocal(&key) || !key->IsSymbol()) continue;
    v8::Local<v8::Value> description = key.As<v8::Symbol>()->Description(isolate);
    if (!description->IsString()) continue;
    v8::String::Utf8Value text(isolate, description);
    if (*text != nullptr && (std::strcmp(*text, "messaging_clone_symbol") == 0 ||
                             std::strcmp(*text, "messaging_transfer_symbol") == 0)) {
      return true;
    }
  }
  return false;
}

bool HasOwnFunction(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> level,
                    const char* name) {
  v8::Local<v8::Value> value;
  return level->HasOwnProperty(context, Str(isolate, name)).FromMaybe(false) &&
         level->GetRealNamedProperty(context, Str(isolate, name)).ToLocal(&value) && value->IsFunction();
}

// Whether `level` is the prototype of the global class `name` (URL, URLSearchParams).
bool IsGlobalPrototype(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> level,
                       const char* name) {
  v8::Local<v8::Value> ctor;
  v8::Local<v8::Value> proto;
  return context->Global()->Get(context, Str(isolate, name)).ToLocal(&ctor) && ctor->IsFunction() &&
         ctor.As<v8::Object>()->Get(context, Str(isolate, "prototype")).ToLocal(&proto) && proto->StrictEquals(level);
}

// The name of `level`'s own `constructor`, if it has one that is a function ("" otherwise).
std::string ConstructorName(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> level) {
  v8::Local<v8::Value> ctor;
  if (!level->GetRealNamedProperty(context, Str(isolate, "constructor")).ToLocal(&ctor) || !ctor->IsFunction()) {
    return std::string();
  }
  v8::String::Utf8Value name(isolate, ctor.As<v8::Function>()->GetName());
  return *name != nullptr ? std::string(*name) : std::string();
}

// Each level's constructor name is read first: a global class is only looked up when the name
// matches (several are lazy globals of Node's, and looking one up loads its modules: webcrypto
// for CryptoKey, on the first message of any program).
NodeClass ClassifyChain(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> proto) {
  v8::Local<v8::Value> level = proto;
  bool messaging = false;
  // (A proxy ends the walk: its traps are the program's code, not to be run while serializing.)
  for (int depth = 0; depth < kMaxDepth && level->IsObject() && !level->IsProxy(); depth++) {
    v8::Local<v8::Object> object = level.As<v8::Object>();
    std::string name = ConstructorName(isolate, context, object);
    auto is_global = [&](const char* global) {
      return name == global && IsGlobalPrototype(isolate, context, object, global);
    };
    if (is_global("AbortSignal")) return NodeClass::kNone;
    if (is_global("DOMException")) return NodeClass::kDomException;
    if (name == "KeyObject") return NodeClass::kKeyObject;
#if NODE_MAJOR_VERSION >= 22
    // (On Node 20 a CryptoKey is a native object, and its key cannot be made again on the
    // receiving thread without Node's internals: refused there, as before.)
    if (is_global("CryptoKey")) return NodeClass::kCryptoKey;
#endif
    if (is_global("File") || is_global("Blob")) return NodeClass::kBlob;
    // (Node 24+ clones it without messaging methods of its own: told by its own methods then.)
    if (name == "X509Certificate" &&
        (HasMessagingMethod(isolate, context, object) || HasOwnFunction(isolate, context, object, "checkPrivateKey"))) {
      return NodeClass::kX509Certificate;
    }
    if (name == "BlockList" && HasMessagingMethod(isolate, context, object)) return NodeClass::kBlockList;
    if (name == "SocketAddress" && HasMessagingMethod(isolate, context, object)) {
      return NodeClass::kSocketAddress;
    }
    if (is_global("URL") || is_global("URLSearchParams")) return NodeClass::kRefused;
    messaging = messaging || HasMessagingMethod(isolate, context, object);
    level = PrototypeOf(object);
  }
  return messaging ? NodeClass::kRefused : NodeClass::kNone;
}

}  // namespace

NodeClass ClassifyNodeObject(v8::Isolate* isolate, v8::Local<v8::Object> object) {
  v8::Local<v8::Value> proto = PrototypeOf(object);
  if (!proto->IsObject() || proto->IsProxy()) return NodeClass::kNone;
  ThreadCache* cache = CacheFor(isolate);
  if (proto == cache->object_prototype.Get(isolate)) return NodeClass::kNone;
  v8::Local<v8::Object> prototype = proto.As<v8::Object>();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Private> key = cache->key.Get(isolate);
  v8::Local<v8::Value> kept;
  if (prototype->GetPrivate(context, key).ToLocal(&kept) && kept->IsInt32()) {
    return static_cast<NodeClass>(kept.As<v8::Int32>()->Value());
  }
  v8::TryCatch ignore(isolate);  // (a getter in the chain that throws: not one of Node's)
  NodeClass found = ClassifyChain(isolate, context, prototype);
  if (ignore.HasCaught()) return NodeClass::kNone;
  prototype->SetPrivate(context, key, v8::Integer::New(isolate, static_cast<int32_t>(found))).IsJust();
  return found;
}

}  // namespace corral
