// CPU profiles and sampling heap profiles of the calling thread's isolate, as JSON in the
// formats Node writes (.cpuprofile, and the sampling heap profile of the inspector protocol).
//
// worker.startCpuProfile() / startHeapProfile() run these on the worker's own thread. Lines whose
// `v8` module has startCpuProfile / startHeapProfile use those (same bytes as Node's own); these
// serve the lines where Worker has the method but `v8` does not (CPU on 22, heap on 24).
#include <v8-profiler.h>

#include <cstdio>
#include <string>

#include "shim.h"

namespace corral {
namespace {

void AppendEscaped(std::string* out, const char* text) {
  out->push_back('"');
  for (const unsigned char* p = reinterpret_cast<const unsigned char*>(text); *p; ++p) {
    switch (*p) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (*p < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", *p);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(*p));
        }
    }
  }
  out->push_back('"');
}

void AppendNumber(std::string* out, int64_t n) { out->append(std::to_string(n)); }

std::string ToUtf8(v8::Isolate* isolate, v8::Local<v8::String> s) {
  v8::String::Utf8Value text(isolate, s);
  return *text ? std::string(*text, text.length()) : std::string();
}

// ---- CPU ----

thread_local v8::CpuProfiler* t_cpu_profiler = nullptr;
thread_local int t_cpu_profiles = 0;

void AppendCpuNode(std::string* out, const v8::CpuProfileNode* node) {
  out->append("{\"id\":");
  AppendNumber(out, node->GetNodeId());
  out->append(",\"hitCount\":");
  AppendNumber(out, node->GetHitCount());
  out->append(",\"callFrame\":{\"functionName\":");
  AppendEscaped(out, node->GetFunctionNameStr());
  // V8 counts lines and columns from 1; the profile format from 0 (-1: none).
  out->append(",\"lineNumber\":");
  AppendNumber(out, node->GetLineNumber() - 1);
  out->append(",\"columnNumber\":");
  AppendNumber(out, node->GetColumnNumber() - 1);
  out->append(",\"scriptId\":");
  AppendNumber(out, node->GetScriptId());
  out->append(",\"url\":");
  AppendEscaped(out, node->GetScriptResourceNameStr());
  out->push_back('}');
  int children = node->GetChildrenCount();
  if (children > 0) {
    out->append(",\"children\":[");
    for (int i = 0; i < children; i++) {
      if (i) out->push_back(',');
      AppendNumber(out, node->GetChild(i)->GetNodeId());
    }
    out->push_back(']');
  }
  unsigned int lines = node->GetHitLineCount();
  if (lines > 0) {
    std::vector<v8::CpuProfileNode::LineTick> ticks(lines);
    if (node->GetLineTicks(ticks.data(), lines)) {
      out->append(",\"positionTicks\":[");
      for (unsigned int i = 0; i < lines; i++) {
        if (i) out->append(",");
        out->append("{\"line\":");
        AppendNumber(out, ticks[i].line);
        out->append(",\"ticks\":");
        AppendNumber(out, ticks[i].hit_count);
        out->push_back('}');
      }
      out->push_back(']');
    }
  }
  out->push_back('}');
}

void AppendCpuNodes(std::string* out, const v8::CpuProfileNode* node, bool* first) {
  if (!*first) out->push_back(',');
  *first = false;
  AppendCpuNode(out, node);
  for (int i = 0; i < node->GetChildrenCount(); i++) AppendCpuNodes(out, node->GetChild(i), first);
}

std::string CpuProfileJson(const v8::CpuProfile* profile) {
  std::string out = "{\"nodes\":[";
  bool first = true;
  AppendCpuNodes(&out, profile->GetTopDownRoot(), &first);
  out.append("],\"startTime\":");
  AppendNumber(&out, profile->GetStartTime());
  out.append(",\"endTime\":");
  AppendNumber(&out, profile->GetEndTime());
  out.append(",\"samples\":[");
  int samples = profile->GetSamplesCount();
  for (int i = 0; i < samples; i++) {
    if (i) out.push_back(',');
    AppendNumber(&out, profile->GetSample(i)->GetNodeId());
  }
  out.append("],\"timeDeltas\":[");
  int64_t last = profile->GetStartTime();
  for (int i = 0; i < samples; i++) {
    if (i) out.push_back(',');
    int64_t at = profile->GetSampleTimestamp(i);
    AppendNumber(&out, at - last);
    last = at;
  }
  out.append("]}");
  return out;
}

// cpuProfileStart(title) -> false if a profile of that title is already running
void CpuProfileStart(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsString()) return;
  if (t_cpu_profiler == nullptr) t_cpu_profiler = v8::CpuProfiler::New(isolate);
  v8::CpuProfilingOptions options(v8::kLeafNodeLineNumbers, v8::CpuProfilingOptions::kNoSampleLimit);
  v8::CpuProfilingResult result = t_cpu_profiler->Start(args[0].As<v8::String>(), std::move(options));
  bool started = result.status == v8::CpuProfilingStatus::kStarted;
  if (started) t_cpu_profiles++;
  args.GetReturnValue().Set(started);
}

