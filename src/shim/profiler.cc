// CPU profiles and sampling heap profiles of the calling thread's isolate, as JSON in the
// formats Node writes (.cpuprofile, and the sampling heap profile of the inspector protocol).
//
// worker.startCpuProfile() / startHeapProfile() run these on the worker's own thread. Lines whose
// `v8` module has startCpuProfile / startHeapProfile use those (same bytes as Node's own); these
// serve the lines where Worker has the method but `v8` does not (CPU on 22, heap on 24).
// --cpu-prof / --heap-prof in a worker's own options write files as Node's do (FileProfile).
#include <unistd.h>
#include <uv.h>
#include <v8-profiler.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>
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

// The two layouts of one profile: the `v8` module's (Node's own serializer) and the inspector
// protocol's, which Node's --cpu-prof / --heap-prof files have (another key order, scriptId a
// string).
enum class Layout { kV8Module, kInspector };

// V8 counts lines and columns from 1; the profile format from 0 (-1: none).
void AppendCallFrame(std::string* out, const char* function_name, int script_id, const char* url, int line,
                     int column, Layout layout) {
  out->append("\"callFrame\":{\"functionName\":");
  AppendEscaped(out, function_name);
  if (layout == Layout::kInspector) {
    out->append(",\"scriptId\":\"");
    AppendNumber(out, script_id);
    out->append("\",\"url\":");
    AppendEscaped(out, url);
  }
  out->append(",\"lineNumber\":");
  AppendNumber(out, line - 1);
  out->append(",\"columnNumber\":");
  AppendNumber(out, column - 1);
  if (layout == Layout::kV8Module) {
    out->append(",\"scriptId\":");
    AppendNumber(out, script_id);
    out->append(",\"url\":");
    AppendEscaped(out, url);
  }
  out->push_back('}');
}

