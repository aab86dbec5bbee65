#include "providers.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

namespace cvp {
namespace {

using grpc::Status;
using grpc::StatusCode;

bool has_provider(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

std::string join(const std::vector<std::string>& v) {
  std::string o;
  for (const auto& s : v) o += (o.empty() ? "" : ", ") + s;
  return o;
}

const char* ort_name_of(const std::string& p) {
  if (p == "cpu") return "CPUExecutionProvider";
  if (p == "cuda") return "CUDAExecutionProvider";
  if (p == "tensorrt") return "TensorrtExecutionProvider";
  return "";
}

// y = x + x on a [1, 4] float tensor (opset 13): the smallest model every provider can take, so a
// probe needs no file on disk.
const unsigned char kProbeModel[] = {
    0x08, 0x08, 0x12, 0x03, 0x63, 0x76, 0x70, 0x3a, 0x41, 0x0a, 0x0e, 0x0a, 0x01, 0x78, 0x0a, 0x01, 0x78, 0x12, 0x01, 0x79,
    0x22, 0x03, 0x41, 0x64, 0x64, 0x12, 0x05, 0x70, 0x72, 0x6f, 0x62, 0x65, 0x5a, 0x13, 0x0a, 0x01, 0x78, 0x12, 0x0e, 0x0a,
    0x0c, 0x08, 0x01, 0x12, 0x08, 0x0a, 0x02, 0x08, 0x01, 0x0a, 0x02, 0x08, 0x04, 0x62, 0x13, 0x0a, 0x01, 0x79, 0x12, 0x0e,
    0x0a, 0x0c, 0x08, 0x01, 0x12, 0x08, 0x0a, 0x02, 0x08, 0x01, 0x0a, 0x02, 0x08, 0x04, 0x42, 0x04, 0x0a, 0x00, 0x10, 0x0d};

// NVML's C API (stable across driver versions), resolved at run time: the core neither links nor
// needs CUDA to build.
struct NvmlMemory {
  unsigned long long total, free, used;
};

}  // namespace

Ort::Env& ort_env() {
  static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "cvp-core");
  return env;
}

std::vector<std::string> available_providers() { return Ort::GetAvailableProviders(); }

Status append_provider(Ort::SessionOptions& so, const inference::v1::EngineConfig& e, const std::string& trt_engine_cache_dir) {
  const std::string& p = e.provider();
  if (p == "cpu") return Status::OK;
  if (p != "cuda" && p != "tensorrt")
    return Status(StatusCode::INVALID_ARGUMENT, "unknown provider '" + p + "' (expected cpu, cuda or tensorrt)");
  const auto avail = available_providers();
  if (!has_provider(avail, ort_name_of(p)))
    return Status(StatusCode::FAILED_PRECONDITION, std::string(ort_name_of(p)) +
                                                       " is not available in this ONNX Runtime (available: " + join(avail) + ")");
  const OrtApi& api = Ort::GetApi();
  const std::string dev = std::to_string(e.device_id());
  auto append_cuda = [&] {
    OrtCUDAProviderOptionsV2* opts = nullptr;
    Ort::ThrowOnError(api.CreateCUDAProviderOptions(&opts));
    std::unique_ptr<OrtCUDAProviderOptionsV2, void (*)(OrtCUDAProviderOptionsV2*)> guard(opts, api.ReleaseCUDAProviderOptions);
    const char* keys[] = {"device_id"};
    const char* vals[] = {dev.c_str()};
    Ort::ThrowOnError(api.UpdateCUDAProviderOptions(opts, keys, vals, 1));
    so.AppendExecutionProvider_CUDA_V2(*opts);
  };
  try {
    if (p == "cuda") {
      append_cuda();
      return Status::OK;
    }
    OrtTensorRTProviderOptionsV2* opts = nullptr;
    Ort::ThrowOnError(api.CreateTensorRTProviderOptions(&opts));
    std::unique_ptr<OrtTensorRTProviderOptionsV2, void (*)(OrtTensorRTProviderOptionsV2*)> guard(
        opts, api.ReleaseTensorRTProviderOptions);
    std::vector<std::string> k = {"device_id", "trt_fp16_enable", "trt_int8_enable"};
    std::vector<std::string> v = {dev, e.precision() == "fp16" ? "1" : "0", e.precision() == "int8" ? "1" : "0"};
    if (!trt_engine_cache_dir.empty()) {
      k.insert(k.end(), {"trt_engine_cache_enable", "trt_engine_cache_path"});
      v.insert(v.end(), {"1", trt_engine_cache_dir});
    }
    if (!e.trt_timing_cache_dir().empty()) {
      k.insert(k.end(), {"trt_timing_cache_enable", "trt_timing_cache_path"});
      v.insert(v.end(), {"1", e.trt_timing_cache_dir()});
    }
    std::vector<const char*> kp, vp;
    for (size_t i = 0; i < k.size(); ++i) {
      kp.push_back(k[i].c_str());
      vp.push_back(v[i].c_str());
    }
    Ort::ThrowOnError(api.UpdateTensorRTProviderOptions(opts, kp.data(), vp.data(), kp.size()));
    so.AppendExecutionProvider_TensorRT_V2(*opts);
    // nodes TensorRT cannot take run on CUDA (still the GPU), as Triton's ORT backend does
    if (has_provider(avail, "CUDAExecutionProvider")) append_cuda();
    return Status::OK;
  } catch (const Ort::Exception& ex) {
    return Status(StatusCode::FAILED_PRECONDITION, p + " execution provider cannot be loaded: " + ex.what());
  }
}

std::string ort_library_path() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&OrtGetApiBase), &info) && info.dli_fname) {
    std::error_code ec;
    const auto p = std::filesystem::canonical(info.dli_fname, ec);
    return ec ? std::string(info.dli_fname) : p.string();
  }
  return "";
}

