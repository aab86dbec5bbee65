// Execution providers: appending the requested one to session options (never a silent CPU
// fallback), and discovering at run time which ones actually load here, with the loader's exact
// reason when one does not (cvp-core --list-providers, and the GPU tests).
#pragma once
#include <grpcpp/support/status.h>
#include <onnxruntime_cxx_api.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cvp_inference.pb.h"

namespace cvp {

Ort::Env& ort_env();
std::vector<std::string> available_providers();

// Appends the provider of `e` ("cpu" appends nothing), or says precisely why it cannot:
// FAILED_PRECONDITION with ONNX Runtime's reason, INVALID_ARGUMENT for an unknown name.
// `trt_engine_cache_dir` (TensorRT only) is the keyed cache folder to use, or empty.
grpc::Status append_provider(Ort::SessionOptions& so, const inference::v1::EngineConfig& e,
                             const std::string& trt_engine_cache_dir = "");

struct GpuDevice {
  bool known = false;  // NVML answered
  std::string name;
  uint64_t total_bytes = 0, free_bytes = 0;
  std::string error;  // why not known
};

struct ProviderProbe {
  std::string provider;       // "cpu" | "cuda" | "tensorrt"
  std::string ort_name;       // e.g. "CUDAExecutionProvider"
  bool listed = false;        // in this ONNX Runtime's available providers
  std::string library;        // the provider library ONNX Runtime loads (empty for cpu)
  bool library_present = false;
  bool loads = false;         // a session on a tiny model was created and ran with it
  std::string error;          // the exact reason when it does not load
  GpuDevice device;           // cuda / tensorrt: the device it would use
  std::string tensorrt_version;  // tensorrt: libnvinfer's version, when found
};

// Tries the provider for real: append it, create a session on a built-in two-node model with it,
// run it once. Never throws.
ProviderProbe probe_provider(const std::string& provider, int device_id = 0);

// The GPU at `device_id` through NVML (libnvidia-ml, loaded at run time).
GpuDevice gpu_device(int device_id);
// libnvinfer's version ("10.3.0"), or empty when no TensorRT library loads.
std::string tensorrt_version();
// Path of the libonnxruntime this process runs.
std::string ort_library_path();

// JSON for `cvp-core --list-providers`: ONNX Runtime version and library, then every provider.
std::string list_providers_json();

}  // namespace cvp
