// Declarations shared by the C++ shim's files and the Rust <-> C++ boundary.
//
// The shim owns everything that needs V8 or node.h: hosting a Node environment on a thread that
// Rust started, structured clone (v8::ValueSerializer), and the native half of MessagePort
// (a uv_async_t that delivers queued messages with node::MakeCallback). Queues, threads and
// their bookkeeping live in Rust (src/port, src/thread).
#pragma once

#include <node.h>
#include <node_api.h>
#include <uv.h>
#include <v8.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace corral {
// The worker has started, for the parent's inspector (and a debugger that asked to be waited
// for): right after its environment is made, or, on a warm thread, once a Worker claims it.
void WaitForInspectorFrontend(node::Environment* env);
// Inspector handles made on the parent's thread, waiting for their worker's thread (by id).
struct ParentInspector {
  std::unique_ptr<node::InspectorParentHandle> handle;
  node::Environment* env = nullptr;  // the parent's (it outlives its workers: it joins them)
};
void StashInspectorHandle(uint64_t thread_id, ParentInspector parent);
ParentInspector TakeInspectorHandle(uint64_t thread_id);
void AwaitParentTurn(node::Environment* parent);
// A warm thread's environment waiting to be announced when claimed (environment.cc).
void SetPendingInspectorAnnounce(node::Environment* env);
void AnnouncePendingInspector();

// The native pointer in internal field `index` of a wrapper object. V8 14 (Node 26) tags
// embedder pointers by type; corral uses the default tag on every line.
inline void SetWrappedPointer(v8::Local<v8::Object> object, int index, void* pointer) {
#if V8_MAJOR_VERSION >= 14
  object->SetAlignedPointerInInternalField(index, pointer, v8::kEmbedderDataTypeTagDefault);
#else
  object->SetAlignedPointerInInternalField(index, pointer);
#endif
}
inline void* GetWrappedPointer(v8::Local<v8::Object> object, int index) {
#if V8_MAJOR_VERSION >= 14
  return object->GetAlignedPointerFromInternalField(index, v8::kEmbedderDataTypeTagDefault);
#else
  return object->GetAlignedPointerFromInternalField(index);
#endif
}

// A structured-clone payload: made by Serialize on one thread, read by Deserialize on another.
struct Message;
// What an object that transferred itself sends: its deserializeInfo, its data (a message of
// its own) and, for a FileHandle, the fd it gave up (closed with the record unless taken).
struct JsTransferRecord {
  std::string info;
  std::unique_ptr<Message> data;
  int fd = -1;
  ~JsTransferRecord();
};

struct Message {
  // Primitives are their own structured clone: they skip the V8 serializer entirely, and so does
  // a lone transferred ArrayBuffer, or a view of one (kTransferredBuffer: attached->transferred[0]
  // is the buffer; a view's type is `view`, its byte offset `number`, its length `view_length`).
  enum class Kind : uint8_t {
    kSerialized, kUndefined, kNull, kTrue, kFalse, kNumber, kOneByteString, kTwoByteString,
    kTransferredBuffer
  };
  Kind kind = Kind::kSerialized;
  uint8_t view = 0;          // kTransferredBuffer: 0 for the ArrayBuffer itself, else a ViewType
  uint32_t view_length = 0;  // kTransferredBuffer: the view's length in elements
  double number = 0;
  std::vector<uint8_t> data;  // serializer output, or a string's characters
  // What travels beside the bytes; allocated only for messages that have any, which keeps a
  // small message at 48 bytes.
  struct Attached {
    std::vector<std::shared_ptr<v8::BackingStore>> shared;       // SharedArrayBuffers, by id
    std::vector<std::shared_ptr<v8::BackingStore>> transferred;  // ArrayBuffers moved, by id
    std::vector<void*> ports;  // Rust endpoints moved with the message (owned until taken)
    std::vector<v8::CompiledWasmModule> wasm_modules;  // WebAssembly.Modules, by transfer id
    // Objects that transferred themselves, by index (js_transferable.cc).
    std::vector<std::unique_ptr<JsTransferRecord>> js_transferables;
  };
  std::unique_ptr<Attached> attached;
  Attached& Attach() {
    if (!attached) attached.reset(new Attached());
    return *attached;
  }
  ~Message();
  // Per-thread pools: a message is usually freed on another thread (message_pool.cc).
  static void* operator new(size_t size);
  static void operator delete(void* ptr);
};

