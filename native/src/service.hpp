// gRPC service: model registry plus the InferenceCore RPCs. Pre/post-processing for Detect and
// Classify runs on the RPC thread; only the session run goes through the model's batch queue.
#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>

#include "cvp_inference.grpc.pb.h"
#include "image.hpp"
#include "model.hpp"
#include "shared_memory.hpp"

namespace cvp {

struct ServiceOptions {
  ImageLimits image_limits;
  std::chrono::milliseconds default_timeout{30000};  // bound for RPCs that carry no deadline
  std::string model_root;                            // when set, model paths must resolve inside it
  bool allow_shared_memory = false;                  // Register/UnregisterSharedMemory (trusted clients)
};

class CoreService final : public pb::InferenceCore::Service {
 public:
  explicit CoreService(ServiceOptions opts) : opts_(std::move(opts)) {}
  ~CoreService() override { stop_all(); }

  grpc::Status LoadModel(grpc::ServerContext*, const pb::LoadModelRequest*, pb::LoadModelResponse*) override;
  grpc::Status UnloadModel(grpc::ServerContext*, const pb::UnloadModelRequest*, pb::UnloadModelResponse*) override;
  grpc::Status ListModels(grpc::ServerContext*, const pb::ListModelsRequest*, pb::ListModelsResponse*) override;
  grpc::Status ModelMetadata(grpc::ServerContext*, const pb::ModelMetadataRequest*, pb::ModelMetadataResponse*) override;
  grpc::Status Infer(grpc::ServerContext*, const pb::InferRequest*, pb::InferResponse*) override;
  grpc::Status Detect(grpc::ServerContext*, const pb::DetectRequest*, pb::DetectResponse*) override;
  grpc::Status Classify(grpc::ServerContext*, const pb::ClassifyRequest*, pb::ClassifyResponse*) override;
  grpc::Status Stats(grpc::ServerContext*, const pb::StatsRequest*, pb::StatsResponse*) override;
  grpc::Status RegisterSharedMemory(grpc::ServerContext*, const pb::RegisterSharedMemoryRequest*,
                                    pb::RegisterSharedMemoryResponse*) override;
  grpc::Status UnregisterSharedMemory(grpc::ServerContext*, const pb::UnregisterSharedMemoryRequest*,
                                      pb::UnregisterSharedMemoryResponse*) override;

  // Drain: stop every model's queue after in-flight RPCs have finished.
  void stop_all();

 private:
  std::shared_ptr<Model> find(const std::string& id);
  Clock::time_point deadline_of(const grpc::ServerContext* ctx) const;
  grpc::Status finish(const grpc::ServerContext* ctx, const char* rpc, const std::string& model, Clock::time_point t0,
                      grpc::Status st);

  ServiceOptions opts_;
  std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<Model>> models_;
  SharedMemoryRegistry shared_memory_;
};

std::string correlation_id(const grpc::ServerContext* ctx);

}  // namespace cvp
