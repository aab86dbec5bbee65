#include "shared_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <signal.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <random>

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

constexpr const char* kStreamPrefix = "cvp-core-";
std::atomic<uint64_t> g_stream_bytes{0};
std::atomic<uint64_t> g_stream_counter{0};

}  // namespace

Status check_window(const std::string& region, uint64_t region_size, uint64_t offset, uint64_t byte_size) {
  if (offset > region_size || byte_size > region_size - offset)
    return Status(StatusCode::INVALID_ARGUMENT, "shared-memory reference [" + std::to_string(offset) + ", +" +
                                                    std::to_string(byte_size) + ") is outside region '" + region +
                                                    "' of " + std::to_string(region_size) + " bytes");
  return Status::OK;
}

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
  if (auto st = check_window(ref.region(), r->size, ref.offset(), ref.byte_size()); !st.ok()) return st;
  t->view = r->data + ref.offset();
  t->view_size = static_cast<size_t>(ref.byte_size());
  t->keep = r;
  return Status::OK;
}

size_t SharedMemoryRegistry::size() const {
  std::lock_guard<std::mutex> lk(mu_);
  return regions_.size();
}

Status StreamRegion::create(uint64_t byte_size, uint64_t budget, std::shared_ptr<StreamRegion>* out) {
  if (byte_size == 0) return Status(StatusCode::INVALID_ARGUMENT, "a stream region needs at least 1 byte");
  // reserve against the budget first, so that concurrent creations cannot overshoot it together
  const uint64_t before = g_stream_bytes.fetch_add(byte_size);
  if (before + byte_size > budget || before + byte_size < before) {
    g_stream_bytes -= byte_size;
    return Status(StatusCode::RESOURCE_EXHAUSTED, "stream shared memory is capped at " + std::to_string(budget >> 20) +
                                                      " MB for the core (" + std::to_string(before >> 20) + " MB in use)");
  }
  std::shared_ptr<StreamRegion> r(new StreamRegion());
  r->size_ = byte_size;  // from here on the destructor gives the budget back
  std::random_device rd;
  char rnd[17];
  std::snprintf(rnd, sizeof rnd, "%08x%08x", rd(), rd());
  r->key_ = "/" + std::string(kStreamPrefix) + std::to_string(::getpid()) + "-" + std::to_string(++g_stream_counter) + "-" + rnd;
  const int fd = ::shm_open(r->key_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) {
    const int e = errno;
    r->key_.clear();  // not ours: never unlink a name this call did not create
    return Status(StatusCode::RESOURCE_EXHAUSTED, "cannot create shared memory: " + std::string(std::strerror(e)));
  }
  // posix_fallocate reserves the pages now: without it a full /dev/shm would surface as SIGBUS
  // when a tensor is first written, instead of as this error
  const int alloc = ::posix_fallocate(fd, 0, static_cast<off_t>(byte_size));
  void* base = alloc == 0 ? ::mmap(nullptr, byte_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
  const int map_errno = alloc != 0 ? alloc : errno;
  ::close(fd);
  if (base == MAP_FAILED) {
    ::shm_unlink(r->key_.c_str());
    r->key_.clear();
    return Status(StatusCode::RESOURCE_EXHAUSTED, "cannot reserve " + std::to_string(byte_size) +
                                                      " bytes of shared memory: " + std::strerror(map_errno));
  }
  r->data_ = static_cast<char*>(base);
  *out = std::move(r);
  return Status::OK;
}

StreamRegion::~StreamRegion() {
  if (data_) ::munmap(data_, size_);
  if (!key_.empty()) ::shm_unlink(key_.c_str());  // ENOENT once the client unlinked it: fine
  g_stream_bytes -= size_;
}

Status StreamRegion::view(std::shared_ptr<StreamRegion> self, const inference::v1::SharedMemoryRef& ref, HostTensor* t) const {
  if (auto st = check_window(ref.region(), size_, ref.offset(), ref.byte_size()); !st.ok()) return st;
  t->view = data_ + ref.offset();
  t->view_size = static_cast<size_t>(ref.byte_size());
  t->keep = std::move(self);
  return Status::OK;
}

uint64_t StreamRegion::total_bytes() { return g_stream_bytes.load(); }

int StreamRegion::remove_stale() {
  // /dev/shm is where glibc's shm_open keeps its objects on Linux
  DIR* d = ::opendir("/dev/shm");
  if (!d) return 0;
  int removed = 0;
  const std::string prefix = kStreamPrefix;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n.compare(0, prefix.size(), prefix) != 0) continue;
    const long pid = std::strtol(n.c_str() + prefix.size(), nullptr, 10);
    // only names of cores that are gone: kill(pid, 0) fails with ESRCH
    if (pid > 0 && pid != ::getpid() && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH &&
        ::shm_unlink(("/" + n).c_str()) == 0)
      ++removed;
  }
  ::closedir(d);
  return removed;
}

}  // namespace cvp