// Serializes `value`; on failure a JS exception is pending and nullptr is returned.
// `transfer` may be empty. `source_port` (may be null) is the port the message is posted on,
// which may not appear in its own transfer list.
Message* Serialize(v8::Isolate* isolate, v8::Local<v8::Context> context,
                   v8::Local<v8::Value> value, v8::Local<v8::Value> transfer,
                   void* source_endpoint);
// Reads a message; ports in it become MessagePort objects of this thread (also put in `ports`,
// when given, in the caller's handle scope). Does not free `msg`.
v8::MaybeLocal<v8::Value> Deserialize(v8::Isolate* isolate, v8::Local<v8::Context> context,
                                      Message* msg,
                                      std::vector<v8::Local<v8::Object>>* ports = nullptr);

// Node ports bridged by JS for the next Serialize on this thread: [original, corral port, ...].
void SetPortAliases(v8::Isolate* isolate, v8::Local<v8::Array> pairs);

// Objects that transfer themselves (FileHandle, Node's JSTransferable classes): js_transferable.cc.
// [object, data, deserializeInfo, fd | -1, ...] for the next Serialize on this thread, which
// clones each data (CloneJsTransferableData: false with an exception pending) once the transfer
// list has passed its checks.
void SetJsTransferables(v8::Isolate* isolate, v8::Local<v8::Array> list);
// A data may hold ports of the message's transfer list (a web stream's channel): written, and
// read again, as their index among the message's ports.
bool CloneJsTransferableData(v8::Isolate* isolate, v8::Local<v8::Context> context,
                             const std::vector<v8::Local<v8::Object>>& ports);
// While a data is serialized: the ports of the message it belongs to (else null).
const std::vector<v8::Local<v8::Object>>* JsTransferableDataPorts();
bool LooksJsTransferable(v8::Isolate* isolate, v8::Local<v8::Object> object);
void ClearJsTransferables();
bool HasJsTransferables();
bool SerializingJsTransferableData();
bool IsJsTransferable(v8::Isolate* isolate, v8::Local<v8::Object> object);
// Just(false) when `object` is not one of them; writes `tag` and the record's index.
v8::Maybe<bool> WriteJsTransferable(v8::Isolate* isolate, v8::ValueSerializer* serializer, Message* msg,
                                    v8::Local<v8::Object> object, uint32_t tag);
// Makes the message's objects (before its value is read: no JS runs inside V8's deserializer).
// `ports`: the message's ports, already made.
bool MakeJsTransferables(v8::Isolate* isolate, v8::Local<v8::Context> context, Message* msg,
                         std::vector<v8::Local<v8::Object>>* ports, std::vector<v8::Local<v8::Object>>* out);
// The thread's factory(deserializeInfo, data, fd, index in its message) that makes such an object again.
void SetJsTransferableFactory(v8::Isolate* isolate, v8::Local<v8::Function> factory);
// The thread's describer(kind, object) -> the data to clone, or undefined when the line cannot
// clone it (lib/worker_threads/js-transferable.js): for a class only JS can read.
void SetNodeObjectDescriber(v8::Isolate* isolate, v8::Local<v8::Function> describer);
v8::MaybeLocal<v8::Value> DescribeNodeObject(v8::Isolate* isolate, const char* kind, v8::Local<v8::Object> object);

// Objects of Node's classes that Node's serializer takes as host objects (node_classes.cc): V8
// alone would write them as plain objects. kRefused: Blob, URL, web streams, ... (DataCloneError,
// or the missing-transfer-list error); kDomException: cloned as Node clones it; kKeyObject: a
// crypto KeyObject, cloned through its exported key; kSocketAddress: a net.SocketAddress, cloned
// through its fields (both made again by the receiving thread); kBlob: a Blob or File, cloned
// through its bytes; kX509Certificate: a crypto.X509Certificate, cloned through its DER bytes;
// kBlockList: a net.BlockList, cloned through its rules.
enum class NodeClass : int32_t {
  kNone = 1,
  kRefused = 2,
  kDomException = 3,
  kKeyObject = 4,
  kSocketAddress = 5,
  kCryptoKey = 6,
  kBlob = 7,
  kX509Certificate = 8,
  kBlockList = 9,
};
NodeClass ClassifyNodeObject(v8::Isolate* isolate, v8::Local<v8::Object> object);
// Writes `data` (a plain value) as a record the receiving thread makes an object from with the
// JS factory (js_transferable.cc), under `info`.
v8::Maybe<bool> WriteClonedRecord(v8::Isolate* isolate, v8::Local<v8::Context> context,
                                  v8::ValueSerializer* serializer, Message* msg, const char* info,
                                  v8::Local<v8::Value> data, uint32_t tag);

