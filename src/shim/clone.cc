// Structured clone with Node's semantics, on V8's ValueSerializer/ValueDeserializer.
//
// SharedArrayBuffers (WebAssembly.Memory's too) travel as their one shared BackingStore (never
// re-wrapped), transferred ArrayBuffers as their BackingStore (detached at the sender, no copy),
// WebAssembly.Modules as their compiled module (shared, not recompiled), MessagePorts as Rust
// endpoints (host objects: corral's port objects carry an internal field).
#include "shim.h"

#include <v8-version.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace corral {

Message::~Message() {
  if (!attached) return;
  for (void* ep : attached->ports) {
    if (ep != nullptr) corral_ep_close(ep);
  }
}

void ThrowDataCloneError(v8::Isolate* isolate, v8::Local<v8::String> message) {
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Value> ctor;
  v8::Local<v8::Value> error;
  if (context->Global()->Get(context, Str(isolate, "DOMException")).ToLocal(&ctor) &&
      ctor->IsFunction()) {
    v8::Local<v8::Value> args[] = {message, Str(isolate, "DataCloneError")};
    if (ctor.As<v8::Function>()->NewInstance(context, 2, args).ToLocal(&error)) {
      isolate->ThrowException(error);
      return;
    }
  }
  isolate->ThrowException(v8::Exception::Error(message));
}

std::atomic<bool> g_uncloneable_marked{false};

// Ports of Node's own that JS has bridged for the next serialization on this thread: each stands
// in the value for the corral port that replaced it in the transfer list (lib/worker_threads/
// bridge.js). Set just before Serialize, cleared by it.
thread_local std::vector<std::pair<v8::Global<v8::Object>, v8::Global<v8::Object>>> t_port_aliases;

void SetPortAliases(v8::Isolate* isolate, v8::Local<v8::Array> pairs) {
  t_port_aliases.clear();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  for (uint32_t i = 0; i + 1 < pairs->Length(); i += 2) {
    v8::Local<v8::Value> original;
    v8::Local<v8::Value> replacement;
    if (!pairs->Get(context, i).ToLocal(&original) || !pairs->Get(context, i + 1).ToLocal(&replacement) ||
        !original->IsObject() || !replacement->IsObject()) {
      continue;
    }
    t_port_aliases.emplace_back(v8::Global<v8::Object>(isolate, original.As<v8::Object>()),
                                v8::Global<v8::Object>(isolate, replacement.As<v8::Object>()));
  }
}

v8::Local<v8::Private> UncloneableKey(v8::Isolate* isolate) {
  return v8::Private::ForApi(isolate, Str(isolate, "corral.uncloneable"));
}

void MarkUncloneable(v8::Isolate* isolate, v8::Local<v8::Object> object) {
  g_uncloneable_marked.store(true, std::memory_order_relaxed);
  object->SetPrivate(isolate->GetCurrentContext(), UncloneableKey(isolate), v8::True(isolate)).Check();
}

bool IsMarkedUncloneable(v8::Isolate* isolate, v8::Local<v8::Object> object) {
  if (!g_uncloneable_marked.load(std::memory_order_relaxed)) return false;
  return object->HasPrivate(isolate->GetCurrentContext(), UncloneableKey(isolate)).FromMaybe(false);
}

namespace {

// A host object written as the plain object that follows (process.env); an object that
// transferred itself (js_transferable.cc); else a port's index.
constexpr uint32_t kPlainObject = 0xFFFFFFFF;
constexpr uint32_t kJsTransferable = 0xFFFFFFFE;

class SerializerDelegate : public v8::ValueSerializer::Delegate {
 public:
  SerializerDelegate(v8::Isolate* isolate, Message* msg, const std::vector<v8::Local<v8::Object>>& ports)
      : isolate_(isolate), msg_(msg), ports_(ports) {}

  void ThrowDataCloneError(v8::Local<v8::String> message) override {
    corral::ThrowDataCloneError(isolate_, message);
  }

#if NODE_MAJOR_VERSION >= 22
  // On these lines Node's own cloneable and uncloneable classes (Blob, URL, web streams, ...)
  // are plain JS objects to V8, as are objects that transfer themselves and objects given to
  // markAsUncloneable: all host objects here, so that none is written as a plain object.
  bool HasCustomHostObject(v8::Isolate* isolate) override { return true; }

  v8::Maybe<bool> IsHostObject(v8::Isolate* isolate, v8::Local<v8::Object> object) override {
    // What V8 decides without a custom check: objects with embedder fields (ports, Node's own).
    if (object->InternalFieldCount() > 0) return v8::Just(true);
    if (HasJsTransferables() && IsJsTransferable(isolate, object)) return v8::Just(true);
    if (IsMarkedUncloneable(isolate, object)) return v8::Just(true);
    return v8::Just(ClassifyNodeObject(isolate, object) != NodeClass::kNone);
  }

