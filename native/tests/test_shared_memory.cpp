#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "server.hpp"
#include "shared_memory.hpp"

using namespace std::chrono;
using cvp::HostTensor;
using cvp::SharedMemoryRegistry;
using grpc::StatusCode;
namespace pb = cvp::inference::v1;

namespace {

// A real POSIX shm object holding `bytes`, removed when the test ends.
struct ShmObject {
  std::string key;
  explicit ShmObject(const std::string& bytes) : key("/cvp-test-" + std::to_string(getpid()) + "-" + std::to_string(counter()++)) {
    const int fd = shm_open(key.c_str(), O_CREAT | O_RDWR | O_EXCL, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(ftruncate(fd, static_cast<off_t>(bytes.size())), 0);
    EXPECT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fd);
  }
  ~ShmObject() { shm_unlink(key.c_str()); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

pb::SharedMemoryRef ref(const std::string& region, uint64_t offset, uint64_t size) {
  pb::SharedMemoryRef r;
  r.set_region(region);
  r.set_offset(offset);
  r.set_byte_size(size);
  return r;
}

// Infer on affine_dyn.onnx with one [1, 4] FP32 input "x" whose bytes the caller fills in.
pb::InferRequest affine_request() {
  pb::InferRequest r;
  r.set_model_id("aff");
  auto* t = r.add_inputs();
  t->set_name("x");
  t->set_datatype("FP32");
  t->add_shape(1);
  t->add_shape(4);
  return r;
}

std::string floats(std::vector<float> v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)); }

}  // namespace

