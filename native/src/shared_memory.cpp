#include "shared_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace cvp {
namespace {

using grpc::Status;
using grpc::StatusCode;

// shm_open names: one leading '/', then a plain file name (no further '/', nothing to traverse)
bool valid_key(const std::string& k) {
  if (k.size() < 2 || k.size() > 200 || k[0] != '/') return false;
  for (size_t i = 1; i < k.size(); ++i) {
    const char c = k[i];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return k != "/." && k != "/..";
}

}  // namespace

struct SharedMemoryRegistry::Region {
  void* base = MAP_FAILED;
  size_t map_len = 0;
  const char* data = nullptr;  // base + (offset - page-aligned offset)
  uint64_t size = 0;
  ~Region() {
    if (base != MAP_FAILED) ::munmap(base, map_len);
  }
};

Status SharedMemoryRegistry::add(const std::string& name, const std::string& key, uint64_t offset, uint64_t byte_size) {
  if (name.empty() || name.size() > 128) return Status(StatusCode::INVALID_ARGUMENT, "region name must be 1..128 characters");
  if (!valid_key(key))
    return Status(StatusCode::INVALID_ARGUMENT, "shared-memory key must be '/' followed by letters, digits, '-', '_' or '.'");
  if (byte_size == 0 || byte_size > (uint64_t{16} << 30) || offset > (uint64_t{16} << 30))
    return Status(StatusCode::INVALID_ARGUMENT, "byte_size must be within 1 B..16 GiB and offset within 16 GiB");
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (regions_.count(name)) return Status(StatusCode::ALREADY_EXISTS, "region '" + name + "' is already registered");
    if (regions_.size() >= kMaxRegions)
      return Status(StatusCode::RESOURCE_EXHAUSTED, "at most " + std::to_string(kMaxRegions) + " regions may be registered");
  }
  const int fd = ::shm_open(key.c_str(), O_RDONLY, 0);
  if (fd < 0) {
    const int e = errno;
    return Status(e == ENOENT ? StatusCode::NOT_FOUND : StatusCode::INVALID_ARGUMENT,
                  "cannot open shared memory '" + key + "': " + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) < offset + byte_size) {
    ::close(fd);
    return Status(StatusCode::INVALID_ARGUMENT, "shared memory '" + key + "' is smaller than offset + byte_size (" +
                                                    std::to_string(static_cast<long long>(st.st_size)) + " bytes)");
  }
  auto r = std::make_shared<Region>();
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t aligned = offset / page * page;
  r->map_len = static_cast<size_t>(byte_size + (offset - aligned));
  r->base = ::mmap(nullptr, r->map_len, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(aligned));
  const int map_errno = errno;
  ::close(fd);  // the mapping stays valid without the descriptor
  if (r->base == MAP_FAILED)
    return Status(StatusCode::INVALID_ARGUMENT, "cannot map shared memory '" + key + "': " + std::strerror(map_errno));
  r->data = static_cast<const char*>(r->base) + (offset - aligned);
  r->size = byte_size;
  std::lock_guard<std::mutex> lk(mu_);
  if (regions_.count(name)) return Status(StatusCode::ALREADY_EXISTS, "region '" + name + "' is already registered");
  regions_[name] = std::move(r);
  return Status::OK;
}

Status SharedMemoryRegistry::remove(const std::string& name) {
  std::lock_guard<std::mutex> lk(mu_);
  if (regions_.erase(name) == 0) return Status(StatusCode::NOT_FOUND, "region '" + name + "' is not registered");
  return Status::OK;
}

Status SharedMemoryRegistry::view(const inference::v1::SharedMemoryRef& ref, HostTensor* t) const {
  std::shared_ptr<const Region> r;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = regions_.find(ref.region());
    if (it == regions_.end()) return Status(StatusCode::NOT_FOUND, "shared-memory region '" + ref.region() + "' is not registered");
    r = it->second;
  }
  if (ref.offset() > r->size || ref.byte_size() > r->size - ref.offset())
    return Status(StatusCode::INVALID_ARGUMENT, "shared-memory reference [" + std::to_string(ref.offset()) + ", +" +
                                                    std::to_string(ref.byte_size()) + ") is outside region '" +
                                                    ref.region() + "' of " + std::to_string(r->size) + " bytes");
  t->view = r->data + ref.offset();
  t->view_size = static_cast<size_t>(ref.byte_size());
  t->keep = r;
  return Status::OK;
}

size_t SharedMemoryRegistry::size() const {
  std::lock_guard<std::mutex> lk(mu_);
  return regions_.size();
}

}  // namespace cvp