  // A DOMException as Node clones it: its name, message and stack, made again as a DOMException
  // by the receiving thread (lib/worker_threads/js-transferable.js).
  v8::Maybe<bool> WriteDomException(v8::Isolate* isolate, v8::Local<v8::Object> object) {
    v8::Local<v8::Context> context = isolate->GetCurrentContext();
    v8::Local<v8::Object> data = v8::Object::New(isolate);
    for (const char* key : {"message", "name", "stack"}) {
      v8::Local<v8::Value> value;
      if (!object->Get(context, Str(isolate, key)).ToLocal(&value) ||
          data->Set(context, Str(isolate, key), value).IsNothing()) {
        return v8::Nothing<bool>();
      }
    }
    return WriteClonedRecord(isolate, context, serializer_, msg_, "corral:DOMException", data, kJsTransferable);
  }
#endif

  // A KeyObject as Node clones it (the same key, of the same type, on the receiving thread):
  // written as its exported key, which the receiving thread imports again
  // (lib/worker_threads/js-transferable.js).
  v8::Maybe<bool> WriteKeyObject(v8::Isolate* isolate, v8::Local<v8::Object> object) {
    v8::Local<v8::Context> context = isolate->GetCurrentContext();
    v8::Local<v8::Value> type;
    v8::Local<v8::Value> export_fn;
    if (!object->Get(context, Str(isolate, "type")).ToLocal(&type) ||
        !object->Get(context, Str(isolate, "export")).ToLocal(&export_fn)) {
      return v8::Nothing<bool>();
    }
    if (!type->IsString() || !export_fn->IsFunction()) {
      corral::ThrowDataCloneError(isolate, Str(isolate, "Cannot clone object of unsupported type."));
      return v8::Nothing<bool>();
    }
    v8::String::Utf8Value type_name(isolate, type);
    bool secret = std::strcmp(*type_name, "secret") == 0;
    v8::Local<v8::Value> args[1];
    if (!secret) {
      v8::Local<v8::Object> options = v8::Object::New(isolate);
      const char* encoding = std::strcmp(*type_name, "public") == 0 ? "spki" : "pkcs8";
      if (options->Set(context, Str(isolate, "type"), Str(isolate, encoding)).IsNothing() ||
          options->Set(context, Str(isolate, "format"), Str(isolate, "der")).IsNothing()) {
        return v8::Nothing<bool>();
      }
      args[0] = options;
    }
    v8::Local<v8::Value> key;
    if (!export_fn.As<v8::Function>()->Call(context, object, secret ? 0 : 1, args).ToLocal(&key)) {
      return v8::Nothing<bool>();
    }
    v8::Local<v8::Object> data = v8::Object::New(isolate);
    if (data->Set(context, Str(isolate, "type"), type).IsNothing() ||
        data->Set(context, Str(isolate, "key"), key).IsNothing()) {
      return v8::Nothing<bool>();
    }
    return WriteClonedRecord(isolate, context, serializer_, msg_, "corral:KeyObject", data, kJsTransferable);
  }

  // A net.SocketAddress as Node clones it: its address, port, family and flow label, made again
  // by the receiving thread.
  v8::Maybe<bool> WriteSocketAddress(v8::Isolate* isolate, v8::Local<v8::Object> object) {
    v8::Local<v8::Context> context = isolate->GetCurrentContext();
    v8::Local<v8::Object> data = v8::Object::New(isolate);
    for (const char* key : {"address", "port", "family", "flowlabel"}) {
      v8::Local<v8::Value> value;
      if (!object->Get(context, Str(isolate, key)).ToLocal(&value) ||
          data->Set(context, Str(isolate, key), value).IsNothing()) {
        return v8::Nothing<bool>();
      }
    }
    return WriteClonedRecord(isolate, context, serializer_, msg_, "corral:SocketAddress", data, kJsTransferable);
  }

  // A webcrypto CryptoKey as Node clones it (the same key, algorithm, extractability and usages
  // on the receiving thread): described by JS (its KeyObject's exported key), made again there
  // with KeyObject.toCryptoKey (lib/worker_threads/js-transferable.js). A line without that
  // refuses it, as before.
  v8::Maybe<bool> WriteCryptoKey(v8::Isolate* isolate, v8::Local<v8::Object> object) {
    v8::Local<v8::Context> context = isolate->GetCurrentContext();
    v8::Local<v8::Value> data;
    if (!DescribeNodeObject(isolate, "CryptoKey", object).ToLocal(&data)) return v8::Nothing<bool>();
    if (!data->IsObject()) {
      corral::ThrowDataCloneError(isolate, Str(isolate, "Cannot clone object of unsupported type."));
      return v8::Nothing<bool>();
    }
    return WriteClonedRecord(isolate, context, serializer_, msg_, "corral:CryptoKey", data, kJsTransferable);
  }