void AppendCpuNode(std::string* out, const v8::CpuProfileNode* node, Layout layout) {
  out->append("{\"id\":");
  AppendNumber(out, node->GetNodeId());
  if (layout == Layout::kV8Module) {
    out->append(",\"hitCount\":");
    AppendNumber(out, node->GetHitCount());
  }
  out->push_back(',');
  AppendCallFrame(out, node->GetFunctionNameStr(), node->GetScriptId(), node->GetScriptResourceNameStr(),
                  node->GetLineNumber(), node->GetColumnNumber(), layout);
  if (layout == Layout::kInspector) {
    out->append(",\"hitCount\":");
    AppendNumber(out, node->GetHitCount());
  }
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

void AppendCpuNodes(std::string* out, const v8::CpuProfileNode* node, bool* first, Layout layout) {
  if (!*first) out->push_back(',');
  *first = false;
  AppendCpuNode(out, node, layout);
  for (int i = 0; i < node->GetChildrenCount(); i++) AppendCpuNodes(out, node->GetChild(i), first, layout);
}

std::string CpuProfileJson(const v8::CpuProfile* profile, Layout layout) {
  std::string out = "{\"nodes\":[";
  bool first = true;
  AppendCpuNodes(&out, profile->GetTopDownRoot(), &first, layout);
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
  std::string json = CpuProfileJson(profile, Layout::kV8Module);
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

// ---- --cpu-prof / --heap-prof files ----

// Node starts these per environment from its options, but corral's environments all have the
// process's options: a worker whose own options ask for a profile (and the process's do not)
// has it run here from its boot, and written when its environment ends (also after
// terminate() or the process's exit), where and under the name Node would write it.
struct FileProfile {
  bool running = false;
  std::string dir;   // "" = the current directory (when the profile started, as Node's)
  std::string name;  // "" = Node's diagnostic file name (named when it started, as Node's)
};
thread_local FileProfile t_cpu_file;
thread_local FileProfile t_heap_file;
constexpr char kCpuFileTitle[] = "corral --cpu-prof";
// Heap profile stack depth, as the inspector's sampling heap profiler (Node's --heap-prof).
constexpr int kHeapFileStackDepth = 128;
// The sequence number in diagnostic file names (one per process).
std::atomic<int> g_diagnostic_seq{0};

void AppendHeapNode(v8::Isolate* isolate, std::string* out, const v8::AllocationProfile::Node* node,
                    Layout layout) {
  int64_t self = 0;
  for (const auto& allocation : node->allocations) {
    self += static_cast<int64_t>(allocation.size) * allocation.count;
  }
  std::string name = node->name.IsEmpty() ? std::string() : ToUtf8(isolate, node->name);
  std::string url = node->script_name.IsEmpty() ? std::string() : ToUtf8(isolate, node->script_name);
  out->push_back('{');
  if (layout == Layout::kV8Module) {
    out->append("\"selfSize\":");
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
    AppendEscaped(out, name.c_str());
    out->append(",\"url\":");
    AppendEscaped(out, url.c_str());
    out->push_back('}');
  } else {
    AppendCallFrame(out, name.c_str(), node->script_id, url.c_str(), node->line_number, node->column_number, layout);
    out->append(",\"selfSize\":");
    AppendNumber(out, self);
    out->append(",\"id\":");
    AppendNumber(out, node->node_id);
  }
  out->append(",\"children\":[");
  bool first = true;
  for (const v8::AllocationProfile::Node* child : node->children) {
    if (!first) out->push_back(',');
    first = false;
    AppendHeapNode(isolate, out, child, layout);
  }
  out->append("]}");
}

void AppendHeapSamples(std::string* out, v8::AllocationProfile* profile) {
  out->append("\"samples\":[");
  bool first = true;
  for (const auto& sample : profile->GetSamples()) {
    if (!first) out->push_back(',');
    first = false;
    out->append("{\"size\":");
    AppendNumber(out, static_cast<int64_t>(sample.size) * sample.count);
    out->append(",\"nodeId\":");
    AppendNumber(out, sample.node_id);
    out->append(",\"ordinal\":");
    AppendNumber(out, static_cast<int64_t>(sample.sample_id));
    out->push_back('}');
  }
  out->push_back(']');
}

// The `v8` module's layout has the samples first, the inspector's the tree.
std::string HeapProfileJson(v8::Isolate* isolate, v8::AllocationProfile* profile, Layout layout) {
  v8::HandleScope scope(isolate);
  std::string out = "{";
  if (layout == Layout::kV8Module) {
    AppendHeapSamples(&out, profile);
    out.append(",\"head\":");
    AppendHeapNode(isolate, &out, profile->GetRootNode(), layout);
  } else {
    out.append("\"head\":");
    AppendHeapNode(isolate, &out, profile->GetRootNode(), layout);
    out.push_back(',');
    AppendHeapSamples(&out, profile);
  }
  out.push_back('}');
  return out;
}

// heapProfileStart(sampleInterval, stackDepth) -> false if sampling already runs
void HeapProfileStart(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (t_heap_sampling || t_heap_file.running) {
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
  std::string out = HeapProfileJson(isolate, profile.get(), Layout::kV8Module);
  v8::Local<v8::String> text;
  if (v8::String::NewFromUtf8(isolate, out.data(), v8::NewStringType::kNormal, static_cast<int>(out.size()))
          .ToLocal(&text)) {
    args.GetReturnValue().Set(text);
  }
}

// Node's diagnostic file name: CPU.20261206.080050.18885.1.001.cpuprofile (local time, pid,
// threadId, sequence).
std::string DiagnosticFileName(const char* prefix, const char* extension) {
  time_t now = time(nullptr);
  struct tm local;
  localtime_r(&now, &local);
  char name[160];
  snprintf(name, sizeof name, "%s.%04d%02d%02d.%02d%02d%02d.%d.%llu.%03d.%s", prefix, local.tm_year + 1900,
           local.tm_mon + 1, local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec, static_cast<int>(getpid()),
           static_cast<unsigned long long>(corral_current_thread_id()), ++g_diagnostic_seq, extension);
  return name;
}

// Writes a profile where Node would, with Node's messages on stderr when it cannot.
void WriteProfileFile(const FileProfile& file, const char* kind, const std::string& json) {
  std::string dir = file.dir;
  if (!dir.empty()) {
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error) {
      fprintf(stderr, "%s: Failed to create %s profile directory %s\n",
              uv_err_name(uv_translate_sys_error(error.value())), kind, dir.c_str());
      return;
    }
  }
  std::string path = dir.empty() ? file.name : dir + "/" + file.name;
  FILE* out = fopen(path.c_str(), "w");
  bool written = out != nullptr && fwrite(json.data(), 1, json.size(), out) == json.size();
  int failure = written ? 0 : errno;
  if (out != nullptr && fclose(out) != 0 && written) failure = errno;
  if (failure != 0) {
    fprintf(stderr, "%s: Failed to write file %s\n", uv_err_name(uv_translate_sys_error(failure)), path.c_str());
  }
}

// Reads [dir, name, interval] into `file`; false if `value` asks for no profile.
bool ReadFileProfile(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Value> value,
                     FileProfile* file, double* interval) {
  if (!value->IsArray()) return false;
  v8::Local<v8::Array> items = value.As<v8::Array>();
  v8::Local<v8::Value> dir, name, every;
  if (!items->Get(context, 0).ToLocal(&dir) || !items->Get(context, 1).ToLocal(&name) ||
      !items->Get(context, 2).ToLocal(&every)) {
    return false;
  }
  if (dir->IsString()) file->dir = ToUtf8(isolate, dir.As<v8::String>());
  if (name->IsString()) file->name = ToUtf8(isolate, name.As<v8::String>());
  if (every->IsNumber()) *interval = every.As<v8::Number>()->Value();
  return true;
}

// Node settles a profile's directory and file name when it starts.
void SettlePlace(FileProfile* file, const char* prefix, const char* extension) {
  if (file->dir.empty()) {
    std::error_code error;
    std::filesystem::path cwd = std::filesystem::current_path(error);
    if (!error) file->dir = cwd.string();
  }
  if (file->name.empty()) file->name = DiagnosticFileName(prefix, extension);
}

// profileToFiles(cpu, heap): each [dir, name, interval] or undefined. Starts the profiles a
// worker's own --cpu-prof / --heap-prof ask for (interval: µs between CPU samples, bytes
// between heap samples).
void ProfileToFiles(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  FileProfile cpu;
  double cpu_interval = 1000;
  if (!t_cpu_file.running && ReadFileProfile(isolate, context, args[0], &cpu, &cpu_interval)) {
    if (t_cpu_profiler == nullptr) t_cpu_profiler = v8::CpuProfiler::New(isolate);
    v8::CpuProfilingOptions options(v8::kLeafNodeLineNumbers, v8::CpuProfilingOptions::kNoSampleLimit,
                                    cpu_interval >= 1 ? static_cast<int>(cpu_interval) : 1000);
    if (t_cpu_profiler->Start(Str(isolate, kCpuFileTitle), std::move(options)).status ==
        v8::CpuProfilingStatus::kStarted) {
      t_cpu_profiles++;
      cpu.running = true;
      SettlePlace(&cpu, "CPU", "cpuprofile");
      t_cpu_file = std::move(cpu);
    }
  }
  FileProfile heap;
  double heap_interval = 512 * 1024;
  if (!t_heap_file.running && !t_heap_sampling && ReadFileProfile(isolate, context, args[1], &heap, &heap_interval)) {
    uint64_t every = heap_interval >= 1 ? static_cast<uint64_t>(heap_interval) : 512 * 1024;
    if (isolate->GetHeapProfiler()->StartSamplingHeapProfiler(every, kHeapFileStackDepth)) {
      heap.running = true;
      SettlePlace(&heap, "Heap", "heapprofile");
      t_heap_file = std::move(heap);
    }
  }
}

// Ends the file profiles of this thread and writes them.
void WriteFileProfiles(v8::Isolate* isolate) {
  v8::HandleScope scope(isolate);
  if (t_cpu_file.running && t_cpu_profiler != nullptr) {
    v8::CpuProfile* profile = t_cpu_profiler->StopProfiling(Str(isolate, kCpuFileTitle));
    if (profile != nullptr) {
      WriteProfileFile(t_cpu_file, "CPU", CpuProfileJson(profile, Layout::kInspector));
      profile->Delete();
    }
    t_cpu_profiles--;
  }
  t_cpu_file = FileProfile();
  if (t_heap_file.running) {
    v8::HeapProfiler* profiler = isolate->GetHeapProfiler();
    std::unique_ptr<v8::AllocationProfile> profile(profiler->GetAllocationProfile());
    if (profile) {
      WriteProfileFile(t_heap_file, "heap", HeapProfileJson(isolate, profile.get(), Layout::kInspector));
    }
    profiler->StopSamplingHeapProfiler();
  }
  t_heap_file = FileProfile();
}

}  // namespace

// Ends what the shim's profilers still run on this thread (writing the --cpu-prof / --heap-prof
// files first): an isolate torn down while its heap is being sampled crashes the process (so
// does Node 24's own, for its workers).
void StopProfilers(v8::Isolate* isolate) {
  WriteFileProfiles(isolate);
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
  SetMethod(isolate, context, profiler, "toFiles", ProfileToFiles);
  exports->Set(context, Str(isolate, "profiler"), profiler).Check();
}

}  // namespace corral
