// The 'advanced' IPC wire format in C++, for plain data: a 4-byte big-endian length, then V8
// serializer bytes, exactly what Node's JS serializer writes for values without host objects.
// Anything else (typed arrays and Buffers, which Node writes as tagged host objects; values V8
// cannot clone) is left to lib/child_process/serialization.js: encode returns undefined, and
// decode stops at that frame. The JS serializer classes cost more per message than the whole
// rest of an IPC send, which is why this exists.
#include "shim.h"


#include <cstdlib>
#include <cstring>
#include <vector>

namespace corral {
namespace {

// Fails on anything needing a host object or a shared buffer: the caller falls back to JS.
class PlainSerializerDelegate : public v8::ValueSerializer::Delegate {
 public:
  explicit PlainSerializerDelegate(v8::Isolate* isolate) : isolate_(isolate) {}
  void ThrowDataCloneError(v8::Local<v8::String> message) override {
    isolate_->ThrowException(v8::Exception::Error(message));
  }

 private:
  v8::Isolate* isolate_;
};

class PlainDeserializerDelegate : public v8::ValueDeserializer::Delegate {};


// ipcEncode(value) -> Buffer (one whole frame), or undefined when JS must encode it.
void Encode(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::TryCatch try_catch(isolate);
  PlainSerializerDelegate delegate(isolate);
  v8::ValueSerializer serializer(isolate, &delegate);
  serializer.SetTreatArrayBufferViewsAsHostObjects(true);
  const uint8_t length_placeholder[4] = {0, 0, 0, 0};
  serializer.WriteRawBytes(length_placeholder, 4);
  serializer.WriteHeader();
  if (serializer.WriteValue(context, args[0]).IsNothing()) return;  // JS path (try_catch clears)
  std::pair<uint8_t*, size_t> bytes = serializer.Release();
  size_t body = bytes.second - 4;
  bytes.first[0] = static_cast<uint8_t>(body >> 24);
  bytes.first[1] = static_cast<uint8_t>(body >> 16);
  bytes.first[2] = static_cast<uint8_t>(body >> 8);
  bytes.first[3] = static_cast<uint8_t>(body);
  // A plain Uint8Array over the serializer's memory: what the write takes, without what making
  // a Node Buffer costs (its prototype swap and private marker, a tenth of an IPC send).
  std::shared_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(
      bytes.first, bytes.second, [](void* data, size_t, void*) { std::free(data); }, nullptr);
  v8::Local<v8::ArrayBuffer> memory = v8::ArrayBuffer::New(isolate, std::move(store));
  args.GetReturnValue().Set(v8::Uint8Array::New(memory, 0, bytes.second));
}

// The frames of `base[0..length)` (complete frames only) from `offset`, up to the first one JS
// must read: [...values, stop], `stop` being that frame's offset, or -1. Empty when execution
// is terminating.
v8::MaybeLocal<v8::Array> DecodeFrames(v8::Isolate* isolate, v8::Local<v8::Context> context,
                                       const uint8_t* base, size_t length, size_t offset, double* stop_out) {
  std::vector<v8::Local<v8::Value>> values;
  double stop = -1;
  while (offset + 4 <= length) {
    const uint8_t* frame = base + offset;
    size_t body = (static_cast<size_t>(frame[0]) << 24) | (frame[1] << 16) | (frame[2] << 8) | frame[3];
    if (offset + 4 + body > length) break;
    v8::TryCatch try_catch(isolate);
    PlainDeserializerDelegate delegate;
    v8::ValueDeserializer deserializer(isolate, frame + 4, body, &delegate);
    v8::Local<v8::Value> value;
    if (deserializer.ReadHeader(context).IsNothing() ||
        !deserializer.ReadValue(context).ToLocal(&value)) {
      if (try_catch.HasTerminated()) return {};
      stop = static_cast<double>(offset);
      break;
    }
    values.push_back(value);
    offset += 4 + body;
  }
  values.push_back(v8::Number::New(isolate, stop));
  *stop_out = stop;
  return v8::Array::New(isolate, values.data(), values.size());
}

// ipcDecode(bytes, offset) -> [...values, stop] (DecodeFrames over a Buffer JS holds).
void Decode(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  if (!args[0]->IsArrayBufferView()) return;
  v8::Local<v8::ArrayBufferView> view = args[0].As<v8::ArrayBufferView>();
  const uint8_t* base = static_cast<const uint8_t*>(view->Buffer()->Data()) + view->ByteOffset();
  size_t offset = static_cast<size_t>(args[1]->IntegerValue(context).FromMaybe(0));
  double stop;
  v8::Local<v8::Array> out;
  if (DecodeFrames(isolate, context, base, view->ByteLength(), offset, &stop).ToLocal(&out)) {
    args.GetReturnValue().Set(out);
  }
}

}  // namespace

void InitIpcCodecNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                         v8::Local<v8::Object> exports) {
  SetMethod(isolate, context, exports, "ipcEncode", Encode);
  SetMethod(isolate, context, exports, "ipcDecode", Decode);
}

}  // namespace corral

// The same straight from the bytes Rust has just read (src/ipc/js.rs), inside its handle scope
// on this thread: no Buffer is made for them. nullptr when there is no JS to make values in.
extern "C" napi_value corral_ipc_decode(const uint8_t* data, size_t length, double* stop) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate == nullptr) return nullptr;
  v8::Local<v8::Context> context = corral::ThreadContext(isolate);
  if (context.IsEmpty()) return nullptr;
  v8::Context::Scope scope(context);
  v8::EscapableHandleScope handles(isolate);
  v8::Local<v8::Array> out;
  if (!corral::DecodeFrames(isolate, context, data, length, 0, stop).ToLocal(&out)) return nullptr;
  return corral::ToNapi(handles.Escape(out));
}
