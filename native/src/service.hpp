// gRPC service: model registry plus the InferenceCore RPCs. Pre/post-processing for Detect and
// Classify runs on the RPC thread; only the session run goes through the model's batch queue.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
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
  int max_streams = 32;                              // InferStream calls open at once (each holds a thread)
  uint64_t max_stream_region_bytes = uint64_t{1} << 30;   // one stream's shared-memory region
  uint64_t max_stream_memory_bytes = uint64_t{2} << 30;   // all streams' regions together
  int max_message_mb = 64;                           // reported by ServerInfo
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
  grpc::Status InferStream(grpc::ServerContext*,
                           grpc::ServerReaderWriter<pb::InferStreamResponse, pb::InferStreamRequest>*) override;
  grpc::Status ServerInfo(grpc::ServerContext*, const pb::ServerInfoRequest*, pb::ServerInfoResponse*) override;

  // One message of a stream, whichever carries it (an InferStream call or a fast-socket
  // connection): a shared-memory setup for the stream's `region`, or an inference. `caller_gone`
  // says the stream's client went away.
  void stream_message(const std::function<bool()>& caller_gone, const std::string& correlation,
                      std::shared_ptr<StreamRegion>& region, pb::InferStreamRequest& req, pb::InferStreamResponse* resp);
  // A stream (either kind) may open only while fewer than max_streams are open; every true
  // answer is followed by leave_stream().
  bool enter_stream();
  void leave_stream();
  bool draining() const { return draining_; }
  int max_streams() const { return opts_.max_streams; }
  void set_fast_socket(std::string name) { fast_socket_ = std::move(name); }

  // First step of a drain: no new streams; idle streams are cancelled (a client then sends its
  // next request as a unary call, which the draining server refuses), and a stream running a
  // request ends once it has answered it.
  void begin_drain();
  // Drain: stop every model's queue after in-flight RPCs have finished.
  void stop_all();
  int open_streams();

 private:
  struct OpenStream {
    grpc::ServerContext* ctx;
    std::atomic<bool> busy{false};  // between reading a request and writing its answer
  };

  std::shared_ptr<Model> find(const std::string& id);
  Clock::time_point deadline_of(const grpc::ServerContext* ctx) const;
  grpc::Status finish(const grpc::ServerContext* ctx, const char* rpc, const std::string& model, Clock::time_point t0,
                      grpc::Status st);
  grpc::Status finish(const std::string& correlation, const char* rpc, const std::string& model, Clock::time_point t0,
                      grpc::Status st);
  // Infer for both the unary RPC and the stream; `region` is the stream's own (or null). Takes the
  // request's tensor bytes instead of copying them.
  grpc::Status infer(const std::function<bool()>& caller_gone, const std::string& correlation, pb::InferRequest& req,
                     Clock::time_point deadline, const std::shared_ptr<StreamRegion>& region, pb::InferResponse* resp);

  ServiceOptions opts_;
  std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<Model>> models_;
  SharedMemoryRegistry shared_memory_;
  std::mutex streams_mu_;
  std::set<OpenStream*> streams_;
  std::atomic<int> open_streams_{0};  // InferStream calls and fast-socket connections
  std::atomic<bool> draining_{false};
  std::string fast_socket_;
};

std::string correlation_id(const grpc::ServerContext* ctx);

}  // namespace cvp
