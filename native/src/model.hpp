// One loaded model: its ONNX Runtime sessions (one per instance), its batching queue and the
// worker threads that drain it.
#pragma once
#include <onnxruntime_cxx_api.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "batch_queue.hpp"
#include "cvp_inference.pb.h"
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

Ort::Env& ort_env();
// Process-wide malloc policy for a long-running server (see model.cpp); call before threads start.
void tune_allocator();
std::vector<std::string> available_providers();

class Model {
 public:
  // Creates sessions and starts workers. Errors: NOT_FOUND (no file), INVALID_ARGUMENT (bad
  // model or config), FAILED_PRECONDITION (provider cannot load; never falls back to CPU).
  static grpc::Status load(const pb::LoadModelRequest& req, std::shared_ptr<Model>* out);
  ~Model();

  // Validates inputs against the model's signature, queues them and waits (bounded by deadline).
  // caller_gone, polled every kCallerCheck while waiting, says the caller no longer wants the
  // answer (a cancelled RPC): the request is then dropped unrun if still queued (CANCELLED).
  grpc::Status run(std::vector<HostTensor> inputs, Clock::time_point deadline, RunOutput* out,
                   const std::function<bool()>& caller_gone = {});
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
  void count_failure();

 private:
  Model() = default;
  void worker(size_t instance);
  void execute(size_t instance, std::vector<std::shared_ptr<WorkItem>>& batch);
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
  std::vector<std::thread> workers_;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> draining_{false};
  std::atomic<int> running_{0};
  int64_t warmup_us_ = 0;
};

}  // namespace cvp