  // A net.BlockList as Node clones it: the same rules, added again by the receiving thread.
  v8::Maybe<bool> WriteBlockList(v8::Isolate* isolate, v8::Local<v8::Object> object) {
    v8::Local<v8::Context> context = isolate->GetCurrentContext();
    v8::Local<v8::Value> rules;
    if (!object->Get(context, Str(isolate, "rules")).ToLocal(&rules)) return v8::Nothing<bool>();
    if (!rules->IsArray()) {
      corral::ThrowDataCloneError(isolate, Str(isolate, "Cannot clone object of unsupported type."));
      return v8::Nothing<bool>();
    }
    v8::Local<v8::Object> data = v8::Object::New(isolate);
    if (data->Set(context, Str(isolate, "rules"), rules).IsNothing()) return v8::Nothing<bool>();
    return WriteClonedRecord(isolate, context, serializer_, msg_, "corral:BlockList", data, kJsTransferable);
  }

  // A crypto.X509Certificate as Node clones it: the same certificate, made again from its DER
  // bytes by the receiving thread.
  v8::Maybe<bool> WriteX509Certificate(v8::Isolate* isolate, v8::Local<v8::Object> object) {
    v8::Local<v8::Context> context = isolate->GetCurrentContext();
    v8::Local<v8::Value> raw;
    if (!object->Get(context, Str(isolate, "raw")).ToLocal(&raw)) return v8::Nothing<bool>();
    if (!raw->IsArrayBufferView()) {
      corral::ThrowDataCloneError(isolate, Str(isolate, "Cannot clone object of unsupported type."));
      return v8::Nothing<bool>();
    }
    v8::Local<v8::Object> data = v8::Object::New(isolate);
    if (data->Set(context, Str(isolate, "raw"), raw).IsNothing()) return v8::Nothing<bool>();
    return WriteClonedRecord(isolate, context, serializer_, msg_, "corral:X509Certificate", data, kJsTransferable);
  }

  // A Blob or File as Node clones it (the same bytes, type, and a File's name and lastModified
  // on the receiving thread): its bytes read by JS, which can only when they are in memory (a
  // Blob from fs.openAsBlob is refused), made again there (lib/worker_threads/js-transferable.js).
  v8::Maybe<bool> WriteBlob(v8::Isolate* isolate, v8::Local<v8::Object> object) {
    v8::Local<v8::Context> context = isolate->GetCurrentContext();
    v8::Local<v8::Value> data;
    if (!DescribeNodeObject(isolate, "Blob", object).ToLocal(&data)) return v8::Nothing<bool>();
    if (!data->IsObject()) {
      corral::ThrowDataCloneError(isolate, Str(isolate, "Cannot clone object of unsupported type."));
      return v8::Nothing<bool>();
    }
    return WriteClonedRecord(isolate, context, serializer_, msg_, "corral:Blob", data, kJsTransferable);
  }

