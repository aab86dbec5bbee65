// One loaded model: its ONNX Runtime sessions, its instances (runs that may execute at once, each
// on a session: shared or its own), its batching queue and the worker threads that drain it.
#pragma once
#include <onnxruntime_cxx_api.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "batch_queue.hpp"
#include "cvp_inference.pb.h"
#include "providers.hpp"
#include "stats.hpp"

namespace cvp {

namespace pb = cvp::inference::v1;

struct TensorMeta {
  std::string name;
  ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  std::vector<int64_t> shape;          // -1 for symbolic dims
  std::vector<std::string> symbolic;   // "" where fixed
};

// KServe datatype names <-> ONNX element types; element size 0 = unsupported.
std::string dtype_name(ONNXTensorElementDataType t);
ONNXTensorElementDataType dtype_from_name(const std::string& name);
size_t dtype_size(ONNXTensorElementDataType t);

// TensorRT engine cache folder for a model under `base`: <sha256 of the file, 16 hex>-<GPU name>-trt<version>.
std::string engine_cache_dir(const std::string& base, const std::string& model_path, int device_id);

// Extra ONNX Runtime session config entries from CVP_SESSION_CONFIG ("key=value;key=value").
const std::vector<std::pair<std::string, std::string>>& session_config_overrides();
// The parser behind it: items without '=' or with an empty key are skipped; later items win.
std::vector<std::pair<std::string, std::string>> parse_session_config(const std::string& spec);

// The session config entries a model gets by default, before CVP_SESSION_CONFIG: ONNX Runtime's
// own default (onnxruntime-node's too: intra-op threads spin between parallel sections) when the
// threads the model may compute with at once fit the cpus, no spinning when they do not.
std::map<std::string, std::string> default_session_config(unsigned threads, unsigned cpus);

// CPUs this process may run on (its affinity mask; hardware_concurrency when that cannot be read).
unsigned usable_cpus();

// "shared" or "separate" sessions for a model's instances when LoadModel does not say.
std::string default_instance_sessions(const std::string& provider, int intra_op_threads);

// Process-wide malloc policy for a long-running server (see model.cpp); call before threads start.
void tune_allocator();

class Model {
 public:
  // Creates sessions and starts workers. Errors: NOT_FOUND (no file), INVALID_ARGUMENT (bad
  // model or config), FAILED_PRECONDITION (provider cannot load; never falls back to CPU).
  static grpc::Status load(const pb::LoadModelRequest& req, std::shared_ptr<Model>* out);
  ~Model();

  // Validates inputs against the model's signature, queues them and waits (bounded by deadline).
  // caller_gone, polled every kCallerCheck while waiting, says the caller no longer wants the
  // answer (a cancelled RPC): the request is then dropped unrun if still queued (CANCELLED).
  // With no batching delay and a free instance, the request runs at once on the caller's thread.
  // `window`, when given, is memory the outputs may be written into directly (each at a 64-byte
  // aligned offset, in output order): an output placed there has its HostTensor::view inside it.
  grpc::Status run(std::vector<HostTensor> inputs, Clock::time_point deadline, RunOutput* out,
                   const std::function<bool()>& caller_gone = {}, const OutputWindow* window = nullptr);
  static constexpr std::chrono::milliseconds kCallerCheck{20};

  // Stop admitting, let queued requests finish, join the workers. Idempotent.
  void stop();

  const std::string& id() const { return id_; }
  const std::vector<TensorMeta>& inputs() const { return inputs_; }
  const std::vector<TensorMeta>& outputs() const { return outputs_; }
  bool dynamic_batching() const { return batchable_; }
  void info(pb::ModelInfo* info) const;
  void stats(pb::ModelStats* s);
  int64_t warmup_us() const { return warmup_us_; }
  int64_t session_create_us() const { return session_create_us_; }
  const std::string& engine_cache_dir() const { return engine_cache_dir_; }
  size_t session_count() const { return sessions_.size(); }
  // the ONNX Runtime session config entries its sessions were created with
  const std::map<std::string, std::string>& session_config() const { return session_config_; }
  void count_failure();

 private:
  Model() = default;
  void worker();
  void execute(int instance, std::vector<std::shared_ptr<WorkItem>>& batch);
  Ort::Session& session_of(int instance) { return *sessions_[sessions_.size() == 1 ? 0 : static_cast<size_t>(instance)]; }
  // Output shapes of a lone request when they can be known before the run (fixed dims, dims
  // named like an input's, or what the last run with the same input shapes produced); an empty
  // shape where unknown.
  std::vector<std::vector<int64_t>> expected_output_shapes(const WorkItem& item, std::string* key);
  void remember_output_shapes(const std::string& key, std::vector<std::vector<int64_t>> shapes);
  grpc::Status warmup();

  std::string id_;
  pb::LoadModelRequest req_;
  std::vector<std::unique_ptr<Ort::Session>> sessions_;
  std::vector<TensorMeta> inputs_, outputs_;
  std::vector<std::string> input_names_s_, output_names_s_;
  std::vector<const char*> input_names_, output_names_;
  bool batchable_ = false;
  int64_t max_batch_ = 1;
  std::unique_ptr<BatchQueue> queue_;
  std::vector<std::vector<std::string>> join_buffers_;  // [instance][input]: batch staging
  std::unique_ptr<ModelCounters> counters_;
  std::unique_ptr<std::atomic<bool>[]> busy_;  // [instance]: running a batch now
  std::vector<std::thread> workers_;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> draining_{false};
  std::atomic<int> running_{0};
  int64_t warmup_us_ = 0;
  int64_t session_create_us_ = 0;
  std::map<std::string, std::string> session_config_;
  std::mutex shapes_mu_;
  std::map<std::string, std::vector<std::vector<int64_t>>> seen_output_shapes_;  // bounded
  std::string engine_cache_dir_;
};

}  // namespace cvp
