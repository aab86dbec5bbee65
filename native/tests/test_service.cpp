// End-to-end over real gRPC: an in-process server on a free port, and the real cvp-core binary
// for the SIGTERM drain.
#include <gtest/gtest.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "server.hpp"
#include "test_util.hpp"

using namespace std::chrono;
using grpc::StatusCode;
namespace pb = cvp::inference::v1;

extern char** environ;

namespace {

std::string fixture(const char* name) { return std::string(CVP_FIXTURES) + "/" + name; }

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cvp::ServerConfig cfg;
    cfg.port = 0;
    cfg.max_message_mb = 8;
    std::string err;
    server_ = cvp::Server::start(cfg, &err);
    ASSERT_NE(server_, nullptr) << err;
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials());
    stub_ = pb::InferenceCore::NewStub(channel_);
  }
  void TearDown() override {
    if (server_) server_->drain(milliseconds(2000));
  }

  std::unique_ptr<grpc::ClientContext> ctx(milliseconds timeout = milliseconds(10000)) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(system_clock::now() + timeout);
    c->AddMetadata("x-correlation-id", "test-123");
    return c;
  }

  grpc::Status load(const std::string& id, const char* file, int max_batch = 1) {
    pb::LoadModelRequest r;
    r.set_id(id);
    r.set_path(fixture(file));
    r.mutable_batching()->set_max_batch(max_batch);
    r.mutable_batching()->set_max_queue_delay_us(1000);
    pb::LoadModelResponse resp;
    return stub_->LoadModel(ctx().get(), r, &resp);
  }

  std::unique_ptr<cvp::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::InferenceCore::Stub> stub_;
};

// grpc.health.v1.Health/Check with hand-encoded protobuf (no generated health stubs in Debian).
int health_status(const std::shared_ptr<grpc::Channel>& ch) {
  grpc::ClientContext c;
  c.set_deadline(system_clock::now() + seconds(5));
  grpc::ByteBuffer req, resp;
  grpc::Slice empty("");
  req = grpc::ByteBuffer(&empty, 1);
  const grpc::internal::RpcMethod method("/grpc.health.v1.Health/Check", grpc::internal::RpcMethod::NORMAL_RPC);
  auto st = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(ch.get(), method, &c, req, &resp);
  if (!st.ok()) return -1;
  std::vector<grpc::Slice> slices;
  resp.Dump(&slices);
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // HealthCheckResponse { status = 1 (enum) }: 0x08 <value>; empty = UNKNOWN(0)
  return bytes.size() == 2 && bytes[0] == 0x08 ? bytes[1] : 0;
}

}  // namespace

TEST_F(ServiceTest, HealthIsServing) { EXPECT_EQ(health_status(channel_), 1); }

