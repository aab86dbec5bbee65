// InferStream over real gRPC (an in-process server on a free port): per-request answers on one
// stream, the stream's own shared-memory region for inputs and outputs, bounds, caps, cleanup and
// drain.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>

#include <cstring>
#include <thread>

#include "server.hpp"

using namespace std::chrono;
using grpc::StatusCode;
namespace pb = cvp::inference::v1;
using Stream = grpc::ClientReaderWriter<pb::InferStreamRequest, pb::InferStreamResponse>;

namespace {

std::string fixture(const char* name) { return std::string(CVP_FIXTURES) + "/" + name; }

// The test's view of a stream region: the object the core created, mapped here as a client would.
struct ClientMapping {
  char* data = nullptr;
  size_t size = 0;
  ClientMapping(const std::string& key, size_t n) : size(n) {
    const int fd = shm_open(key.c_str(), O_RDWR, 0);
    EXPECT_GE(fd, 0) << key;
    if (fd < 0) return;
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    EXPECT_NE(p, MAP_FAILED);
    data = p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  }
  ~ClientMapping() {
    if (data) munmap(data, size);
  }
  std::vector<float> floats(uint64_t offset, uint64_t bytes) const {
    std::vector<float> v(bytes / sizeof(float));
    std::memcpy(v.data(), data + offset, bytes);
    return v;
  }
};

class StreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cvp::ServerConfig cfg;
    cfg.port = 0;
    cfg.max_threads = 16;
    cfg.service.max_streams = 3;
    cfg.service.max_stream_region_bytes = 8u << 20;
    cfg.service.max_stream_memory_bytes = 12u << 20;
    std::string err;
    server_ = cvp::Server::start(cfg, &err);
    ASSERT_NE(server_, nullptr) << err;
    stub_ = pb::InferenceCore::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->drain(milliseconds(2000));
  }

  void load(const std::string& id, const char* file, int instances = 1) {
    grpc::ClientContext c;
    pb::LoadModelRequest r;
    r.set_id(id);
    r.set_path(fixture(file));
    r.mutable_batching()->set_instance_count(instances);
    pb::LoadModelResponse resp;
    auto st = stub_->LoadModel(&c, r, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }

  static pb::InferStreamResponse exchange(Stream* s, const pb::InferStreamRequest& req) {
    pb::InferStreamResponse resp;
    EXPECT_TRUE(s->Write(req));
    EXPECT_TRUE(s->Read(&resp));
    EXPECT_EQ(resp.request_id(), req.request_id());
    return resp;
  }

  static pb::StreamSharedMemory region(Stream* s, uint64_t bytes, int32_t* code = nullptr) {
    pb::InferStreamRequest req;
    req.set_request_id(99);
    req.mutable_shared_memory()->set_byte_size(bytes);
    auto resp = exchange(s, req);
    if (code) *code = resp.code();
    else EXPECT_EQ(resp.code(), 0) << resp.message();
    return resp.shared_memory();
  }

  // x [1, 4] for affine_dyn / wide_out / nonzero, in the message
  static pb::InferStreamRequest x_request(const std::string& model, std::vector<float> x, uint64_t id) {
    pb::InferStreamRequest req;
    req.set_request_id(id);
    auto* in = req.mutable_infer()->add_inputs();
    req.mutable_infer()->set_model_id(model);
    in->set_name("x");
    in->set_datatype("FP32");
    in->add_shape(1);
    in->add_shape(4);
    in->set_data(std::string(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(float)));
    return req;
  }

  std::unique_ptr<cvp::Server> server_;
  std::unique_ptr<pb::InferenceCore::Stub> stub_;
};

std::vector<float> floats(const std::string& bytes) {
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

}  // namespace