  v8::Maybe<bool> WriteHostObject(v8::Isolate* isolate, v8::Local<v8::Object> object) override {
    if (HasJsTransferables()) {
      v8::Maybe<bool> written = WriteJsTransferable(isolate, serializer_, msg_, object, kJsTransferable);
      if (written.IsNothing() || written.FromJust()) return written;
    }
    if (object->InternalFieldCount() == 0 && IsMarkedUncloneable(isolate, object)) {
      corral::ThrowDataCloneError(isolate, Str(isolate, "Cannot clone object of unsupported type."));
      return v8::Nothing<bool>();
    }
#if NODE_MAJOR_VERSION >= 22
    if (object->InternalFieldCount() == 0 && ClassifyNodeObject(isolate, object) == NodeClass::kDomException) {
      return WriteDomException(isolate, object);
    }
#endif
    NodeClass node_class = ClassifyNodeObject(isolate, object);
    if (node_class == NodeClass::kKeyObject) return WriteKeyObject(isolate, object);
    if (node_class == NodeClass::kSocketAddress) return WriteSocketAddress(isolate, object);
    if (node_class == NodeClass::kCryptoKey) return WriteCryptoKey(isolate, object);
    if (node_class == NodeClass::kBlob) return WriteBlob(isolate, object);
    if (node_class == NodeClass::kX509Certificate) return WriteX509Certificate(isolate, object);
    if (node_class == NodeClass::kBlockList) return WriteBlockList(isolate, object);
    v8::Local<v8::Object> stands_for = object;
    for (auto& [original, replacement] : t_port_aliases) {
      if (original.Get(isolate)->StrictEquals(object)) stands_for = replacement.Get(isolate);
    }
    for (size_t i = 0; i < ports_.size(); i++) {
      if (ports_[i]->StrictEquals(stands_for)) {
        serializer_->WriteUint32(static_cast<uint32_t>(i));
        return v8::Just(true);
      }
    }
    // process.env (a native object) travels as a plain object of its variables, as in Node.
    if (IsProcessEnv(isolate, object)) {
      v8::Local<v8::Context> context = isolate->GetCurrentContext();
      v8::Local<v8::Object> plain = v8::Object::New(isolate);
      v8::Local<v8::Array> keys;
      if (!object->GetOwnPropertyNames(context).ToLocal(&keys)) return v8::Nothing<bool>();
      for (uint32_t i = 0; i < keys->Length(); i++) {
        v8::Local<v8::Value> key;
        v8::Local<v8::Value> value;
        if (!keys->Get(context, i).ToLocal(&key) || !object->Get(context, key).ToLocal(&value) ||
            plain->Set(context, key, value).IsNothing()) {
          return v8::Nothing<bool>();
        }
      }
      serializer_->WriteUint32(kPlainObject);
      return serializer_->WriteValue(context, plain);
    }
    // (A port already closed or transferred away is no transferable any more: Node's says
    // "unsupported type" for it, below.)
    if ((IsPortObject(isolate, object) && PortEndpoint(object) != nullptr) || LooksJsTransferable(isolate, object)) {
#if NODE_MAJOR_VERSION >= 22
      corral::ThrowDataCloneError(isolate, Str(isolate, kMissingTransferable));
#else
      isolate->ThrowException(MissingTransferable(isolate));
#endif
    } else {
      // Another native object (Node's handles and the like): as Node says for those it cannot
      // send.
#if NODE_MAJOR_VERSION >= 22
      corral::ThrowDataCloneError(isolate, Str(isolate, "Cannot clone object of unsupported type."));
#else
      corral::ThrowDataCloneError(isolate, Str(isolate, "Cannot transfer object of unsupported type."));
#endif
    }
    return v8::Nothing<bool>();
  }

  static bool IsProcessEnv(v8::Isolate* isolate, v8::Local<v8::Object> object) {
    v8::Local<v8::Context> context = isolate->GetCurrentContext();
    v8::Local<v8::Value> process;
    v8::Local<v8::Value> env;
    return context->Global()->Get(context, Str(isolate, "process")).ToLocal(&process) &&
           process->IsObject() &&
           process.As<v8::Object>()->Get(context, Str(isolate, "env")).ToLocal(&env) &&
           env->StrictEquals(object);
  }

  // The serializer's output goes to a per-thread scratch buffer (copied once into the message)
  // instead of a fresh realloc'd buffer per message. A serialization nested in another (a getter
  // posting a message) uses plain realloc.
  void* ReallocateBufferMemory(void* old_buffer, size_t size, size_t* actual_size) override {
    if (owns_scratch_) {
      if (scratch_.size() < size) scratch_.resize(std::max(size, scratch_.size() * 2));
      *actual_size = scratch_.size();
      return scratch_.data();
    }
    void* result = realloc(old_buffer, size);
    *actual_size = size;
    return result;
  }

  void FreeBufferMemory(void* buffer) override {
    if (!owns_scratch_) free(buffer);
  }

  ~SerializerDelegate() override {
    if (owns_scratch_) scratch_in_use_ = false;
  }

  v8::Maybe<uint32_t> GetSharedArrayBufferId(v8::Isolate* isolate,
                                             v8::Local<v8::SharedArrayBuffer> sab) override {
    // Known by its memory: V8's handle to `sab` does not outlive this call.
    std::shared_ptr<v8::BackingStore> store = sab->GetBackingStore();
    auto& shared = msg_->Attach().shared;
    for (size_t i = 0; i < shared.size(); i++) {
      if (shared[i] == store) return v8::Just(static_cast<uint32_t>(i));
    }
    shared.push_back(std::move(store));
    return v8::Just(static_cast<uint32_t>(shared.size() - 1));
  }

  v8::Maybe<uint32_t> GetWasmModuleTransferId(v8::Isolate* isolate,
                                              v8::Local<v8::WasmModuleObject> module) override {
    auto& modules = msg_->Attach().wasm_modules;
    modules.push_back(module->GetCompiledModule());
    return v8::Just(static_cast<uint32_t>(modules.size() - 1));
  }