TEST_F(ServiceTest, ModelLifecycleAndMetadata) {
  ASSERT_TRUE(load("aff", "affine_dyn.onnx", 4).ok());
  EXPECT_EQ(load("aff", "affine_dyn.onnx").error_code(), StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(load("nofile", "missing.onnx").error_code(), StatusCode::NOT_FOUND);

  pb::ListModelsResponse list;
  ASSERT_TRUE(stub_->ListModels(ctx().get(), {}, &list).ok());
  ASSERT_EQ(list.models_size(), 1);
  EXPECT_EQ(list.models(0).id(), "aff");
  EXPECT_TRUE(list.models(0).dynamic_batching());
  EXPECT_EQ(list.models(0).engine().provider(), "cpu");

  pb::ModelMetadataRequest mr;
  mr.set_id("aff");
  pb::ModelMetadataResponse meta;
  ASSERT_TRUE(stub_->ModelMetadata(ctx().get(), mr, &meta).ok());
  ASSERT_EQ(meta.inputs_size(), 1);
  EXPECT_EQ(meta.inputs(0).datatype(), "FP32");
  EXPECT_EQ(meta.inputs(0).shape(0), -1);
  EXPECT_EQ(meta.inputs(0).symbolic_dims(0), "batch");
  EXPECT_EQ(meta.outputs_size(), 2);

  pb::UnloadModelRequest ur;
  ur.set_id("aff");
  pb::UnloadModelResponse uresp;
  ASSERT_TRUE(stub_->UnloadModel(ctx().get(), ur, &uresp).ok());
  EXPECT_EQ(stub_->UnloadModel(ctx().get(), ur, &uresp).error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(stub_->ModelMetadata(ctx().get(), mr, &meta).error_code(), StatusCode::NOT_FOUND);
}

TEST_F(ServiceTest, InferOverGrpcWithBinaryTensors) {
  ASSERT_TRUE(load("aff", "affine_dyn.onnx", 4).ok());
  pb::InferRequest r;
  r.set_model_id("aff");
  auto* t = r.add_inputs();
  t->set_name("x");
  t->set_datatype("FP32");
  t->add_shape(1);
  t->add_shape(4);
  const float x[4] = {1, 2, 3, 4};
  t->set_data(std::string(reinterpret_cast<const char*>(x), sizeof x));
  r.add_outputs("y");
  pb::InferResponse resp;
  auto st = stub_->Infer(ctx().get(), r, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.outputs_size(), 1);  // only the requested output
  EXPECT_EQ(resp.outputs(0).name(), "y");
  EXPECT_EQ(resp.outputs(0).datatype(), "FP32");
  float y[4];
  ASSERT_EQ(resp.outputs(0).data().size(), sizeof y);
  std::memcpy(y, resp.outputs(0).data().data(), sizeof y);
  EXPECT_EQ(y[0], 3.f);
  EXPECT_EQ(y[3], 9.f);
  EXPECT_EQ(resp.timing().batch_size(), 1);

  t->set_datatype("BYTES");
  EXPECT_EQ(stub_->Infer(ctx().get(), r, &resp).error_code(), StatusCode::INVALID_ARGUMENT);
  t->set_datatype("FP32");
  r.set_outputs(0, "nope");
  EXPECT_EQ(stub_->Infer(ctx().get(), r, &resp).error_code(), StatusCode::INVALID_ARGUMENT);
  r.set_model_id("ghost");
  EXPECT_EQ(stub_->Infer(ctx().get(), r, &resp).error_code(), StatusCode::NOT_FOUND);

  pb::StatsRequest sr;
  sr.set_model_id("aff");
  pb::StatsResponse stats;
  ASSERT_TRUE(stub_->Stats(ctx().get(), sr, &stats).ok());
  ASSERT_EQ(stats.models_size(), 1);
  EXPECT_EQ(stats.models(0).success(), 1u);
  EXPECT_EQ(stats.models(0).failed(), 2u);
  EXPECT_EQ(stats.models(0).queue_us().count(), 1u);
  EXPECT_EQ(stats.models(0).compute_us().counts_size(), stats.models(0).compute_us().bounds_size() + 1);
}

TEST_F(ServiceTest, DetectReturnsBoxesInOriginalImageCoordinates) {
  ASSERT_TRUE(load("det", "tiny_det.onnx", 4).ok());
  // 128x64 image -> letterbox 64x64: r = 0.5, top padding 16. The fixture emits (letterbox space)
  // class 0 at cx,cy,w,h = 32,32,20,10 (0.9), a near-duplicate (0.8) and class 1 at 10,40,8,8 (0.7).
  pb::DetectRequest r;
  r.set_model_id("det");
  r.set_image(cvp::test::encode_png(cvp::test::solid_rgb(128, 64, 0, 128, 255), 128, 64));
  pb::DetectResponse resp;
  auto st = stub_->Detect(ctx().get(), r, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.image_width(), 128);
  EXPECT_EQ(resp.image_height(), 64);
  ASSERT_EQ(resp.detections_size(), 2);  // the duplicate was suppressed by NMS
  const auto& a = resp.detections(0);
  EXPECT_EQ(a.class_id(), 0);
  EXPECT_NEAR(a.score(), 0.9f, 1e-6);
  EXPECT_NEAR(a.x1(), 44.f, 1e-3);
  EXPECT_NEAR(a.y1(), 22.f, 1e-3);
  EXPECT_NEAR(a.x2(), 84.f, 1e-3);
  EXPECT_NEAR(a.y2(), 42.f, 1e-3);
  const auto& b = resp.detections(1);
  EXPECT_EQ(b.class_id(), 1);
  EXPECT_NEAR(b.x1(), 12.f, 1e-3);
  EXPECT_NEAR(b.y1(), 40.f, 1e-3);
  EXPECT_NEAR(b.x2(), 28.f, 1e-3);
  EXPECT_NEAR(b.y2(), 56.f, 1e-3);
  EXPECT_GE(resp.timing().pre_us(), 0);

  r.set_conf_threshold(0.75f);  // thresholds are per call
  ASSERT_TRUE(stub_->Detect(ctx().get(), r, &resp).ok());
  EXPECT_EQ(resp.detections_size(), 1);
  r.set_conf_threshold(0.5f);
  r.set_iou_threshold(0.95f);  // loose NMS keeps the near-duplicate
  ASSERT_TRUE(stub_->Detect(ctx().get(), r, &resp).ok());
  EXPECT_EQ(resp.detections_size(), 3);
  r.set_max_detections(1);
  ASSERT_TRUE(stub_->Detect(ctx().get(), r, &resp).ok());
  EXPECT_EQ(resp.detections_size(), 1);
}

TEST_F(ServiceTest, HostileImagesAreInvalidArgumentAndTheServerSurvives) {
  ASSERT_TRUE(load("det", "tiny_det.onnx").ok());
  const std::string png = cvp::test::encode_png(cvp::test::solid_rgb(32, 32, 1, 2, 3), 32, 32);
  for (const std::string& bad : {std::string(), std::string("GIF89a"), png.substr(0, png.size() / 2),
                                 std::string(1000, '\xFF')}) {
    pb::DetectRequest r;
    r.set_model_id("det");
    r.set_image(bad);
    pb::DetectResponse resp;
    EXPECT_EQ(stub_->Detect(ctx().get(), r, &resp).error_code(), StatusCode::INVALID_ARGUMENT);
  }
  pb::DetectRequest big;  // over the 8 MB message cap: refused by gRPC before our code
  big.set_model_id("det");
  big.set_image(std::string(9u << 20, 'x'));
  pb::DetectResponse resp;
  EXPECT_EQ(stub_->Detect(ctx().get(), big, &resp).error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(health_status(channel_), 1);
}

TEST_F(ServiceTest, ClassifyTopKWithSoftmax) {
  ASSERT_TRUE(load("cls", "tiny_cls.onnx").ok());
  pb::ClassifyRequest r;
  r.set_model_id("cls");
  r.set_image(cvp::test::encode_jpeg(cvp::test::solid_rgb(40, 30, 10, 250, 10), 40, 30));  // green
  r.set_top_k(4);
  pb::ClassifyResponse resp;
  auto st = stub_->Classify(ctx().get(), r, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.classes_size(), 4);
  EXPECT_EQ(resp.classes(0).class_id(), 1);
  float sum = 0;
  for (const auto& c : resp.classes()) sum += c.score();
  EXPECT_NEAR(sum, 1.f, 1e-4);
  EXPECT_GT(resp.classes(0).score(), resp.classes(1).score());
  r.set_top_k(0);  // default 5, capped at the class count
  ASSERT_TRUE(stub_->Classify(ctx().get(), r, &resp).ok());
  EXPECT_EQ(resp.classes_size(), 4);
  r.set_normalization("weird");
  EXPECT_EQ(stub_->Classify(ctx().get(), r, &resp).error_code(), StatusCode::INVALID_ARGUMENT);
  // a detector-shaped request on a classifier output is refused, not crashed
  pb::DetectRequest d;
  d.set_model_id("cls");
  d.set_image(r.image());
  pb::DetectResponse dr;
  EXPECT_EQ(stub_->Detect(ctx().get(), d, &dr).error_code(), StatusCode::FAILED_PRECONDITION);
}

TEST_F(ServiceTest, CancelledRpcIsDroppedFromTheQueueUnrun) {
  // A request waits in the queue for a fuller batch (up to 10 s: no instance is busy, nothing
  // races), so whether it is dropped unrun depends on conditions only, not on how long a run takes.
  pb::LoadModelRequest load_req;
  load_req.set_id("c");
  load_req.set_path(fixture("small_cnn.onnx"));
  load_req.mutable_batching()->set_max_batch(2);
  load_req.mutable_batching()->set_max_queue_delay_us(10'000'000);
  pb::LoadModelResponse load_resp;
  ASSERT_TRUE(stub_->LoadModel(ctx().get(), load_req, &load_resp).ok());
  pb::InferRequest req;
  req.set_model_id("c");
  auto* t = req.add_inputs();
  t->set_name("input");
  t->set_datatype("FP32");
  for (int64_t d : {1, 3, 64, 64}) t->add_shape(d);
  t->set_data(std::string(3 * 64 * 64 * sizeof(float), '\0'));
  auto stats = [&] {
    pb::StatsResponse s;
    stub_->Stats(ctx().get(), pb::StatsRequest(), &s);
    return s.models(0);
  };
  auto until = [](auto pred) {  // bounded poll on observable state
    for (int i = 0; i < 2000 && !pred(); ++i) std::this_thread::sleep_for(milliseconds(5));
    return pred();
  };
  auto b_ctx = ctx(milliseconds(60000));
  grpc::Status b_st;
  std::thread b([&] {
    pb::InferResponse resp;
    b_st = stub_->Infer(b_ctx.get(), req, &resp);
  });
  ASSERT_TRUE(until([&] { return stats().queue_depth() == 1; }));
  b_ctx->TryCancel();
  b.join();
  EXPECT_EQ(b_st.error_code(), grpc::StatusCode::CANCELLED);
  // the core notices the cancelled RPC and the worker hands the request back unrun at once,
  // long before its batching delay would have run it
  ASSERT_TRUE(until([&] { return stats().cancelled() == 1; })) << stats().DebugString();
  const auto s = stats();
  EXPECT_EQ(s.queue_depth(), 0);
  EXPECT_EQ(s.executions(), 0u);  // it never ran
  EXPECT_EQ(s.success(), 0u);
}

// Keyed on what this host has: where the provider loads, LoadModel succeeds on it; where it does
// not, the refusal is FAILED_PRECONDITION with the loader's reason and nothing is loaded.
TEST_F(ServiceTest, GpuProvidersOverGrpcFollowWhatLoadsHere) {
  for (const char* p : {"cuda", "tensorrt"}) {
    const cvp::ProviderProbe probe = cvp::probe_provider(p);
    pb::LoadModelRequest r;
    r.set_id(std::string("gpu-") + p);
    r.set_path(fixture("affine_dyn.onnx"));
    r.mutable_engine()->set_provider(p);
    pb::LoadModelResponse resp;
    auto st = stub_->LoadModel(ctx().get(), r, &resp);
    if (probe.loads) {
      EXPECT_TRUE(st.ok()) << p << ": " << st.error_message();
      EXPECT_GT(resp.session_create_us(), 0);
      continue;
    }
    EXPECT_EQ(st.error_code(), StatusCode::FAILED_PRECONDITION) << p;
    EXPECT_FALSE(st.error_message().empty());
    pb::ListModelsResponse list;
    ASSERT_TRUE(stub_->ListModels(ctx().get(), {}, &list).ok());
    EXPECT_EQ(list.models_size(), 0);
  }
}

namespace {

// Starts the real binary with `args`, its stderr (JSON log lines) going to `log`.
pid_t spawn_core(const std::vector<std::string>& args, const std::string& log) {
  std::remove(log.c_str());
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv{const_cast<char*>(CVP_CORE_BIN)};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, CVP_CORE_BIN, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

// The port from the core's first log line ({"msg":"listening","port":N}), waiting at most 10 s.
int port_from_log(const std::string& log) {
  for (int i = 0; i < 200; ++i) {
    std::ifstream f(log);
    std::string line;
    while (std::getline(f, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.value("msg", "") == "listening") return j.value("port", 0);
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  return 0;
}

// Exit status of `pid`, waiting at most `limit`; -1 (and the process killed) when it did not exit.
int wait_exit(pid_t pid, milliseconds limit) {
  int status = 0;
  for (auto t0 = steady_clock::now(); steady_clock::now() - t0 < limit;) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

std::string slurp(const std::string& file) {
  std::ifstream f(file);
  std::stringstream all;
  all << f.rdbuf();
  return all.str();
}

}  // namespace

// gRPC would set SO_REUSEPORT and let a second core share the port, the kernel splitting the
// platform's connections between two cores with different models loaded.
TEST(Server, ASecondServerOnATakenPortFailsNamingThePort) {
  cvp::ServerConfig cfg;
  cfg.port = 0;
  std::string err;
  auto first = cvp::Server::start(cfg, &err);
  ASSERT_NE(first, nullptr) << err;
  cfg.port = first->port();
  auto second = cvp::Server::start(cfg, &err);
  EXPECT_EQ(second, nullptr);
  EXPECT_NE(err.find("port " + std::to_string(cfg.port) + " is already in use"), std::string::npos) << err;
  first->drain(milliseconds(1000));
}

TEST(Binary, ASecondCoreOnATakenPortExitsNonZeroNamingThePort) {
  const std::string log1 = ::testing::TempDir() + "/cvp-core-port-1.log";
  const std::string log2 = ::testing::TempDir() + "/cvp-core-port-2.log";
  const pid_t first = spawn_core({"--port", "0"}, log1);
  ASSERT_GT(first, 0);
  const int port = port_from_log(log1);
  ASSERT_GT(port, 0) << slurp(log1);
  const pid_t second = spawn_core({"--port", std::to_string(port)}, log2);
  ASSERT_GT(second, 0);
  const int rc = wait_exit(second, milliseconds(20000));
  EXPECT_NE(rc, 0);
  EXPECT_NE(rc, -1) << "the second core kept running on a taken port";
  const std::string out = slurp(log2);
  EXPECT_NE(out.find("port " + std::to_string(port) + " is already in use"), std::string::npos) << out;
  EXPECT_EQ(out.find("\"msg\":\"listening\""), std::string::npos) << out;
  kill(first, SIGTERM);
  EXPECT_EQ(wait_exit(first, milliseconds(20000)), 0);
}

TEST(Binary, ListProvidersPrintsOneJsonDocument) {
  const std::string out = ::testing::TempDir() + "/cvp-core-providers.json";
  std::remove(out.c_str());
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const char* argv[] = {CVP_CORE_BIN, "--list-providers", nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, CVP_CORE_BIN, &fa, nullptr, const_cast<char**>(argv), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  EXPECT_EQ(wait_exit(pid, milliseconds(60000)), 0);
  const auto j = nlohmann::json::parse(slurp(out), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << slurp(out);
  EXPECT_FALSE(j.at("ort_version").get<std::string>().empty());
  ASSERT_EQ(j.at("providers").size(), 3u);
  for (const auto& p : j["providers"]) EXPECT_TRUE(p.at("loads").get<bool>() || p.contains("error")) << p.dump();
}

// The real binary: SIGTERM while a request is in flight -> the request completes, exit code 0.
TEST(Binary, SigtermDrainsInFlightWorkAndExitsZero) {
  const std::string log = ::testing::TempDir() + "/cvp-core-drain.log";
  const pid_t pid = spawn_core({"--port", "0", "--drain-timeout-ms", "20000"}, log);
  ASSERT_GT(pid, 0);
  const int port = port_from_log(log);
  ASSERT_GT(port, 0) << "binary did not report its port";
  auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  auto stub = pb::InferenceCore::NewStub(ch);
  {
    grpc::ClientContext c;
    pb::LoadModelRequest r;
    r.set_id("cnn");
    r.set_path(fixture("small_cnn.onnx"));
    pb::LoadModelResponse resp;
    ASSERT_TRUE(stub->LoadModel(&c, r, &resp).ok());
  }
  grpc::Status inflight;
  pb::InferResponse inflight_resp;
  std::thread t([&] {
    grpc::ClientContext c;
    c.set_deadline(system_clock::now() + seconds(60));
    c.AddMetadata("x-correlation-id", "drain-check");
    pb::InferRequest r;
    r.set_model_id("cnn");
    auto* in = r.add_inputs();
    in->set_name("input");
    in->set_datatype("FP32");
    for (int64_t d : {256, 3, 64, 64}) in->add_shape(d);
    in->set_data(std::string(256 * 3 * 64 * 64 * sizeof(float), '\0'));
    inflight = stub->Infer(&c, r, &inflight_resp);
  });
  // SIGTERM once the request is executing (Stats.running), so the drain has real work to finish
  for (int i = 0; i < 400; ++i) {
    grpc::ClientContext c;
    c.set_deadline(system_clock::now() + seconds(2));
    pb::StatsRequest sr;
    pb::StatsResponse s;
    if (stub->Stats(&c, sr, &s).ok() && s.models_size() == 1 && s.models(0).running() == 1) break;
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  t.join();
  EXPECT_TRUE(inflight.ok()) << inflight.error_message();
  EXPECT_EQ(inflight_resp.outputs_size(), 1);
  EXPECT_EQ(wait_exit(pid, milliseconds(20000)), 0);
  const std::string all = slurp(log);
  EXPECT_NE(all.find("\"msg\":\"draining\""), std::string::npos);
  EXPECT_NE(all.find("\"msg\":\"stopped\""), std::string::npos);
}
