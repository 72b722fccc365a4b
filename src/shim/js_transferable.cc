// Objects that transfer themselves, Node's way (a `fs.promises` FileHandle, and the classes
// built on Node's internal JSTransferable): their `[kTransfer]()` gives `{ data,
// deserializeInfo }`, and the receiving thread makes the object again from those.
//
// lib/worker_threads/js-transferable.js finds them in a transfer list, calls their
// `[kTransferList]()` and `[kTransfer]()` and hands the results here just before the message is
// serialized (SetJsTransferables, which clones each `data` at once). Where the serializer meets
// one of those objects it moves the record (data, deserializeInfo and, for a FileHandle, the fd
// it gave up) into the message and writes its index. The receiving thread makes every object
// (the JS factory; JS cannot run inside V8's deserializer) before it reads the message, which
// then refers to them by index; a factory's error becomes the message's 'messageerror'. An fd
// that no thread takes is closed with the message.
#include "shim.h"

#include <unistd.h>
#include <v8-version.h>

#include <string>
#include <utility>
#include <vector>

namespace corral {

JsTransferRecord::~JsTransferRecord() {
  if (fd >= 0) close(fd);
}

namespace {

struct Entry {
  v8::Global<v8::Object> object;
  v8::Global<v8::Value> data;
  v8::Global<v8::Value> info;
  std::unique_ptr<JsTransferRecord> record;
};

// For the next Serialize on this thread only (cleared by it, so no handle outlives the
// thread's isolate).
thread_local std::vector<Entry> t_entries;

// The factory lives on the context's global object (a private key), not in a thread_local
// handle that would outlive the isolate.
v8::Local<v8::Private> FactoryKey(v8::Isolate* isolate) {
  return v8::Private::ForApi(isolate, Str(isolate, "corral.jsTransferableFactory"));
}

}  // namespace

thread_local bool t_serializing_data = false;
thread_local const std::vector<v8::Local<v8::Object>>* t_data_ports = nullptr;

bool SerializingJsTransferableData() { return t_serializing_data; }

const std::vector<v8::Local<v8::Object>>* JsTransferableDataPorts() { return t_data_ports; }

void SetJsTransferables(v8::Isolate* isolate, v8::Local<v8::Array> list) {
  ClearJsTransferables();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  // [object, data, deserializeInfo, fd | -1, ...]
  for (uint32_t i = 0; i + 3 < list->Length(); i += 4) {
    v8::Local<v8::Value> object, data, info, fd;
    if (!list->Get(context, i).ToLocal(&object) || !list->Get(context, i + 1).ToLocal(&data) ||
        !list->Get(context, i + 2).ToLocal(&info) || !list->Get(context, i + 3).ToLocal(&fd) ||
        !object->IsObject()) {
      continue;
    }
    auto record = std::make_unique<JsTransferRecord>();
    record->fd = fd->IsInt32() ? fd.As<v8::Int32>()->Value() : -1;
    t_entries.push_back(Entry{v8::Global<v8::Object>(isolate, object.As<v8::Object>()),
                              v8::Global<v8::Value>(isolate, data), v8::Global<v8::Value>(isolate, info),
                              std::move(record)});
  }
}

bool CloneJsTransferableData(v8::Isolate* isolate, v8::Local<v8::Context> context,
                             const std::vector<v8::Local<v8::Object>>& ports) {
  struct Reset {
    ~Reset() { t_data_ports = nullptr; }
  } reset;
  t_data_ports = &ports;
  for (Entry& entry : t_entries) {
    v8::Local<v8::String> text;
    if (!entry.info.Get(isolate)->ToString(context).ToLocal(&text)) return false;
    entry.record->info = *v8::String::Utf8Value(isolate, text);
    // The data travels as a message of its own (what it holds of the message's transfer list,
    // its ports, by their index there); that serialization leaves the pending message's state
    // (port aliases, these entries) alone.
    t_serializing_data = true;
    entry.record->data.reset(Serialize(isolate, context, entry.data.Get(isolate), v8::Local<v8::Value>(), nullptr));
    t_serializing_data = false;
    if (!entry.record->data) return false;
  }
  return true;
}

void ClearJsTransferables() { t_entries.clear(); }  // records close the fds nobody took

v8::Maybe<bool> WriteClonedRecord(v8::Isolate* isolate, v8::Local<v8::Context> context,
                                  v8::ValueSerializer* serializer, Message* msg, const char* info,
                                  v8::Local<v8::Value> data, uint32_t tag) {
  auto record = std::make_unique<JsTransferRecord>();
  record->info = info;
  // (A message of its own, serialized inside the pending one: that one's state stays.)
  bool outer = std::exchange(t_serializing_data, true);
  record->data.reset(Serialize(isolate, context, data, v8::Local<v8::Value>(), nullptr));
  t_serializing_data = outer;
  if (!record->data) return v8::Nothing<bool>();
  auto& records = msg->Attach().js_transferables;
  records.push_back(std::move(record));
  serializer->WriteUint32(tag);
  serializer->WriteUint32(static_cast<uint32_t>(records.size() - 1));
  return v8::Just(true);
}

bool HasJsTransferables() { return !t_entries.empty(); }

bool IsJsTransferable(v8::Isolate* isolate, v8::Local<v8::Object> object) {
  for (Entry& entry : t_entries) {
    if (entry.object.Get(isolate)->StrictEquals(object)) return true;
  }
  return false;
}

v8::Maybe<bool> WriteJsTransferable(v8::Isolate* isolate, v8::ValueSerializer* serializer, Message* msg,
                                    v8::Local<v8::Object> object, uint32_t tag) {
  // (V8 writes an object met twice as a back-reference: each is written here once.)
  for (Entry& entry : t_entries) {
    if (!entry.record || !entry.object.Get(isolate)->StrictEquals(object)) continue;
    auto& records = msg->Attach().js_transferables;
    records.push_back(std::move(entry.record));
    serializer->WriteUint32(tag);
    serializer->WriteUint32(static_cast<uint32_t>(records.size() - 1));
    return v8::Just(true);
  }
  return v8::Just(false);
}

// A FileHandle, or another object Node transfers by itself, found in a message without being
// in its transfer list (only asked on the way to an error).
bool LooksJsTransferable(v8::Isolate* isolate, v8::Local<v8::Object> object) {
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Value> proto = object;
  for (int depth = 0; depth < 16 && proto->IsObject(); depth++) {
    v8::Local<v8::Array> keys;
    if (!proto.As<v8::Object>()
             ->GetOwnPropertyNames(context, static_cast<v8::PropertyFilter>(v8::SKIP_STRINGS))
             .ToLocal(&keys)) {
      return false;
    }
    for (uint32_t i = 0; i < keys->Length(); i++) {
      v8::Local<v8::Value> key;
      if (!keys->Get(context, i).ToLocal(&key) || !key->IsSymbol()) continue;
      v8::Local<v8::Value> description = key.As<v8::Symbol>()->Description(isolate);
      if (description->IsString() &&
          *v8::String::Utf8Value(isolate, description) == std::string("messaging_transfer_symbol")) {
        return true;
      }
    }
#if V8_MAJOR_VERSION > 13 || (V8_MAJOR_VERSION == 13 && V8_MINOR_VERSION >= 6)
    proto = proto.As<v8::Object>()->GetPrototypeV2();
#else
    proto = proto.As<v8::Object>()->GetPrototype();
#endif
  }
  return false;
}

bool MakeJsTransferables(v8::Isolate* isolate, v8::Local<v8::Context> context, Message* msg,
                         std::vector<v8::Local<v8::Object>>* ports, std::vector<v8::Local<v8::Object>>* out) {
  if (!msg->attached || msg->attached->js_transferables.empty()) return true;
  v8::Local<v8::Value> factory;
  if (!context->Global()->GetPrivate(context, FactoryKey(isolate)).ToLocal(&factory) || !factory->IsFunction()) {
    isolate->ThrowException(v8::Exception::Error(Str(isolate, "Unknown deserialize spec")));
    return false;
  }
  for (size_t index = 0; index < msg->attached->js_transferables.size(); index++) {
    auto& record = msg->attached->js_transferables[index];
    v8::Local<v8::Value> data;
    if (!Deserialize(isolate, context, record->data.get(), ports).ToLocal(&data)) return false;
    v8::Local<v8::Value> fd = v8::Undefined(isolate);
    if (record->fd >= 0) {
      fd = v8::Integer::New(isolate, record->fd);
      record->fd = -1;  // the factory owns it now (and closes it if it cannot use it)
    }
    v8::Local<v8::Value> args[] = {Str(isolate, record->info.c_str()), data, fd,
                                   v8::Integer::NewFromUnsigned(isolate, static_cast<uint32_t>(index))};
    v8::Local<v8::Value> made;
    if (!factory.As<v8::Function>()->Call(context, v8::Undefined(isolate), 4, args).ToLocal(&made)) return false;
    if (!made->IsObject()) {
      isolate->ThrowException(v8::Exception::Error(Str(isolate, "Invalid host object in message")));
      return false;
    }
    out->push_back(made.As<v8::Object>());
  }
  return true;
}

// The thread's describer(kind, object) -> data | undefined, for Node's classes whose data only
// JS can read (a webcrypto CryptoKey): set with the factory, on the context's global object.
v8::Local<v8::Private> DescriberKey(v8::Isolate* isolate) {
  return v8::Private::ForApi(isolate, Str(isolate, "corral.nodeObjectDescriber"));
}

void SetNodeObjectDescriber(v8::Isolate* isolate, v8::Local<v8::Function> describer) {
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  context->Global()->SetPrivate(context, DescriberKey(isolate), describer).Check();
}

v8::MaybeLocal<v8::Value> DescribeNodeObject(v8::Isolate* isolate, const char* kind, v8::Local<v8::Object> object) {
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Value> describer;
  if (!context->Global()->GetPrivate(context, DescriberKey(isolate)).ToLocal(&describer) || !describer->IsFunction()) {
    return v8::Undefined(isolate);
  }
  v8::Local<v8::Value> args[] = {Str(isolate, kind), object};
  return describer.As<v8::Function>()->Call(context, v8::Undefined(isolate), 2, args);
}

void SetJsTransferableFactory(v8::Isolate* isolate, v8::Local<v8::Function> factory) {
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  context->Global()->SetPrivate(context, FactoryKey(isolate), factory).Check();
}

}  // namespace corral