  static constexpr const char* kMissingTransferable =
      "Object that needs transfer was found in message but not listed in transferList";

  // Node 20 reports a port missing from the transfer list as a coded TypeError.
  static v8::Local<v8::Value> MissingTransferable(v8::Isolate* isolate) {
    v8::Local<v8::Value> err = v8::Exception::TypeError(Str(isolate, kMissingTransferable));
    err.As<v8::Object>()
        ->Set(isolate->GetCurrentContext(), Str(isolate, "code"),
              Str(isolate, "ERR_MISSING_TRANSFERABLE_IN_TRANSFER_LIST"))
        .Check();
    return err;
  }

  v8::ValueSerializer* serializer_ = nullptr;

 private:
  static thread_local std::vector<uint8_t> scratch_;
  static thread_local bool scratch_in_use_;
  bool owns_scratch_ = !std::exchange(scratch_in_use_, true);
  v8::Isolate* isolate_;
  Message* msg_;
  const std::vector<v8::Local<v8::Object>>& ports_;
};

thread_local std::vector<uint8_t> SerializerDelegate::scratch_(4096);
thread_local bool SerializerDelegate::scratch_in_use_ = false;

class DeserializerDelegate : public v8::ValueDeserializer::Delegate {
 public:
  DeserializerDelegate(Message* msg, std::vector<v8::Local<v8::Object>>* ports,
                       const std::vector<v8::Local<v8::Object>>* made)
      : msg_(msg), ports_(ports), made_(made) {}

  v8::MaybeLocal<v8::Object> ReadHostObject(v8::Isolate* isolate) override {
    uint32_t index = 0;
    bool read = deserializer_->ReadUint32(&index);
    if (read && index == kJsTransferable) {
      uint32_t which = 0;
      if (deserializer_->ReadUint32(&which) && which < made_->size()) return (*made_)[which];
      isolate->ThrowException(v8::Exception::Error(Str(isolate, "Invalid host object in message")));
      return {};
    }
    if (read && index == kPlainObject) {
      v8::Local<v8::Value> value;
      if (!deserializer_->ReadValue(isolate->GetCurrentContext()).ToLocal(&value)) return {};
      if (value->IsObject()) return value.As<v8::Object>();
    }
    if (!read || index >= ports_->size()) {
      isolate->ThrowException(v8::Exception::Error(Str(isolate, "Invalid host object in message")));
      return {};
    }
    return (*ports_)[index];
  }

  v8::MaybeLocal<v8::SharedArrayBuffer> GetSharedArrayBufferFromId(v8::Isolate* isolate,
                                                                    uint32_t id) override {
    if (!msg_->attached || id >= msg_->attached->shared.size()) return {};
    return v8::SharedArrayBuffer::New(isolate, msg_->attached->shared[id]);
  }

  v8::MaybeLocal<v8::WasmModuleObject> GetWasmModuleFromId(v8::Isolate* isolate, uint32_t id) override {
    if (!msg_->attached || id >= msg_->attached->wasm_modules.size()) return {};
    return v8::WasmModuleObject::FromCompiledModule(isolate, msg_->attached->wasm_modules[id]);
  }

  v8::ValueDeserializer* deserializer_ = nullptr;

