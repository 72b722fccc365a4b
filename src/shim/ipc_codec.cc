// The 'advanced' IPC wire format in C++, for plain data: a 4-byte big-endian length, then V8
// serializer bytes, exactly what Node's JS serializer writes for values without host objects.
// Anything else (typed arrays and Buffers, which Node writes as tagged host objects; values V8
// cannot clone) is left to lib/child_process/serialization.js: encode returns undefined, and
// decode stops at that frame. The JS serializer classes cost more per message than the whole
// rest of an IPC send, which is why this exists.
#include "shim.h"

#include <node_buffer.h>

#include <cstdlib>
#include <cstring>

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

void FreeSerialized(char* data, void*) { std::free(data); }

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
  v8::Local<v8::Object> buffer;
  if (!node::Buffer::New(isolate, reinterpret_cast<char*>(bytes.first), bytes.second, FreeSerialized,
                         nullptr)
           .ToLocal(&buffer)) {
    return;
  }
  args.GetReturnValue().Set(buffer);
}

// ipcDecode(bytes, offset) -> [...values, stop]: the frames of `bytes` (complete frames only)
// from `offset`, up to the first one JS must read; `stop` is that frame's offset, or -1.
void Decode(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  if (!args[0]->IsArrayBufferView()) return;
  v8::Local<v8::ArrayBufferView> view = args[0].As<v8::ArrayBufferView>();
  const uint8_t* base = static_cast<const uint8_t*>(view->Buffer()->Data()) + view->ByteOffset();
  size_t length = view->ByteLength();
  size_t offset = static_cast<size_t>(args[1]->IntegerValue(context).FromMaybe(0));
  v8::Local<v8::Array> out = v8::Array::New(isolate);
  uint32_t count = 0;
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
      if (try_catch.HasTerminated()) return;
      stop = static_cast<double>(offset);
      break;
    }
    if (out->Set(context, count++, value).IsNothing()) return;
    offset += 4 + body;
  }
  if (out->Set(context, count, v8::Number::New(isolate, stop)).IsNothing()) return;
  args.GetReturnValue().Set(out);
}

}  // namespace

void InitIpcCodecNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                         v8::Local<v8::Object> exports) {
  SetMethod(isolate, context, exports, "ipcEncode", Encode);
  SetMethod(isolate, context, exports, "ipcDecode", Decode);
}

}  // namespace corral