GpuDevice gpu_device(int device_id) {
  GpuDevice d;
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    d.error = std::string("NVML not loadable: ") + (why ? why : "libnvidia-ml.so.1 not found");
    return d;
  }
  using InitFn = int (*)();
  using HandleFn = int (*)(unsigned, void**);
  using NameFn = int (*)(void*, char*, unsigned);
  using MemFn = int (*)(void*, NvmlMemory*);
  auto init = reinterpret_cast<InitFn>(dlsym(lib, "nvmlInit_v2"));
  auto shutdown = reinterpret_cast<InitFn>(dlsym(lib, "nvmlShutdown"));
  auto handle_of = reinterpret_cast<HandleFn>(dlsym(lib, "nvmlDeviceGetHandleByIndex_v2"));
  auto name_of = reinterpret_cast<NameFn>(dlsym(lib, "nvmlDeviceGetName"));
  auto mem_of = reinterpret_cast<MemFn>(dlsym(lib, "nvmlDeviceGetMemoryInfo"));
  if (!init || !shutdown || !handle_of || !name_of || !mem_of) {
    d.error = "NVML lacks the expected symbols";
  } else if (int rc = init(); rc != 0) {
    d.error = "nvmlInit failed (NVML error " + std::to_string(rc) + ")";
  } else {
    void* h = nullptr;
    char name[96] = {0};
    NvmlMemory mem{};
    if (int rc2 = handle_of(static_cast<unsigned>(device_id), &h); rc2 != 0) {
      d.error = "no GPU " + std::to_string(device_id) + " (NVML error " + std::to_string(rc2) + ")";
    } else if (name_of(h, name, sizeof name) == 0 && mem_of(h, &mem) == 0) {
      d.known = true;
      d.name = name;
      d.total_bytes = mem.total;
      d.free_bytes = mem.free;
    } else {
      d.error = "NVML could not read GPU " + std::to_string(device_id);
    }
    shutdown();
  }
  dlclose(lib);
  return d;
}