 private:
  Message* msg_;
  std::vector<v8::Local<v8::Object>>* ports_;
  const std::vector<v8::Local<v8::Object>>* made_;
};

bool ThrowDataClone(v8::Isolate* isolate, const char* text) {
  ThrowDataCloneError(isolate, Str(isolate, text));
  return false;
}

// Something in the transfer list that is neither an ArrayBuffer nor a port: Node 20 throws a
// TypeError with a code, newer lines a DataCloneError.
bool ThrowInvalidTransferObject(v8::Isolate* isolate, v8::Local<v8::Context> context) {
#if NODE_MAJOR_VERSION >= 22
  return ThrowDataClone(isolate, "Found invalid value in transferList.");
#else
  v8::Local<v8::Object> err =
      v8::Exception::TypeError(Str(isolate, "Found invalid object in transferList")).As<v8::Object>();
  err->Set(context, Str(isolate, "code"), Str(isolate, "ERR_INVALID_TRANSFER_OBJECT")).Check();
  isolate->ThrowException(err);
  return false;
#endif
}

// Splits the transfer list into ArrayBuffers and ports, validating it the way Node does.
bool ReadTransferList(v8::Isolate* isolate, v8::Local<v8::Context> context,
                      v8::Local<v8::Value> transfer, void* source_endpoint,
                      std::vector<v8::Local<v8::ArrayBuffer>>* buffers,
                      std::vector<v8::Local<v8::Object>>* ports) {
  if (transfer.IsEmpty() || transfer->IsNullOrUndefined()) return true;
  if (!transfer->IsArray()) {
    isolate->ThrowException(v8::Exception::TypeError(Str(isolate, "transferList must be an array")));
    return false;
  }
  v8::Local<v8::Array> list = transfer.As<v8::Array>();
  for (uint32_t i = 0; i < list->Length(); i++) {
    v8::Local<v8::Value> item;
    if (!list->Get(context, i).ToLocal(&item)) return false;
    if (item->IsArrayBuffer()) {
      v8::Local<v8::ArrayBuffer> ab = item.As<v8::ArrayBuffer>();
#if NODE_MAJOR_VERSION < 22
      // Node 20 copies what it cannot detach (a WebAssembly.Memory's buffer): left off the list.
      if (!ab->IsDetachable()) continue;
#endif
      for (auto& seen : *buffers) {
        if (seen->StrictEquals(ab)) return ThrowDataClone(isolate, "Transfer list contains duplicate ArrayBuffer");
      }
#if NODE_MAJOR_VERSION >= 22
      // Newer lines refuse a detached buffer in the transfer list, and one that cannot be
      // detached; Node 20 moves a detached one as is.
      if (ab->WasDetached() || !ab->IsDetachable()) {
        return ThrowDataClone(isolate, "Cannot transfer object of unsupported type.");
      }
#endif
      buffers->push_back(ab);
    } else if (IsPortObject(isolate, item)) {
      v8::Local<v8::Object> port = item.As<v8::Object>();
      for (auto& seen : *ports) {
        if (seen->StrictEquals(port)) return ThrowDataClone(isolate, "Transfer list contains duplicate MessagePort");
      }
      void* ep = PortEndpoint(port);
      if (ep == nullptr) {
        return ThrowDataClone(isolate, "MessagePort in transfer list is already detached");
      }
      // (Its own peer is allowed, as in Node: the channel is then lost; see Post in port.cc.)
      if (ep == source_endpoint) return ThrowDataClone(isolate, "Transfer list contains source port");
      ports->push_back(port);
    } else {
      return ThrowInvalidTransferObject(isolate, context);
    }
  }
  return true;
}

}  // namespace

