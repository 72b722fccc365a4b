// Creating a worker's isolate with its resourceLimits applied by V8 itself.
//
// node.h's NewIsolate(allocator, ...) builds the isolate's CreateParams internally, so heap and
// code-range sizes cannot be passed through it. Node's own Worker uses the overload that takes
// the CreateParams; the node binary exports it (and the helpers it needs) on every
// line corral supports, but no header declares them, so they are looked up at run time: where
// they are missing the worker falls back to node.h's NewIsolate and the caller enforces the
// old-generation cap itself (see HeapGuard in environment.cc).
#include "shim.h"

#include <dlfcn.h>

namespace node {
struct SnapshotData;
}

namespace {

using NewIsolateWithParams = v8::Isolate* (*)(v8::Isolate::CreateParams*, uv_loop_t*,
                                               node::MultiIsolatePlatform*,
                                               const node::SnapshotData*,
                                               const node::IsolateSettings&);
using EmbeddedSnapshot = const node::SnapshotData* (*)();
using SetCreateParams = void (*)(v8::Isolate::CreateParams*);

struct InternalApi {
  NewIsolateWithParams new_isolate = nullptr;
  EmbeddedSnapshot embedded_snapshot = nullptr;
  SetCreateParams set_create_params = nullptr;
  bool complete() const { return new_isolate && embedded_snapshot && set_create_params; }
};

const InternalApi& Internal() {
  static const InternalApi api = [] {
    InternalApi found;
    found.new_isolate = reinterpret_cast<NewIsolateWithParams>(dlsym(
        RTLD_DEFAULT,
        "_ZN4node10NewIsolateEPN2v87Isolate12CreateParamsEP9uv_loop_sPNS_20"
        "MultiIsolatePlatformEPKNS_12SnapshotDataERKNS_15IsolateSettingsE"));
    found.embedded_snapshot = reinterpret_cast<EmbeddedSnapshot>(
        dlsym(RTLD_DEFAULT, "_ZN4node15SnapshotBuilder23GetEmbeddedSnapshotDataEv"));
    found.set_create_params = reinterpret_cast<SetCreateParams>(dlsym(
        RTLD_DEFAULT, "_ZN4node29SetIsolateCreateParamsForNodeEPN2v87Isolate12CreateParamsE"));
    return found;
  }();
  return api;
}

constexpr double kMiB = 1024.0 * 1024.0;

size_t Bytes(double mb) { return static_cast<size_t>(mb * kMiB); }

// The first young generation of a worker isolate: one that holds corral's boot without a
// scavenge on every line (V8 derives the semi-space from it: 2 MiB on Node 20, 1 MiB on 26;
// its pages are touched only as the boot allocates).
constexpr size_t kBootYoungGeneration = 6 * 1024 * 1024;

}  // namespace

namespace corral {

bool CanApplyHeapLimits() { return Internal().complete(); }

// V8's heap sizes for a worker that asks for none, as Node configures them for this machine
// (they differ by line: the young generation is 48 MiB on Node 20/22, 192 on 24, 96 on 26).
void DefaultHeapSizesMb(double* young_mb, double* old_mb) {
  v8::Isolate::CreateParams params;
  if (Internal().set_create_params != nullptr) {
    Internal().set_create_params(&params);
  } else {
    params.constraints.ConfigureDefaults(uv_get_total_memory(), 0);
  }
  *young_mb = static_cast<double>(params.constraints.max_young_generation_size_in_bytes() / (1 << 20));
  *old_mb = static_cast<double>(params.constraints.max_old_generation_size_in_bytes() / (1 << 20));
}

v8::Isolate* NewWorkerIsolate(const std::shared_ptr<node::ArrayBufferAllocator>& allocator,
                              uv_loop_t* loop, node::MultiIsolatePlatform* platform,
                              const node::EmbedderSnapshotData* snapshot, const double limits[4],
                              bool* heap_limits_applied) {
  const double young = limits[0], old = limits[1], code_range = limits[2];
  const InternalApi& api = Internal();
  *heap_limits_applied = false;
  bool wants_limits = young > 0 || old > 0 || code_range > 0;
  if (!api.complete()) return node::NewIsolate(allocator, loop, platform, snapshot);
  // As Node's Worker: V8's defaults for this machine first, then what was asked for on top
  // (NewIsolate keeps constraints whose old generation is already set).
  v8::Isolate::CreateParams params;
  api.set_create_params(&params);
  if (young > 0) params.constraints.set_max_young_generation_size_in_bytes(Bytes(young));
  if (old > 0) params.constraints.set_max_old_generation_size_in_bytes(Bytes(old));
  if (code_range > 0) params.constraints.set_code_range_size_in_bytes(Bytes(code_range));
  // A first young generation that holds corral's boot (about 0.9 MiB with an idle script, where
  // Node's worker bootstrap stays under V8's 0.5 MiB first semi-space): without it the boot's
  // one scavenge grew the semi-space to 1.75 MiB for good and held the new worker 4-8 ms while
  // V8's helper threads finished their share.
  size_t max_young = params.constraints.max_young_generation_size_in_bytes();
  if (max_young == 0 || max_young >= kBootYoungGeneration) {
    params.constraints.set_initial_young_generation_size_in_bytes(kBootYoungGeneration);
  }
  params.array_buffer_allocator_shared = allocator;
  // The built-in snapshot: the same data node::EmbedderSnapshotData::BuiltinSnapshotData()
  // wraps, which the caller passes on to CreateIsolateData (limits: always, see environment.cc).
  const node::SnapshotData* snapshot_data = snapshot != nullptr || wants_limits ? api.embedded_snapshot() : nullptr;
  v8::Isolate* isolate = api.new_isolate(&params, loop, platform, snapshot_data, node::IsolateSettings());
  *heap_limits_applied = wants_limits && isolate != nullptr;
  return isolate;
}

}  // namespace corral