// markAsUncloneable: a marked object makes structured clone throw DataCloneError (clone.cc).
extern std::atomic<bool> g_uncloneable_marked;
void MarkUncloneable(v8::Isolate* isolate, v8::Local<v8::Object> object);
bool IsMarkedUncloneable(v8::Isolate* isolate, v8::Local<v8::Object> object);

// MessagePort natives (port.cc).
bool IsPortObject(v8::Isolate* isolate, v8::Local<v8::Value> value);
void* PortEndpoint(v8::Local<v8::Object> port);   // null when closed or transferred
void* DetachPortEndpoint(v8::Local<v8::Object> port);  // takes the endpoint out of the port
v8::MaybeLocal<v8::Object> NewPortForEndpoint(v8::Isolate* isolate,
                                              v8::Local<v8::Context> context, void* endpoint);
void InitPorts(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> exports);
// This thread's ports that hold its event loop as a Node MessagePort handle would (ref'd, open,
// not corral's internal channels), in the order they were made.
void ListedPorts(v8::Isolate* isolate, std::vector<v8::Local<v8::Object>>* out);
// process._getActiveHandles() and getActiveResourcesInfo() with those ports (active_handles.cc).
void InitActiveHandleNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                             v8::Local<v8::Object> exports);
void ClosePortsOfThisThread();
// A claimed warm thread takes its worker's threadId.
void SetCurrentThreadId(uint64_t id);
// The worker's OS thread name, where the line's Node sets one (null or empty: the default).
void NameWorkerThread(const char* name);
uint64_t CurrentThreadId();  // corral's id of the calling thread (0: main)

// The context this thread's corral natives were made in (empty before they exist or once the
// environment is being torn down).
v8::Local<v8::Context> ThreadContext(v8::Isolate* isolate);

// IPC 'advanced' codec natives (ipc_codec.cc).
void InitIpcCodecNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                         v8::Local<v8::Object> exports);

// A worker's process.env object (env_object.cc).
void InitEnvObjectNatives(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> target);

// Code caches of corral's JS modules, shared by the process's environments (code_cache.cc).
void InitCodeCacheNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                          v8::Local<v8::Object> exports);
// What a worker's bootstrap loads corral's first files with, before the addon is loaded there
// (compileModule and moduleSource only).
void InitBootNatives(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> target);

// BroadcastChannel natives (broadcast.cc).
void InitBroadcastNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                          v8::Local<v8::Object> exports);

// A warm thread's worker has begun: a stop from now ends it with 1 (environment.cc).
void CountEnvironmentFromNow();
// Worker natives (worker.cc).
void StopProfilers(v8::Isolate* isolate);  // before a worker's environment is freed
void InitProfilerNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                         v8::Local<v8::Object> exports);
void InitMailboxNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                        v8::Local<v8::Object> exports);
void InitWorkerNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                       v8::Local<v8::Object> exports);
// Questions a parent asks a busy worker (questions.cc): `env` answers request `id` between two
// of its JS steps, over its control port.
void AskBetweenSteps(node::Environment* env, uint32_t id, int32_t op);
void InitQuestionNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                         v8::Local<v8::Object> exports);
// The Rust endpoint of a MessagePort object of this thread (null: not a port, or closed).
void* PortEndpoint(v8::Local<v8::Value> port);

// Pool natives (pool.cc), and the teardown of this thread's pool handles.
void InitPoolNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                     v8::Local<v8::Object> exports);
void ClosePoolEndsOfThisThread();

// Spin-before-sleep for threads whose ports are busy (spin.cc). While `spinning`, a sender
// puts the port on the thread's ready list and calls RingSpinner instead of waking the loop;
// the spinner then calls `drain`, which delivers the ready ports.
struct Spinner {
  uv_prepare_t prepare;
  uv_idle_t idle;           // keeps the next poll from blocking after a drain
  int open_handles = 0;
  uint64_t deliveries = 0;  // port messages delivered on this thread (owner thread only)
  uint64_t seen = 0;        // deliveries at the previous loop turn
  uint64_t last_drain = 0;  // messages the spinner's previous drain delivered
  uint64_t gave_up_at = 0;  // uv_hrtime() when the last spin ran out of budget, else 0
  uint32_t yield_spins = 0; // spins left that yield the CPU as they poll (see spin.cc)
  bool ipc_last = false;    // the last delivery was an IPC message (a shorter spin, spin.cc)
  std::atomic<bool> spinning{false};
  std::atomic<bool> rung{false};
  void (*drain)(void*) = nullptr;
  void* drain_arg = nullptr;
  // Counters other processes bump after writing to one of this thread's IPC channels
  // (src/ipc/bell.rs): a spin sees their messages without polling the loop.
  std::vector<const std::atomic<uint32_t>*> bells;
};
Spinner* StartSpinner(uv_loop_t* loop, void (*drain)(void*), void* drain_arg);  // null when off
// After queueing work for the spinner's thread: true if its spinner will pick it up.
bool RingSpinner(Spinner* spinner);
// A port of the spinner's thread was woken through its loop (not by a ring).
void NoteLoopWake(Spinner* spinner);
void StopSpinner(Spinner* spinner);