namespace {

// The fast path for a primitive value with nothing to transfer; false if it does not apply.
bool SerializePrimitive(v8::Isolate* isolate, v8::Local<v8::Value> value, Message* msg) {
  using Kind = Message::Kind;
  if (value->IsNumber()) {
    msg->kind = Kind::kNumber;
    msg->number = value.As<v8::Number>()->Value();
  } else if (value->IsString()) {
    v8::Local<v8::String> str = value.As<v8::String>();
    int length = str->Length();
    if (str->IsOneByte()) {
      msg->kind = Kind::kOneByteString;
      msg->data.resize(length);
#if V8_MAJOR_VERSION >= 13
      str->WriteOneByteV2(isolate, 0, length, msg->data.data());
#else
      str->WriteOneByte(isolate, msg->data.data(), 0, length, v8::String::NO_NULL_TERMINATION);
#endif
    } else {
      msg->kind = Kind::kTwoByteString;
      msg->data.resize(static_cast<size_t>(length) * 2);
#if V8_MAJOR_VERSION >= 13
      str->WriteV2(isolate, 0, length, reinterpret_cast<uint16_t*>(msg->data.data()));
#else
      str->Write(isolate, reinterpret_cast<uint16_t*>(msg->data.data()), 0, length,
                 v8::String::NO_NULL_TERMINATION);
#endif
    }
  } else if (value->IsUndefined()) {
    msg->kind = Kind::kUndefined;
  } else if (value->IsNull()) {
    msg->kind = Kind::kNull;
  } else if (value->IsTrue()) {
    msg->kind = Kind::kTrue;
  } else if (value->IsFalse()) {
    msg->kind = Kind::kFalse;
  } else {
    return false;
  }
  return true;
}

// Views the transferred-buffer fast path rebuilds; any other view goes through the serializer.
enum ViewType : uint8_t {
  kNoView, kUint8, kUint8Clamped, kInt8, kUint16, kInt16, kUint32, kInt32, kFloat32, kFloat64,
  kBigInt64, kBigUint64, kDataView
};

ViewType ViewTypeOf(v8::Local<v8::Value> value) {
  if (value->IsUint8Array()) return kUint8;
  if (value->IsUint8ClampedArray()) return kUint8Clamped;
  if (value->IsInt8Array()) return kInt8;
  if (value->IsUint16Array()) return kUint16;
  if (value->IsInt16Array()) return kInt16;
  if (value->IsUint32Array()) return kUint32;
  if (value->IsInt32Array()) return kInt32;
  if (value->IsFloat32Array()) return kFloat32;
  if (value->IsFloat64Array()) return kFloat64;
  if (value->IsBigInt64Array()) return kBigInt64;
  if (value->IsBigUint64Array()) return kBigUint64;
  if (value->IsDataView()) return kDataView;
  return kNoView;
}

// The fast path for `postMessage(buffer, [buffer])` and `postMessage(view, [view.buffer])`: the
// buffer moves as the serializer would move it, with no serializer. False if it does not apply
// (then nothing has changed). A view is taken only over a buffer of fixed length (a view that
// tracks a resizable buffer's length is the serializer's to write). The caller detaches the
// buffer.
bool DescribeTransferredBuffer(v8::Local<v8::Value> value, v8::Local<v8::ArrayBuffer> buffer, Message* msg) {
  if (buffer->WasDetached()) return false;
  ViewType view = kNoView;
  size_t offset = 0;
  size_t length = 0;
  if (!value->IsArrayBuffer()) {
    if (!value->IsArrayBufferView()) return false;
    v8::Local<v8::ArrayBufferView> as_view = value.As<v8::ArrayBufferView>();
    view = ViewTypeOf(value);
    if (view == kNoView || !as_view->Buffer()->StrictEquals(buffer)) return false;
    std::shared_ptr<v8::BackingStore> store = buffer->GetBackingStore();
    if (store->IsResizableByUserJavaScript()) return false;
    offset = as_view->ByteOffset();
    length = view == kDataView ? as_view->ByteLength() : value.As<v8::TypedArray>()->Length();
    if (length > UINT32_MAX) return false;
  } else if (!value->StrictEquals(buffer)) {
    return false;
  }
  msg->kind = Message::Kind::kTransferredBuffer;
  msg->view = view;
  msg->number = static_cast<double>(offset);
  msg->view_length = static_cast<uint32_t>(length);
  return true;
}

v8::Local<v8::Value> DeserializeTransferredBuffer(v8::Isolate* isolate, Message* msg) {
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, msg->attached->transferred[0]);
  size_t offset = static_cast<size_t>(msg->number);
  size_t length = msg->view_length;
  switch (static_cast<ViewType>(msg->view)) {
    case kNoView: return buffer;
    case kUint8: return v8::Uint8Array::New(buffer, offset, length);
    case kUint8Clamped: return v8::Uint8ClampedArray::New(buffer, offset, length);
    case kInt8: return v8::Int8Array::New(buffer, offset, length);
    case kUint16: return v8::Uint16Array::New(buffer, offset, length);
    case kInt16: return v8::Int16Array::New(buffer, offset, length);
    case kUint32: return v8::Uint32Array::New(buffer, offset, length);
    case kInt32: return v8::Int32Array::New(buffer, offset, length);
    case kFloat32: return v8::Float32Array::New(buffer, offset, length);
    case kFloat64: return v8::Float64Array::New(buffer, offset, length);
    case kBigInt64: return v8::BigInt64Array::New(buffer, offset, length);
    case kBigUint64: return v8::BigUint64Array::New(buffer, offset, length);
    case kDataView: return v8::DataView::New(buffer, offset, length);
  }
  return buffer;
}

v8::MaybeLocal<v8::Value> DeserializePrimitive(v8::Isolate* isolate, Message* msg) {
  using Kind = Message::Kind;
  switch (msg->kind) {
    case Kind::kUndefined: return v8::Undefined(isolate);
    case Kind::kNull: return v8::Null(isolate);
    case Kind::kTrue: return v8::True(isolate);
    case Kind::kFalse: return v8::False(isolate);
    case Kind::kNumber: return v8::Number::New(isolate, msg->number);
    case Kind::kOneByteString:
      return v8::String::NewFromOneByte(isolate, msg->data.data(), v8::NewStringType::kNormal,
                                        static_cast<int>(msg->data.size()))
          .FromMaybe(v8::Local<v8::String>());
    case Kind::kTwoByteString:
      return v8::String::NewFromTwoByte(isolate, reinterpret_cast<const uint16_t*>(msg->data.data()),
                                        v8::NewStringType::kNormal,
                                        static_cast<int>(msg->data.size() / 2))
          .FromMaybe(v8::Local<v8::String>());
    case Kind::kTransferredBuffer: return DeserializeTransferredBuffer(isolate, msg);
    case Kind::kSerialized: break;
  }
  return {};
}

}  // namespace