std::string tensorrt_version() {
  for (const char* so : {"libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so"}) {
    void* lib = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!lib) continue;
    using VersionFn = int (*)();
    auto fn = reinterpret_cast<VersionFn>(dlsym(lib, "getInferLibVersion"));
    std::string out;
    if (fn) {
      // MAJOR * 10000 + MINOR * 100 + PATCH from TensorRT 10 on, MAJOR * 1000 + MINOR * 100 + PATCH before
      const int v = fn();
      const int major = v >= 100000 ? v / 10000 : v / 1000;
      const int minor = v >= 100000 ? (v / 100) % 100 : (v / 100) % 10;
      out = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(v % 100);
    }
    dlclose(lib);
    if (!out.empty()) return out;
  }
  return "";
}

ProviderProbe probe_provider(const std::string& provider, int device_id) {
  ProviderProbe r;
  r.provider = provider;
  r.ort_name = ort_name_of(provider);
  if (r.ort_name.empty()) {
    r.error = "unknown provider '" + provider + "' (expected cpu, cuda or tensorrt)";
    return r;
  }
  r.listed = has_provider(available_providers(), r.ort_name);
  if (provider != "cpu") {
    const auto dir = std::filesystem::path(ort_library_path()).parent_path();
    r.library = (dir / ("libonnxruntime_providers_" + provider + ".so")).string();
    std::error_code ec;
    r.library_present = std::filesystem::exists(r.library, ec);
    r.device = gpu_device(device_id);
    if (provider == "tensorrt") r.tensorrt_version = tensorrt_version();
  }
  inference::v1::EngineConfig e;
  e.set_provider(provider);
  e.set_device_id(device_id);
  try {
    Ort::SessionOptions so;
    so.SetIntraOpNumThreads(1);
    if (auto st = append_provider(so, e); !st.ok()) {
      r.error = st.error_message();
      return r;
    }
    Ort::Session s(ort_env(), kProbeModel, sizeof kProbeModel, so);
    float x[4] = {1, 2, 3, 4};
    const int64_t shape[2] = {1, 4};
    auto mem = Ort::MemoryInfo::CreateCpu(OrtDeviceAllocator, OrtMemTypeDefault);
    Ort::Value in = Ort::Value::CreateTensor<float>(mem, x, 4, shape, 2);
    const char* in_names[] = {"x"};
    const char* out_names[] = {"y"};
    auto out = s.Run(Ort::RunOptions{nullptr}, in_names, &in, 1, out_names, 1);
    const float* y = out[0].GetTensorData<float>();
    if (y[0] != 2.f || y[3] != 8.f) {
      r.error = "the probe model ran but returned wrong values";
      return r;
    }
    r.loads = true;
  } catch (const std::exception& ex) {
    r.error = ex.what();
  }
  return r;
}

std::string list_providers_json() {
  nlohmann::json j;
  j["ort_version"] = Ort::GetVersionString();
  j["ort_library"] = ort_library_path();
  j["available"] = available_providers();
  j["providers"] = nlohmann::json::array();
  for (const char* p : {"cpu", "cuda", "tensorrt"}) {
    const ProviderProbe r = probe_provider(p);
    nlohmann::json o = {{"provider", r.provider}, {"ort_name", r.ort_name}, {"listed", r.listed}, {"loads", r.loads}};
    if (!r.error.empty()) o["error"] = r.error;
    if (r.provider != "cpu") {
      o["library"] = r.library;
      o["library_present"] = r.library_present;
      if (r.device.known)
        o["device"] = {{"name", r.device.name},
                       {"total_mb", r.device.total_bytes >> 20},
                       {"free_mb", r.device.free_bytes >> 20}};
      else
        o["device"] = {{"error", r.device.error}};
    }
    if (r.provider == "tensorrt") o["tensorrt_version"] = r.tensorrt_version.empty() ? nlohmann::json() : nlohmann::json(r.tensorrt_version);
    j["providers"].push_back(std::move(o));
  }
  return j.dump();
}

}  // namespace cvp
