// Registered POSIX shared-memory regions that Infer inputs may reference instead of carrying
// their bytes in the gRPC message (Triton's system shared memory, inputs only). For same-host,
// trusted clients: cvp-core enables it only with --allow-shared-memory, because a client that
// shrinks its object after registering could make a read fault.
#pragma once
#include <grpcpp/support/status.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "batch_queue.hpp"
#include "cvp_inference.pb.h"

namespace cvp {

class SharedMemoryRegistry {
 public:
  static constexpr size_t kMaxRegions = 64;

  // Maps [offset, offset + byte_size) of the POSIX shm object `key` read-only under `name`.
  // INVALID_ARGUMENT for bad names, keys or bounds; NOT_FOUND when the object does not exist;
  // ALREADY_EXISTS for a taken name; RESOURCE_EXHAUSTED beyond kMaxRegions.
  grpc::Status add(const std::string& name, const std::string& key, uint64_t offset, uint64_t byte_size);
  // Forgets the region; requests already holding a view keep it mapped until they finish.
  grpc::Status remove(const std::string& name);
  // Points t at the referenced bytes (t keeps the mapping alive). NOT_FOUND / INVALID_ARGUMENT.
  grpc::Status view(const inference::v1::SharedMemoryRef& ref, HostTensor* t) const;
  size_t size() const;

 private:
  struct Region;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Region>> regions_;
};

}  // namespace cvp