// A worker's isolate from the built-in snapshot with resourceLimits (MiB; young, old, code range,
// stack) applied by V8. *heap_limits_applied is false when they could not be (isolate.cc).
v8::Isolate* NewWorkerIsolate(const std::shared_ptr<node::ArrayBufferAllocator>& allocator,
                              uv_loop_t* loop, node::MultiIsolatePlatform* platform,
                              const node::EmbedderSnapshotData* snapshot, const double limits[4],
                              bool* heap_limits_applied);
bool CanApplyHeapLimits();
// Whether workers start from Node's built-in snapshot (not under --no-node-snapshot).
void SetUseSnapshot(bool use);
void DefaultHeapSizesMb(double* young_mb, double* old_mb);

// Throws `new DOMException(message, 'DataCloneError')` in the current context.
void ThrowDataCloneError(v8::Isolate* isolate, v8::Local<v8::String> message);

// Helpers.
inline v8::Local<v8::String> Str(v8::Isolate* isolate, const char* s) {
  return v8::String::NewFromUtf8(isolate, s).ToLocalChecked();
}
void SetMethod(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> target,
               const char* name, v8::FunctionCallback callback);
v8::Local<v8::Value> ToLocal(napi_value value);
napi_value ToNapi(v8::Local<v8::Value> value);

}  // namespace corral

