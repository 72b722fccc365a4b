// A worker's process.env: an object whose string-keyed properties live in a backing object,
// reached through V8's named-property interceptors, as Node's own process.env is made (a Proxy
// would show: util.types.isProxy is true for one, and Node 26's util.inspect prints it as
// `Proxy({ ... })`). Values become strings when set; only plain data descriptors can be
// defined (the JS side throws Node's errors for the others). As in Node, a symbol key reads
// undefined, and setting one throws (the key is made a string).
#include "shim.h"

namespace corral {
namespace {

// V8 12.4 (Node 22) brought interceptors that return whether they handled the request; Node 20's
// V8 has the older ones, which say so through the return value alone.
#if V8_MAJOR_VERSION > 12 || (V8_MAJOR_VERSION == 12 && V8_MINOR_VERSION >= 4)
#define CORRAL_INTERCEPTED v8::Intercepted
#define CORRAL_HANDLED v8::Intercepted::kYes
#define CORRAL_PASSED v8::Intercepted::kNo
using SetterInfo = v8::PropertyCallbackInfo<void>;
#else
#define CORRAL_INTERCEPTED void
#define CORRAL_HANDLED
#define CORRAL_PASSED
using SetterInfo = v8::PropertyCallbackInfo<v8::Value>;
#endif

// The env object's fields: 0 the backing object, 1 the JS refusal of bad descriptors. (Read
// from the holder: PropertyCallbackInfo::Data() trips a strict-aliasing warning in V8's header.)
template <typename T>
v8::Local<v8::Value> FieldOf(const v8::PropertyCallbackInfo<T>& info, int index) {
#if V8_MAJOR_VERSION >= 13
  v8::Local<v8::Object> holder = info.HolderV2();
#else
  v8::Local<v8::Object> holder = info.Holder();
#endif
  return holder->GetInternalField(index).template As<v8::Value>();
}

template <typename T>
v8::Local<v8::Object> BackingOf(const v8::PropertyCallbackInfo<T>& info) {
  return FieldOf(info, 0).template As<v8::Object>();
}

void ThrowSymbolKey() {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  isolate->ThrowException(v8::Exception::TypeError(Str(isolate, "Cannot convert a Symbol value to a string")));
}

bool Has(v8::Local<v8::Context> context, v8::Local<v8::Object> backing, v8::Local<v8::Name> key) {
  return backing->HasOwnProperty(context, key).FromMaybe(false);
}

// (A handled request always sets its return value: V8 12 checks that it did.)
CORRAL_INTERCEPTED Get(v8::Local<v8::Name> key, const v8::PropertyCallbackInfo<v8::Value>& info) {
  if (!key->IsString()) {
    info.GetReturnValue().SetUndefined();
    return CORRAL_HANDLED;
  }
  v8::Local<v8::Context> context = v8::Isolate::GetCurrent()->GetCurrentContext();
  v8::Local<v8::Object> backing = BackingOf(info);
  if (!Has(context, backing, key)) return CORRAL_PASSED;
  v8::Local<v8::Value> value;
  if (backing->Get(context, key).ToLocal(&value)) info.GetReturnValue().Set(value);
  else info.GetReturnValue().SetUndefined();
  return CORRAL_HANDLED;
}

// Stores `value` as a string (a Symbol value throws, as in Node).
bool Store(v8::Local<v8::Context> context, v8::Local<v8::Object> backing, v8::Local<v8::Name> key,
           v8::Local<v8::Value> value) {
  v8::Local<v8::String> text;
  return value->ToString(context).ToLocal(&text) && backing->Set(context, key, text).FromMaybe(false);
}

CORRAL_INTERCEPTED Put(v8::Local<v8::Name> key, v8::Local<v8::Value> value, const SetterInfo& info) {
  if (!key->IsString()) {
    ThrowSymbolKey();
    return CORRAL_HANDLED;
  }
  v8::Local<v8::Context> context = v8::Isolate::GetCurrent()->GetCurrentContext();
  Store(context, BackingOf(info), key, value);
#if !(V8_MAJOR_VERSION > 12 || (V8_MAJOR_VERSION == 12 && V8_MINOR_VERSION >= 4))
  info.GetReturnValue().Set(value);  // (the older interceptors: handled)
#endif
  return CORRAL_HANDLED;
}

CORRAL_INTERCEPTED Query(v8::Local<v8::Name> key, const v8::PropertyCallbackInfo<v8::Integer>& info) {
  if (!key->IsString()) return CORRAL_PASSED;
  v8::Local<v8::Context> context = v8::Isolate::GetCurrent()->GetCurrentContext();
  if (!Has(context, BackingOf(info), key)) return CORRAL_PASSED;
  info.GetReturnValue().Set(static_cast<int32_t>(v8::None));
  return CORRAL_HANDLED;
}

CORRAL_INTERCEPTED Remove(v8::Local<v8::Name> key, const v8::PropertyCallbackInfo<v8::Boolean>& info) {
  v8::Local<v8::Context> context = v8::Isolate::GetCurrent()->GetCurrentContext();
  if (key->IsString()) BackingOf(info)->Delete(context, key).FromMaybe(false);
  info.GetReturnValue().Set(true);
  return CORRAL_HANDLED;
}

void Keys(const v8::PropertyCallbackInfo<v8::Array>& info) {
  v8::Local<v8::Context> context = v8::Isolate::GetCurrent()->GetCurrentContext();
  v8::Local<v8::Array> keys;
  if (BackingOf(info)->GetOwnPropertyNames(context).ToLocal(&keys)) info.GetReturnValue().Set(keys);
}

// defineProperty: a plain, writable, enumerable, configurable data descriptor stores its value;
// anything else goes to the JS refusal given at creation (it throws Node's error).
CORRAL_INTERCEPTED Define(v8::Local<v8::Name> key, const v8::PropertyDescriptor& desc, const SetterInfo& info) {
  if (!key->IsString()) {
    ThrowSymbolKey();
    return CORRAL_HANDLED;
  }
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  bool accessor = desc.has_get() || desc.has_set();
  bool plain = desc.has_value() && desc.has_writable() && desc.writable() && desc.has_enumerable() &&
               desc.enumerable() && desc.has_configurable() && desc.configurable();
  if (accessor || !plain) {
    v8::Local<v8::Value> argv[] = {v8::Boolean::New(isolate, accessor)};
    FieldOf(info, 1).As<v8::Function>()->Call(context, v8::Undefined(isolate), 1, argv).IsEmpty();
    return CORRAL_HANDLED;
  }
  Store(context, BackingOf(info), key, desc.value());
  return CORRAL_HANDLED;
}

CORRAL_INTERCEPTED Describe(v8::Local<v8::Name> key, const v8::PropertyCallbackInfo<v8::Value>& info) {
  if (!key->IsString()) return CORRAL_PASSED;
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Object> backing = BackingOf(info);
  if (!Has(context, backing, key)) return CORRAL_PASSED;
  v8::Local<v8::Value> descriptor;
  if (backing->GetOwnPropertyDescriptor(context, key).ToLocal(&descriptor)) info.GetReturnValue().Set(descriptor);
  else info.GetReturnValue().SetUndefined();
  return CORRAL_HANDLED;
}

// makeEnvObject(values, refuse) -> the env object, holding `values`' own string-keyed
// properties as strings; `refuse(isAccessor)` throws for a descriptor Node refuses.
void MakeEnvObject(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsObject() || !args[1]->IsFunction()) return;
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::ObjectTemplate> shape = v8::ObjectTemplate::New(isolate);
  shape->SetInternalFieldCount(2);
  shape->SetHandler(v8::NamedPropertyHandlerConfiguration(Get, Put, Query, Remove, Keys, Define, Describe));
  v8::Local<v8::Object> env;
  if (!shape->NewInstance(context).ToLocal(&env)) return;
  v8::Local<v8::Object> backing = v8::Object::New(isolate, v8::Null(isolate), nullptr, nullptr, 0);
  env->SetInternalField(0, backing);
  env->SetInternalField(1, args[1]);
  v8::Local<v8::Object> values = args[0].As<v8::Object>();
  v8::Local<v8::Array> keys;
  if (!values->GetOwnPropertyNames(context).ToLocal(&keys)) return;
  for (uint32_t i = 0; i < keys->Length(); i++) {
    v8::Local<v8::Value> key;
    v8::Local<v8::Value> value;
    if (!keys->Get(context, i).ToLocal(&key) || !key->IsString() || !values->Get(context, key).ToLocal(&value) ||
        !Store(context, backing, key.As<v8::Name>(), value)) {
      return;
    }
  }
  args.GetReturnValue().Set(env);
}

}  // namespace

void InitEnvObjectNatives(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> target) {
  SetMethod(isolate, context, target, "makeEnvObject", MakeEnvObject);
}

}  // namespace corral