TEST(SharedMemoryRegistry, ViewsReadTheRegisteredBytesAtAnyOffset) {
  std::string bytes(10000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i % 251);
  ShmObject obj(bytes);
  SharedMemoryRegistry reg;
  ASSERT_TRUE(reg.add("r", obj.key, 4096 + 100, 1000).ok());  // an offset that is not page-aligned
  HostTensor t;
  ASSERT_TRUE(reg.view(ref("r", 10, 20), &t).ok());
  ASSERT_EQ(t.size(), 20u);
  EXPECT_EQ(std::string(t.bytes(), t.size()), bytes.substr(4096 + 100 + 10, 20));
  // the view keeps the mapping alive after the region is unregistered
  ASSERT_TRUE(reg.remove("r").ok());
  EXPECT_EQ(std::string(t.bytes(), t.size()), bytes.substr(4096 + 100 + 10, 20));
  EXPECT_EQ(reg.view(ref("r", 0, 1), &t).error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(reg.remove("r").error_code(), StatusCode::NOT_FOUND);
}

TEST(SharedMemoryRegistry, RefusesBadNamesKeysAndBounds) {
  ShmObject obj(std::string(4096, 'x'));
  SharedMemoryRegistry reg;
  for (const char* key : {"", "noslash", "/a/b", "/../etc/passwd", "/..", "/with space"})
    EXPECT_EQ(reg.add("r", key, 0, 16).error_code(), StatusCode::INVALID_ARGUMENT) << key;
  EXPECT_EQ(reg.add("r", "/cvp-test-missing-object", 0, 16).error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(reg.add("r", obj.key, 0, 4097).error_code(), StatusCode::INVALID_ARGUMENT);  // larger than the object
  EXPECT_EQ(reg.add("r", obj.key, 4000, 100).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(reg.add("r", obj.key, 0, 0).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(reg.add("", obj.key, 0, 16).error_code(), StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(reg.add("r", obj.key, 0, 4096).ok());
  EXPECT_EQ(reg.add("r", obj.key, 0, 16).error_code(), StatusCode::ALREADY_EXISTS);
  HostTensor t;
  EXPECT_EQ(reg.view(ref("r", 4000, 97), &t).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(reg.view(ref("r", 5000, 0), &t).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(reg.view(ref("r", UINT64_MAX, 2), &t).error_code(), StatusCode::INVALID_ARGUMENT);  // no wrap-around
  EXPECT_EQ(t.view, nullptr);  // nothing half-set on refusal
  EXPECT_TRUE(reg.view(ref("r", 4000, 96), &t).ok());
}

TEST(SharedMemoryRegistry, RegionCountIsCapped) {
  ShmObject obj(std::string(64, 'x'));
  SharedMemoryRegistry reg;
  for (size_t i = 0; i < SharedMemoryRegistry::kMaxRegions; ++i) ASSERT_TRUE(reg.add("r" + std::to_string(i), obj.key, 0, 64).ok());
  EXPECT_EQ(reg.add("one-more", obj.key, 0, 64).error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(reg.size(), SharedMemoryRegistry::kMaxRegions);
}

class SharedMemoryService : public ::testing::Test {
 protected:
  std::unique_ptr<cvp::Server> start(bool allow) {
    cvp::ServerConfig cfg;
    cfg.port = 0;
    cfg.service.allow_shared_memory = allow;
    std::string err;
    auto s = cvp::Server::start(cfg, &err);
    EXPECT_NE(s, nullptr) << err;
    stub_ = pb::InferenceCore::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(s->port()), grpc::InsecureChannelCredentials()));
    pb::LoadModelRequest r;
    r.set_id("aff");
    r.set_path(std::string(CVP_FIXTURES) + "/affine_dyn.onnx");
    pb::LoadModelResponse resp;
    grpc::ClientContext c;
    EXPECT_TRUE(stub_->LoadModel(&c, r, &resp).ok());
    return s;
  }
  grpc::Status infer(const pb::InferRequest& r, pb::InferResponse* resp) {
    grpc::ClientContext c;
    c.set_deadline(system_clock::now() + seconds(10));
    return stub_->Infer(&c, r, resp);
  }
  grpc::Status register_region(const std::string& name, const std::string& key, uint64_t size) {
    pb::RegisterSharedMemoryRequest r;
    r.set_name(name);
    r.set_key(key);
    r.set_byte_size(size);
    pb::RegisterSharedMemoryResponse resp;
    grpc::ClientContext c;
    return stub_->RegisterSharedMemory(&c, r, &resp);
  }
  std::unique_ptr<pb::InferenceCore::Stub> stub_;
};

TEST_F(SharedMemoryService, InferReadsInputsFromARegisteredRegion) {
  auto server = start(true);
  // two tensors side by side in one region; the second is the one used
  ShmObject obj(floats({9, 9, 9, 9, 1, 2, 3, 4}));
  ASSERT_TRUE(register_region("in", obj.key, 32).ok());
  pb::InferRequest r = affine_request();
  auto* t = r.mutable_inputs(0);
  *t->mutable_shared_memory() = ref("in", 16, 16);
  pb::InferResponse by_shm, by_bytes;
  auto st = infer(r, &by_shm);
  ASSERT_TRUE(st.ok()) << st.error_message();
  t->clear_shared_memory();
  t->set_data(floats({1, 2, 3, 4}));
  ASSERT_TRUE(infer(r, &by_bytes).ok());
  ASSERT_GT(by_shm.outputs_size(), 0);
  ASSERT_EQ(by_shm.outputs_size(), by_bytes.outputs_size());
  for (int i = 0; i < by_shm.outputs_size(); ++i)  // the same answer as with the bytes in the message
    EXPECT_EQ(by_shm.outputs(i).data(), by_bytes.outputs(i).data()) << by_shm.outputs(i).name();
  float y0 = 0;
  std::memcpy(&y0, by_shm.outputs(0).data().data(), sizeof y0);
  EXPECT_NE(y0, 2 * 9.f + 1);  // computed from the second tensor, not the region's start

  *t->mutable_shared_memory() = ref("in", 16, 16);  // data and shared_memory together: refused
  EXPECT_EQ(infer(r, &by_shm).error_code(), StatusCode::INVALID_ARGUMENT);
  t->clear_data();
  *t->mutable_shared_memory() = ref("in", 24, 16);  // past the region's end
  EXPECT_EQ(infer(r, &by_shm).error_code(), StatusCode::INVALID_ARGUMENT);
  *t->mutable_shared_memory() = ref("ghost", 0, 16);
  EXPECT_EQ(infer(r, &by_shm).error_code(), StatusCode::NOT_FOUND);

  pb::UnregisterSharedMemoryRequest u;
  u.set_name("in");
  pb::UnregisterSharedMemoryResponse ur;
  grpc::ClientContext c;
  EXPECT_TRUE(stub_->UnregisterSharedMemory(&c, u, &ur).ok());
  *t->mutable_shared_memory() = ref("in", 16, 16);
  EXPECT_EQ(infer(r, &by_shm).error_code(), StatusCode::NOT_FOUND);
  server->drain(milliseconds(2000));
}

TEST_F(SharedMemoryService, DisabledByDefault) {
  auto server = start(false);
  ShmObject obj(floats({1, 2, 3, 4}));
  EXPECT_EQ(register_region("in", obj.key, 16).error_code(), StatusCode::FAILED_PRECONDITION);
  pb::InferRequest r = affine_request();
  auto* t = r.mutable_inputs(0);
  *t->mutable_shared_memory() = ref("in", 0, 16);
  pb::InferResponse resp;
  EXPECT_EQ(infer(r, &resp).error_code(), StatusCode::FAILED_PRECONDITION);
  server->drain(milliseconds(2000));
}