extern "C" {

// ---- implemented in Rust (src/port) ----
// pop: 1 = a message in *msg, 0 = queue empty, 2 = empty and the other side has closed.
int32_t corral_ep_pop(void* ep, void** msg);
bool corral_ep_has_news(void* ep);
bool corral_ep_drained_and_closed(void* ep);
// Registers the waker (a PortData*) called when messages arrive; null detaches.
void corral_ep_set_waker(void* ep, void* waker);
// Queues msg (taking it) for the other side. Returns false (and frees msg) if that side closed.
bool corral_ep_send(void* ep, void* msg);
// Closes both sides (the other side sees it through pop returning 2) and frees the endpoint.
void corral_ep_close(void* ep);
// Creates an entangled pair.
void corral_ep_pair(void** a, void** b);
// True when a and b are the two ends of one channel.
bool corral_ep_entangled(void* a, void* b);

// ---- implemented in Rust (src/thread) ----
struct CorralWorkerSpec {
  const char* const* argv;
  size_t argc;
  const char* const* exec_argv;
  size_t exec_argc;
  const char* bootstrap;   // function(process, internalRequire) -> boot module (environment.cc)
  void* payload;           // Message* deserialized by the worker at boot (owned by the spec)
  double limits[4];        // maxYoungGenerationSizeMb, maxOldGenerationSizeMb, codeRangeSizeMb, stackSizeMb
  const char* name;
  uint32_t flags;          // kWorkerTrackUnmanagedFds, ...
  // The worker's threadId when it was reserved before the spawn (corral_thread_reserve_id, or a
  // warm one): its inspector handle, if any, waits under it (StashInspectorHandle). 0: none.
  uint64_t thread_id;
};
constexpr uint32_t kWorkerTrackUnmanagedFds = 1;  // src/shim/mod.rs WORKER_TRACK_UNMANAGED_FDS
constexpr uint32_t kWorkerWarm = 2;  // a warm thread: its worker does not exist yet
// Started ahead of its payload by its own Worker's constructor (deliver() hands it over).
constexpr uint32_t kWorkerAwaitsPayload = 4;  // src/shim/mod.rs WORKER_AWAITS_PAYLOAD
// Reserves the threadId of a worker that is about to be spawned with it (spec->thread_id).
uint64_t corral_thread_reserve_id();
// Frees the InspectorParentHandle kept for a worker whose thread did not start.
void corral_inspector_handle_drop(uint64_t thread_id);
// Starts a worker thread; returns its threadId (0 on failure, with payload freed).
uint64_t corral_thread_spawn(const CorralWorkerSpec* spec, uint64_t parent_id);
// Asks a worker to stop (thread-safe; no-op once it has ended).
void corral_thread_stop(uint64_t id);
// Exit code of a worker that has ended, or INT32_MIN if still running.
int32_t corral_thread_exit_code(uint64_t id);
// Stops and joins the workers started by thread `parent_id` (0 = main), or all when `all`.
void corral_thread_stop_join(uint64_t parent_id, bool all);
// Takes the boot payload of the worker running on this thread (null if none / taken); a warm
// thread blocks until it is claimed, and then has its worker's id.
void* corral_thread_take_payload();
// Hands `payload` to the thread `id` started with kWorkerAwaitsPayload; false (payload freed)
// if that thread is gone.
bool corral_thread_deliver(uint64_t id, void* payload);
// The threadId of the worker on this thread (0 on the main thread).
uint64_t corral_current_thread_id();
void corral_thread_mark_begun();
bool corral_thread_begun();
// Starts warm threads (spec's payload ignored) until `count` wait to be claimed.
size_t corral_thread_warm_missing(size_t count);
uint64_t corral_thread_reserve_warm_id();
// Hands payload to a warm thread: its new threadId, or 0 (payload not taken) if none waits.
uint64_t corral_thread_claim_warm(void* payload);
// Records a worker's exit code, before its environment (and so its ports) is torn down.
void corral_thread_set_exit_code(uint64_t id, int32_t code);
// Records that a worker was stopped for exceeding its heap limit.
void corral_thread_set_out_of_memory(uint64_t id);
// Whether a worker that has ended was stopped for exceeding its heap limit (read once).
bool corral_thread_take_out_of_memory(uint64_t id);
// Marks a worker's environment as freed / waits (bounded) until it is (read once).
void corral_thread_env_freed(uint64_t id);
bool corral_thread_await_env_freed(uint64_t id, uint32_t timeout_ms);
// Records that a worker's boot failed before it could report anything itself.
void corral_thread_set_init_failed(uint64_t id, const char* detail);
// The failure text of such a worker (read once); false if its boot did not fail.
bool corral_thread_take_init_failed(uint64_t id, char* out, size_t len);

// ---- implemented in C++, called from Rust ----
// Once per environment (main or worker) when the addon loads in it.
napi_value corral_shim_init(napi_env env, napi_value exports, uint64_t thread_id);
napi_value corral_ipc_decode(const uint8_t* data, size_t length, double* stop);
void corral_message_free(void* msg);
// A copy of a message that transfers nothing (for BroadcastChannel members).
void* corral_message_clone(void* msg);
void corral_port_wake(void* waker);
// Runs a Node environment on the calling thread until it ends; returns its exit code.
// `handle` receives the stop handle as soon as it exists.
int32_t corral_env_run(const CorralWorkerSpec* spec, uint64_t thread_id, void* stop_cell);
// Stop cells: a mutex-guarded Environment* that another thread can stop.
void* corral_stop_cell_new();
void corral_stop_cell_free(void* cell);
void corral_stop_cell_stop(void* cell);
// A running worker's event-loop idle time and start time (uv_hrtime ns); false if not running.
bool corral_stop_cell_loop_times(void* cell, uint64_t* idle_ns, uint64_t* start_ns);
// Same, by threadId (Rust looks the cell up in its registry).
bool corral_thread_loop_times(uint64_t id, uint64_t* idle_ns, uint64_t* start_ns);
// Has a running worker answer request `id` between its JS steps (questions.cc); false if it has
// no environment.
bool corral_stop_cell_ask(void* cell, uint32_t id, int32_t op);
bool corral_thread_ask(uint64_t thread_id, uint32_t id, int32_t op);

}  // extern "C"

// ---- shared memory (src/shared/ffi.rs; natives in shared.cc) ----
namespace corral {
void InitSharedNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                       v8::Local<v8::Object> exports);
}  // namespace corral

extern "C" {
struct CorralRegionOut {
  void* region;   // owned Region; corral_region_release frees it
  uint8_t* data;
  size_t len;
  uint64_t dev;
  uint64_t ino;
};
// 0 = ok, < 0 = -errno, >= 1000 = corral code (not found, exists, directory full, bad name).
int32_t corral_region_create(uint64_t size, const uint8_t* name, size_t name_len, bool posix,
                             CorralRegionOut* out);
// mode 1: name in the program directory, 2: POSIX shm name, 3: handle string, 4: fd.
int32_t corral_region_open(int32_t mode, const uint8_t* arg, size_t arg_len, int32_t fd,
                           CorralRegionOut* out);
void corral_region_release(void* region);
intptr_t corral_region_describe(const uint8_t* addr, uint8_t* buf, size_t cap);
}  // extern "C"