// cpuProfileStop(title) -> the profile's JSON, or undefined if none of that title runs
void CpuProfileStop(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (t_cpu_profiler == nullptr || !args[0]->IsString()) return;
  v8::CpuProfile* profile = t_cpu_profiler->StopProfiling(args[0].As<v8::String>());
  if (profile == nullptr) return;
  std::string json = CpuProfileJson(profile);
  profile->Delete();
  // The profiler holds a sampling thread: let it go with the last profile.
  if (--t_cpu_profiles == 0) {
    t_cpu_profiler->Dispose();
    t_cpu_profiler = nullptr;
  }
  v8::Local<v8::String> text;
  if (v8::String::NewFromUtf8(isolate, json.data(), v8::NewStringType::kNormal, static_cast<int>(json.size()))
          .ToLocal(&text)) {
    args.GetReturnValue().Set(text);
  }
}

// ---- heap (sampling) ----

thread_local bool t_heap_sampling = false;

void AppendHeapNode(v8::Isolate* isolate, std::string* out, const v8::AllocationProfile::Node* node) {
  int64_t self = 0;
  for (const auto& allocation : node->allocations) {
    self += static_cast<int64_t>(allocation.size) * allocation.count;
  }
  out->append("{\"selfSize\":");
  AppendNumber(out, self);
  out->append(",\"id\":");
  AppendNumber(out, node->node_id);
  out->append(",\"callFrame\":{\"scriptId\":");
  AppendNumber(out, node->script_id);
  out->append(",\"lineNumber\":");
  AppendNumber(out, node->line_number - 1);
  out->append(",\"columnNumber\":");
  AppendNumber(out, node->column_number - 1);
  out->append(",\"functionName\":");
  std::string name = node->name.IsEmpty() ? std::string() : ToUtf8(isolate, node->name);
  AppendEscaped(out, name.c_str());
  out->append(",\"url\":");
  std::string url = node->script_name.IsEmpty() ? std::string() : ToUtf8(isolate, node->script_name);
  AppendEscaped(out, url.c_str());
  out->append("},\"children\":[");
  bool first = true;
  for (const v8::AllocationProfile::Node* child : node->children) {
    if (!first) out->push_back(',');
    first = false;
    AppendHeapNode(isolate, out, child);
  }
  out->append("]}");
}

// heapProfileStart(sampleInterval, stackDepth) -> false if sampling already runs
void HeapProfileStart(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (t_heap_sampling) {
    args.GetReturnValue().Set(false);
    return;
  }
  uint64_t interval = args[0]->IsNumber() ? static_cast<uint64_t>(args[0].As<v8::Number>()->Value()) : 512 * 1024;
  int depth = args[1]->IsNumber() ? static_cast<int>(args[1].As<v8::Number>()->Value()) : 16;
  t_heap_sampling = isolate->GetHeapProfiler()->StartSamplingHeapProfiler(interval, depth);
  args.GetReturnValue().Set(t_heap_sampling);
}

// heapProfileStop() -> the profile's JSON, or undefined if sampling does not run
void HeapProfileStop(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!t_heap_sampling) return;
  v8::HeapProfiler* profiler = isolate->GetHeapProfiler();
  std::unique_ptr<v8::AllocationProfile> profile(profiler->GetAllocationProfile());
  profiler->StopSamplingHeapProfiler();
  t_heap_sampling = false;
  if (!profile) return;
  v8::HandleScope scope(isolate);
  std::string out = "{\"samples\":[";
  bool first = true;
  for (const auto& sample : profile->GetSamples()) {
    if (!first) out.push_back(',');
    first = false;
    out.append("{\"size\":");
    AppendNumber(&out, static_cast<int64_t>(sample.size) * sample.count);
    out.append(",\"nodeId\":");
    AppendNumber(&out, sample.node_id);
    out.append(",\"ordinal\":");
    AppendNumber(&out, static_cast<int64_t>(sample.sample_id));
    out.push_back('}');
  }
  out.append("],\"head\":");
  AppendHeapNode(isolate, &out, profile->GetRootNode());
  out.push_back('}');
  v8::Local<v8::String> text;
  if (v8::String::NewFromUtf8(isolate, out.data(), v8::NewStringType::kNormal, static_cast<int>(out.size()))
          .ToLocal(&text)) {
    args.GetReturnValue().Set(text);
  }
}

}  // namespace

// Ends what the shim's profilers still run on this thread: an isolate torn down while its
// heap is being sampled crashes the process (so does Node 24's own, for its workers).
void StopProfilers(v8::Isolate* isolate) {
  if (t_heap_sampling) {
    isolate->GetHeapProfiler()->StopSamplingHeapProfiler();
    t_heap_sampling = false;
  }
  if (t_cpu_profiler != nullptr) {
    t_cpu_profiler->Dispose();
    t_cpu_profiler = nullptr;
    t_cpu_profiles = 0;
  }
}

void InitProfilerNatives(v8::Isolate* isolate, v8::Local<v8::Context> context,
                         v8::Local<v8::Object> exports) {
  v8::Local<v8::Object> profiler = v8::Object::New(isolate);
  SetMethod(isolate, context, profiler, "cpuStart", CpuProfileStart);
  SetMethod(isolate, context, profiler, "cpuStop", CpuProfileStop);
  SetMethod(isolate, context, profiler, "heapStart", HeapProfileStart);
  SetMethod(isolate, context, profiler, "heapStop", HeapProfileStop);
  exports->Set(context, Str(isolate, "profiler"), profiler).Check();
}

}  // namespace corral
