// Shared memory for tensors, two kinds:
// - registered regions: POSIX shm objects a client created and names (Triton's system shared
//   memory, inputs only). For same-host, trusted clients: cvp-core enables them only with
//   --allow-shared-memory, because the core opens whatever object the client names.
// - stream regions: objects the core creates itself (random name, mode 0600, so only the core's own
//   user can open them), one per InferStream, for inputs and outputs. They live as long as their
//   stream, so a client that crashes leaves nothing behind; the client unlinks the name once it
//   has opened it, the core when the stream ends.
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

// A window [offset, offset + byte_size) of a region, checked against its bounds.
grpc::Status check_window(const std::string& region, uint64_t region_size, uint64_t offset, uint64_t byte_size);

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

// One stream's region, created by the core. Creation reserves the memory (posix_fallocate), so a
// full /dev/shm is an error here instead of a SIGBUS on first write.
class StreamRegion {
 public:
  // RESOURCE_EXHAUSTED when `byte_size` would take the core past `budget` bytes of stream regions
  // in all, or /dev/shm is full; INVALID_ARGUMENT for a size of 0.
  static grpc::Status create(uint64_t byte_size, uint64_t budget, std::shared_ptr<StreamRegion>* out);
  ~StreamRegion();
  StreamRegion(const StreamRegion&) = delete;
  StreamRegion& operator=(const StreamRegion&) = delete;

  const std::string& key() const { return key_; }
  uint64_t size() const { return size_; }
  // Input view: points t at [offset, offset + byte_size), keeping the mapping alive.
  grpc::Status view(std::shared_ptr<StreamRegion> self, const inference::v1::SharedMemoryRef& ref, HostTensor* t) const;
  char* data() const { return data_; }
  // Bytes of stream regions the core holds now, all streams together.
  static uint64_t total_bytes();
  // Removes names of stream regions left by cores that no longer run (killed before they could).
  static int remove_stale();

 private:
  StreamRegion() = default;
  std::string key_;
  char* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace cvp