Message* Serialize(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Value> value,
                   v8::Local<v8::Value> transfer, void* source_endpoint) {
  bool nothing_to_transfer = transfer.IsEmpty() || transfer->IsNullOrUndefined() ||
                             (transfer->IsArray() && transfer.As<v8::Array>()->Length() == 0);
  if (nothing_to_transfer && !value->IsObject() && !HasJsTransferables()) {
    std::unique_ptr<Message> msg(new Message());
    if (SerializePrimitive(isolate, value, msg.get())) return msg.release();
  }

  std::vector<v8::Local<v8::ArrayBuffer>> buffers;
  std::vector<v8::Local<v8::Object>> ports;
  struct ClearAliases {
    ~ClearAliases() {
      if (SerializingJsTransferableData()) return;  // a JS transferable's data, not the message
      t_port_aliases.clear();
      ClearJsTransferables();
    }
  } clear_aliases;
  if (!ReadTransferList(isolate, context, transfer, source_endpoint, &buffers, &ports)) return nullptr;
  if (HasJsTransferables() && !SerializingJsTransferableData() && !CloneJsTransferableData(isolate, context, ports)) {
    return nullptr;
  }

  std::unique_ptr<Message> msg(new Message());
  if (buffers.size() == 1 && ports.empty() && !HasJsTransferables() && !SerializingJsTransferableData() &&
      DescribeTransferredBuffer(value, buffers[0], msg.get())) {
    msg->Attach().transferred.push_back(buffers[0]->GetBackingStore());
    if (buffers[0]->Detach(v8::Local<v8::Value>()).IsNothing()) return nullptr;
    return msg.release();
  }
  // A JS transferable's data refers to the ports of its message.
  const std::vector<v8::Local<v8::Object>>* data_ports =
      SerializingJsTransferableData() ? JsTransferableDataPorts() : nullptr;
  SerializerDelegate delegate(isolate, msg.get(), data_ports != nullptr ? *data_ports : ports);
  v8::ValueSerializer serializer(isolate, &delegate);
  delegate.serializer_ = &serializer;
  serializer.WriteHeader();
  for (uint32_t i = 0; i < buffers.size(); i++) serializer.TransferArrayBuffer(i, buffers[i]);
  if (serializer.WriteValue(context, value).IsNothing()) return nullptr;

  // Only now, with nothing left to fail, move buffers and ports out of the sender.
  for (auto& ab : buffers) {
    msg->Attach().transferred.push_back(ab->GetBackingStore());
    if (ab->Detach(v8::Local<v8::Value>()).IsNothing()) return nullptr;
  }
  for (auto& port : ports) msg->Attach().ports.push_back(DetachPortEndpoint(port));

  std::pair<uint8_t*, size_t> bytes = serializer.Release();
  msg->data.assign(bytes.first, bytes.first + bytes.second);
  delegate.FreeBufferMemory(bytes.first);
  return msg.release();
}

v8::MaybeLocal<v8::Value> Deserialize(v8::Isolate* isolate, v8::Local<v8::Context> context,
                                      Message* msg, std::vector<v8::Local<v8::Object>>* ports_out) {
  if (msg->kind != Message::Kind::kSerialized) return DeserializePrimitive(isolate, msg);
  // The ports are made in the caller's handle scope, which may keep them.
  std::vector<v8::Local<v8::Object>> own_ports;
  std::vector<v8::Local<v8::Object>>& ports = ports_out != nullptr ? *ports_out : own_ports;
  Message::Attached none;
  Message::Attached& attached = msg->attached ? *msg->attached : none;
  for (void*& ep : attached.ports) {
    v8::Local<v8::Object> port;
    if (!NewPortForEndpoint(isolate, context, ep).ToLocal(&port)) return {};
    ep = nullptr;  // owned by the port object now
    ports.push_back(port);
  }
  v8::EscapableHandleScope scope(isolate);
  std::vector<v8::Local<v8::Object>> made;
  if (!MakeJsTransferables(isolate, context, msg, &ports, &made)) return {};
  DeserializerDelegate delegate(msg, &ports, &made);
  v8::ValueDeserializer deserializer(isolate, msg->data.data(), msg->data.size(), &delegate);
  delegate.deserializer_ = &deserializer;
  for (uint32_t i = 0; i < attached.transferred.size(); i++) {
    deserializer.TransferArrayBuffer(i, v8::ArrayBuffer::New(isolate, attached.transferred[i]));
  }
  if (deserializer.ReadHeader(context).IsNothing()) return {};
  v8::Local<v8::Value> value;
  if (!deserializer.ReadValue(context).ToLocal(&value)) return {};
  return scope.Escape(value);
}

}  // namespace corral

extern "C" void corral_message_free(void* msg) { delete static_cast<corral::Message*>(msg); }