TEST_F(StreamTest, EachRequestGetsItsOwnAnswerAndTheStreamOutlivesErrors) {
  load("aff", "affine_dyn.onnx");
  grpc::ClientContext c;
  auto s = stub_->InferStream(&c);
  auto ok = exchange(s.get(), x_request("aff", {1, 2, 3, 4}, 1));
  ASSERT_EQ(ok.code(), 0) << ok.message();
  ASSERT_EQ(ok.infer().outputs_size(), 2);
  EXPECT_EQ(floats(ok.infer().outputs(0).data()), (std::vector<float>{3, 5, 7, 9}));

  auto bad = x_request("aff", {1, 2, 3, 4}, 2);
  bad.mutable_infer()->mutable_inputs(0)->set_shape(1, 5);  // 16 bytes cannot be [1, 5]
  auto r2 = exchange(s.get(), bad);
  EXPECT_EQ(r2.code(), static_cast<int>(StatusCode::INVALID_ARGUMENT));
  EXPECT_FALSE(r2.message().empty());
  EXPECT_EQ(exchange(s.get(), x_request("ghost", {1, 2, 3, 4}, 3)).code(), static_cast<int>(StatusCode::NOT_FOUND));
  pb::InferStreamRequest empty;
  empty.set_request_id(4);
  EXPECT_EQ(exchange(s.get(), empty).code(), static_cast<int>(StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(exchange(s.get(), x_request("aff", {0, 0, 0, 1}, 5)).code(), 0);  // still serving
  s->WritesDone();
  EXPECT_TRUE(s->Finish().ok());
}

TEST_F(StreamTest, InputsAndOutputsTravelThroughTheStreamsRegion) {
  load("wide", "wide_out.onnx");
  grpc::ClientContext c;
  auto s = stub_->InferStream(&c);
  const auto sm = region(s.get(), 4u << 20);
  ASSERT_EQ(sm.key().rfind("/cvp-core-", 0), 0u) << sm.key();
  EXPECT_EQ(sm.region(), sm.key());
  EXPECT_EQ(sm.byte_size(), 4u << 20);
  EXPECT_EQ(cvp::StreamRegion::total_bytes(), 4u << 20);
  ClientMapping map(sm.key(), sm.byte_size());
  ASSERT_NE(map.data, nullptr);

  for (uint64_t round = 1; round <= 2; ++round) {  // the second run knows the "pairs" shape from the first
    const float x[4] = {1.f * round, 2, 3, 4};
    std::memcpy(map.data, x, sizeof x);
    pb::InferStreamRequest req = x_request("wide", {}, round);
    auto* in = req.mutable_infer()->mutable_inputs(0);
    in->clear_data();
    in->mutable_shared_memory()->set_region(sm.region());
    in->mutable_shared_memory()->set_offset(0);
    in->mutable_shared_memory()->set_byte_size(sizeof x);
    auto* w = req.mutable_infer()->mutable_output_shared_memory();
    w->set_region(sm.region());
    w->set_offset(64);
    w->set_byte_size(sm.byte_size() - 64);
    auto resp = exchange(s.get(), req);
    ASSERT_EQ(resp.code(), 0) << resp.message();
    ASSERT_EQ(resp.infer().outputs_size(), 2);
    uint64_t end_prev = 64;
    for (const auto& o : resp.infer().outputs()) {
      ASSERT_TRUE(o.has_shared_memory()) << o.name();
      EXPECT_TRUE(o.data().empty());
      EXPECT_EQ(o.shared_memory().offset() % 64, 0u);
      EXPECT_GE(o.shared_memory().offset(), end_prev);  // inside the window, no overlap
      end_prev = o.shared_memory().offset() + o.shared_memory().byte_size();
      EXPECT_LE(end_prev, sm.byte_size());
      const auto v = map.floats(o.shared_memory().offset(), o.shared_memory().byte_size());
      const size_t n = o.name() == "tiled" ? 262144 : 8;
      ASSERT_EQ(v.size(), n) << o.name();
      for (size_t i = 0; i < n; i += (n / 8)) EXPECT_EQ(v[i], x[i % 4]) << o.name() << " at " << i;
      EXPECT_EQ(v[n - 1], 4.f);
    }
  }
  s->WritesDone();
  EXPECT_TRUE(s->Finish().ok());
  // the region lived as long as its stream: the name and the memory are gone
  for (int i = 0; i < 200 && cvp::StreamRegion::total_bytes() != 0; ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(cvp::StreamRegion::total_bytes(), 0u);
  EXPECT_LT(shm_open(sm.key().c_str(), O_RDONLY, 0), 0);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(StreamTest, OutputsThatDoNotFitTheWindowTravelInTheMessage) {
  load("wide", "wide_out.onnx");
  grpc::ClientContext c;
  auto s = stub_->InferStream(&c);
  const auto sm = region(s.get(), 1u << 20);
  pb::InferStreamRequest req = x_request("wide", {5, 6, 7, 8}, 1);
  auto* w = req.mutable_infer()->mutable_output_shared_memory();
  w->set_region(sm.region());
  w->set_offset(0);
  w->set_byte_size(4096);  // room for "pairs" (32 bytes), not for "tiled" (1 MiB)
  auto resp = exchange(s.get(), req);
  ASSERT_EQ(resp.code(), 0) << resp.message();
  for (const auto& o : resp.infer().outputs()) {
    if (o.name() == "tiled") {
      EXPECT_FALSE(o.has_shared_memory());
      EXPECT_EQ(o.data().size(), 262144u * 4);
    } else {
      EXPECT_TRUE(o.has_shared_memory());
      EXPECT_LE(o.shared_memory().offset() + o.shared_memory().byte_size(), 4096u);
    }
  }
  s->WritesDone();
  EXPECT_TRUE(s->Finish().ok());
}

TEST_F(StreamTest, ADataDependentOutputShapeIsNotTrustedFromAnEarlierRun) {
  load("nz", "nonzero.onnx");
  grpc::ClientContext c;
  auto s = stub_->InferStream(&c);
  const auto sm = region(s.get(), 1u << 20);
  ClientMapping map(sm.key(), sm.byte_size());
  // one non-zero value, then three: the second run cannot reuse the first run's [2, 1]
  for (auto [x, expect_cols] : {std::pair{std::vector<float>{1, 0, 0, 0}, 1}, std::pair{std::vector<float>{1, 1, 1, 0}, 3}}) {
    pb::InferStreamRequest req = x_request("nz", x, 7);
    auto* w = req.mutable_infer()->mutable_output_shared_memory();
    w->set_region(sm.region());
    w->set_offset(0);
    w->set_byte_size(sm.byte_size());
    auto resp = exchange(s.get(), req);
    ASSERT_EQ(resp.code(), 0) << resp.message();
    const auto& o = resp.infer().outputs(0);
    ASSERT_EQ(o.shape_size(), 2);
    EXPECT_EQ(o.shape(1), expect_cols);
    ASSERT_TRUE(o.has_shared_memory());
    std::vector<int64_t> idx(static_cast<size_t>(2 * expect_cols));
    std::memcpy(idx.data(), map.data + o.shared_memory().offset(), idx.size() * sizeof(int64_t));
    for (int k = 0; k < expect_cols; ++k) EXPECT_EQ(idx[static_cast<size_t>(expect_cols + k)], k);  // column indices
  }
  s->WritesDone();
  EXPECT_TRUE(s->Finish().ok());
}

TEST_F(StreamTest, ReferencesAndRegionsAreCheckedAndCapped) {
  load("aff", "affine_dyn.onnx");
  grpc::ClientContext c;
  auto s = stub_->InferStream(&c);
  int32_t code = 0;
  region(s.get(), 0, &code);
  EXPECT_EQ(code, static_cast<int>(StatusCode::INVALID_ARGUMENT));
  region(s.get(), 9u << 20, &code);  // above the per-stream cap of 8 MB
  EXPECT_EQ(code, static_cast<int>(StatusCode::INVALID_ARGUMENT));
  const auto sm = region(s.get(), 64 * 1024);

  pb::InferStreamRequest req = x_request("aff", {}, 1);
  auto* ref = req.mutable_infer()->mutable_inputs(0)->mutable_shared_memory();
  req.mutable_infer()->mutable_inputs(0)->clear_data();
  ref->set_region(sm.region());
  ref->set_offset(64 * 1024 - 8);  // runs past the end
  ref->set_byte_size(16);
  EXPECT_EQ(exchange(s.get(), req).code(), static_cast<int>(StatusCode::INVALID_ARGUMENT));
  ref->set_offset(~uint64_t{0} - 4);  // would wrap around
  EXPECT_EQ(exchange(s.get(), req).code(), static_cast<int>(StatusCode::INVALID_ARGUMENT));
  ref->set_offset(0);
  ref->set_region("/cvp-core-someone-else");  // neither this stream's nor registered
  EXPECT_EQ(exchange(s.get(), req).code(), static_cast<int>(StatusCode::FAILED_PRECONDITION));

  pb::InferStreamRequest out = x_request("aff", {1, 2, 3, 4}, 2);
  auto* w = out.mutable_infer()->mutable_output_shared_memory();
  w->set_region(sm.region());
  w->set_offset(1024);
  w->set_byte_size(64 * 1024);  // past the end
  EXPECT_EQ(exchange(s.get(), out).code(), static_cast<int>(StatusCode::INVALID_ARGUMENT));
  w->set_region("elsewhere");
  w->set_byte_size(64);
  EXPECT_EQ(exchange(s.get(), out).code(), static_cast<int>(StatusCode::INVALID_ARGUMENT));

  // a unary Infer has no stream region to write outputs into
  grpc::ClientContext uc;
  pb::InferResponse uresp;
  pb::InferRequest unary = x_request("aff", {1, 2, 3, 4}, 3).infer();
  unary.mutable_output_shared_memory()->set_region(sm.region());
  unary.mutable_output_shared_memory()->set_byte_size(64);
  EXPECT_EQ(stub_->Infer(&uc, unary, &uresp).error_code(), StatusCode::INVALID_ARGUMENT);

  // the core's budget for all stream regions (12 MB here) holds across streams
  grpc::ClientContext c2;
  auto s2 = stub_->InferStream(&c2);
  region(s2.get(), 8u << 20);
  region(s.get(), 8u << 20, &code);
  EXPECT_EQ(code, static_cast<int>(StatusCode::RESOURCE_EXHAUSTED));
  for (auto* st : {s.get(), s2.get()}) {
    st->WritesDone();
    EXPECT_TRUE(st->Finish().ok());
  }
}

TEST_F(StreamTest, OpenStreamsAreCapped) {
  load("aff", "affine_dyn.onnx");
  std::vector<std::unique_ptr<grpc::ClientContext>> ctx;
  std::vector<std::unique_ptr<Stream>> open;
  for (int i = 0; i < 3; ++i) {  // the cap is 3 here
    ctx.push_back(std::make_unique<grpc::ClientContext>());
    open.push_back(stub_->InferStream(ctx.back().get()));
    EXPECT_EQ(exchange(open.back().get(), x_request("aff", {1, 2, 3, 4}, 1)).code(), 0);
  }
  EXPECT_EQ(server_->service().open_streams(), 3);
  grpc::ClientContext c;
  auto extra = stub_->InferStream(&c);
  extra->Write(x_request("aff", {1, 2, 3, 4}, 1));
  pb::InferStreamResponse resp;
  EXPECT_FALSE(extra->Read(&resp));
  EXPECT_EQ(extra->Finish().error_code(), StatusCode::RESOURCE_EXHAUSTED);
  for (auto& s : open) {
    s->WritesDone();
    EXPECT_TRUE(s->Finish().ok());
  }
}

TEST_F(StreamTest, ARequestWaitingPastItsOwnDeadlineIsAnsweredWithDeadlineExceeded) {
  load("cnn", "small_cnn.onnx");
  std::thread busy([&] {  // keeps the only instance busy for a few hundred ms
    grpc::ClientContext uc;
    uc.set_deadline(system_clock::now() + seconds(60));
    pb::InferRequest r;
    r.set_model_id("cnn");
    auto* t = r.add_inputs();
    t->set_name("input");
    t->set_datatype("FP32");
    for (int64_t d : {int64_t{256}, int64_t{3}, int64_t{64}, int64_t{64}}) t->add_shape(d);
    t->set_data(std::string(256 * 3 * 64 * 64 * sizeof(float), '\0'));
    pb::InferResponse resp;
    EXPECT_TRUE(stub_->Infer(&uc, r, &resp).ok());
  });
  auto running = [&] {
    grpc::ClientContext sc;
    pb::StatsResponse st;
    pb::StatsRequest sr;
    sr.set_model_id("cnn");
    return stub_->Stats(&sc, sr, &st).ok() && st.models(0).running() == 1;
  };
  for (int i = 0; i < 2000 && !running(); ++i) std::this_thread::sleep_for(milliseconds(5));
  ASSERT_TRUE(running());
  grpc::ClientContext c;
  auto s = stub_->InferStream(&c);
  pb::InferStreamRequest req;
  req.set_request_id(11);
  req.set_timeout_us(30000);
  req.set_correlation_id("stream-deadline");
  auto* t = req.mutable_infer()->add_inputs();
  req.mutable_infer()->set_model_id("cnn");
  t->set_name("input");
  t->set_datatype("FP32");
  for (int64_t d : {int64_t{1}, int64_t{3}, int64_t{64}, int64_t{64}}) t->add_shape(d);
  t->set_data(std::string(3 * 64 * 64 * sizeof(float), '\0'));
  const auto t0 = steady_clock::now();
  EXPECT_EQ(exchange(s.get(), req).code(), static_cast<int>(StatusCode::DEADLINE_EXCEEDED));
  EXPECT_LT(steady_clock::now() - t0, seconds(5));
  busy.join();
  req.set_timeout_us(0);  // the core's default: plenty
  EXPECT_EQ(exchange(s.get(), req).code(), 0);
  s->WritesDone();
  EXPECT_TRUE(s->Finish().ok());
}

TEST_F(StreamTest, DrainEndsIdleStreamsAtOnce) {
  load("aff", "affine_dyn.onnx");
  grpc::ClientContext c;
  auto s = stub_->InferStream(&c);
  EXPECT_EQ(exchange(s.get(), x_request("aff", {1, 2, 3, 4}, 1)).code(), 0);
  const auto t0 = steady_clock::now();
  server_->drain(milliseconds(20000));  // an idle stream must not hold the drain for its grace period
  EXPECT_LT(steady_clock::now() - t0, seconds(5));
  pb::InferStreamResponse resp;
  EXPECT_FALSE(s->Read(&resp));
  const auto st = s->Finish();
  EXPECT_TRUE(st.error_code() == StatusCode::UNAVAILABLE || st.error_code() == StatusCode::CANCELLED) << st.error_message();
  server_.reset();
}

TEST_F(StreamTest, AStreamTheClientCancelsEndsOnTheCoreAndFreesItsRegion) {
  load("aff", "affine_dyn.onnx");
  for (int variant = 0; variant < 2; ++variant) {
    grpc::ClientContext c;
    auto s = stub_->InferStream(&c);
    pb::InferStreamRequest req;
    req.set_request_id(1);
    req.mutable_shared_memory()->set_byte_size(1u << 20);
    ASSERT_TRUE(s->Write(req));
    if (variant == 1) {  // cancelled only after the answer arrived
      pb::InferStreamResponse resp;
      ASSERT_TRUE(s->Read(&resp));
    }
    c.TryCancel();  // right behind the request: the core may be creating the region just now
    for (int i = 0; i < 500 && (server_->service().open_streams() != 0 || cvp::StreamRegion::total_bytes() != 0); ++i)
      std::this_thread::sleep_for(milliseconds(10));
    EXPECT_EQ(server_->service().open_streams(), 0) << "variant " << variant;
    EXPECT_EQ(cvp::StreamRegion::total_bytes(), 0u) << "variant " << variant;
    s->Finish();
  }
}

namespace {

// A client of the fast socket: length-prefixed InferStream messages on the abstract Unix socket.
struct FastClient {
  int fd = -1;
  explicit FastClient(const std::string& at_name) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string name = at_name.substr(1);  // "@name" -> "\0name"
    std::memcpy(addr.sun_path + 1, name.data(), name.size());
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    const socklen_t len = sizeof addr;  // NUL-padded, as the core (and libuv) address it
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      close(fd);
      fd = -1;
    }
  }
  ~FastClient() {
    if (fd >= 0) close(fd);
  }
  bool send_raw(const std::string& payload, uint32_t claimed) {
    const unsigned char head[4] = {static_cast<unsigned char>(claimed), static_cast<unsigned char>(claimed >> 8),
                                   static_cast<unsigned char>(claimed >> 16), static_cast<unsigned char>(claimed >> 24)};
    // MSG_NOSIGNAL: a core that has already hung up (what several tests provoke) is EPIPE here,
    // not a SIGPIPE that kills the test binary.
    return ::send(fd, head, 4, MSG_NOSIGNAL) == 4 &&
           ::send(fd, payload.data(), payload.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(payload.size());
  }
  bool send(const pb::InferStreamRequest& r) {
    const std::string p = r.SerializeAsString();
    return send_raw(p, static_cast<uint32_t>(p.size()));
  }
  // false at end of stream
  bool receive(pb::InferStreamResponse* r) {
    unsigned char head[4];
    if (!read_all(reinterpret_cast<char*>(head), 4)) return false;
    const size_t n = head[0] | head[1] << 8 | head[2] << 16 | static_cast<size_t>(head[3]) << 24;
    std::string p(n, '\0');
    return read_all(p.data(), n) && r->ParseFromString(p);
  }
  bool read_all(char* p, size_t n) {
    while (n > 0) {
      const ssize_t k = read(fd, p, n);
      if (k <= 0) return false;
      p += k;
      n -= static_cast<size_t>(k);
    }
    return true;
  }
};

}  // namespace

TEST_F(StreamTest, TheFastSocketServesStreamMessagesWithoutGrpc) {
  load("wide", "wide_out.onnx");
  grpc::ClientContext ic;
  pb::ServerInfoResponse info;
  ASSERT_TRUE(stub_->ServerInfo(&ic, {}, &info).ok());
  EXPECT_EQ(info.pid(), getpid());
  ASSERT_EQ(info.fast_socket().rfind("@cvp-core-", 0), 0u) << info.fast_socket();
  EXPECT_EQ(info.max_streams(), 3);

  FastClient fc(info.fast_socket());
  ASSERT_GE(fc.fd, 0);
  pb::InferStreamRequest setup;
  setup.set_request_id(1);
  setup.mutable_shared_memory()->set_byte_size(2u << 20);
  pb::InferStreamResponse resp;
  ASSERT_TRUE(fc.send(setup) && fc.receive(&resp));
  ASSERT_EQ(resp.code(), 0) << resp.message();
  const auto sm = resp.shared_memory();
  ClientMapping map(sm.key(), sm.byte_size());
  const float x[4] = {4, 3, 2, 1};
  std::memcpy(map.data, x, sizeof x);
  pb::InferStreamRequest req = x_request("wide", {}, 2);
  auto* in = req.mutable_infer()->mutable_inputs(0);
  in->clear_data();
  in->mutable_shared_memory()->set_region(sm.region());
  in->mutable_shared_memory()->set_byte_size(sizeof x);
  auto* w = req.mutable_infer()->mutable_output_shared_memory();
  w->set_region(sm.region());
  w->set_offset(64);
  w->set_byte_size(sm.byte_size() - 64);
  ASSERT_TRUE(fc.send(req) && fc.receive(&resp));
  ASSERT_EQ(resp.code(), 0) << resp.message();
  EXPECT_EQ(resp.request_id(), 2u);
  for (const auto& o : resp.infer().outputs()) {
    ASSERT_TRUE(o.has_shared_memory()) << o.name();
    const auto v = map.floats(o.shared_memory().offset(), o.shared_memory().byte_size());
    EXPECT_EQ(v.front(), 4.f);
    EXPECT_EQ(v.back(), 1.f);
  }
  // errors are answers, and the connection goes on
  ASSERT_TRUE(fc.send(x_request("ghost", {1, 2, 3, 4}, 3)) && fc.receive(&resp));
  EXPECT_EQ(resp.code(), static_cast<int>(StatusCode::NOT_FOUND));
  EXPECT_EQ(server_->service().open_streams(), 1);
  close(fc.fd);
  fc.fd = -1;
  for (int i = 0; i < 500 && (server_->service().open_streams() != 0 || cvp::StreamRegion::total_bytes() != 0); ++i)
    std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(server_->service().open_streams(), 0);  // a closed connection frees its slot and region
  EXPECT_EQ(cvp::StreamRegion::total_bytes(), 0u);
}

TEST_F(StreamTest, TheFastSocketClosesConnectionsThatSendGarbageOrOversizedFrames) {
  load("aff", "affine_dyn.onnx");
  grpc::ClientContext ic;
  pb::ServerInfoResponse info;
  ASSERT_TRUE(stub_->ServerInfo(&ic, {}, &info).ok());
  pb::InferStreamResponse resp;
  {
    FastClient fc(info.fast_socket());
    ASSERT_TRUE(fc.send_raw("\xff\xff\xff\xff not protobuf", 16));
    ASSERT_TRUE(fc.receive(&resp));
    EXPECT_EQ(resp.code(), static_cast<int>(StatusCode::INVALID_ARGUMENT));
    EXPECT_FALSE(fc.receive(&resp));  // then the core hangs up
  }
  {
    FastClient fc(info.fast_socket());
    ASSERT_TRUE(fc.send_raw("", 0xFFFFFFF0u));  // claims 4 GB: over the message cap, never read
    EXPECT_FALSE(fc.receive(&resp));
  }
  {
    // the cap on open streams counts connections too
    std::vector<std::unique_ptr<FastClient>> many;
    for (int i = 0; i < 3; ++i) {
      many.push_back(std::make_unique<FastClient>(info.fast_socket()));
      ASSERT_TRUE(many.back()->send(x_request("aff", {1, 2, 3, 4}, 1)) && many.back()->receive(&resp));
      EXPECT_EQ(resp.code(), 0);
    }
    FastClient extra(info.fast_socket());
    extra.send(x_request("aff", {1, 2, 3, 4}, 1));
    EXPECT_FALSE(extra.receive(&resp));
  }
}

TEST_F(StreamTest, DrainClosesIdleFastSocketConnectionsAtOnce) {
  load("aff", "affine_dyn.onnx");
  grpc::ClientContext ic;
  pb::ServerInfoResponse info;
  ASSERT_TRUE(stub_->ServerInfo(&ic, {}, &info).ok());
  FastClient fc(info.fast_socket());
  pb::InferStreamResponse resp;
  ASSERT_TRUE(fc.send(x_request("aff", {1, 2, 3, 4}, 1)) && fc.receive(&resp));
  const auto t0 = steady_clock::now();
  server_->drain(milliseconds(20000));
  EXPECT_LT(steady_clock::now() - t0, seconds(5));
  EXPECT_FALSE(fc.receive(&resp));
  server_.reset();
}
