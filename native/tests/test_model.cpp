#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <thread>
#include <tuple>

#include <nlohmann/json.hpp>

#include "model.hpp"

using namespace std::chrono;
using cvp::Clock;
using cvp::HostTensor;
using cvp::Model;
using cvp::RunOutput;
using grpc::StatusCode;
namespace pb = cvp::inference::v1;

namespace {

std::string fixture(const char* name) { return std::string(CVP_FIXTURES) + "/" + name; }

pb::LoadModelRequest load_req(const std::string& id, const char* file, int max_batch = 1, int64_t delay_us = 0,
                              int capacity = 64) {
  pb::LoadModelRequest r;
  r.set_id(id);
  r.set_path(fixture(file));
  r.mutable_batching()->set_max_batch(max_batch);
  r.mutable_batching()->set_max_queue_delay_us(delay_us);
  r.mutable_batching()->set_queue_capacity(capacity);
  return r;
}

HostTensor f32(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& v) {
  HostTensor t;
  t.name = name;
  t.type = ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  t.shape = std::move(shape);
  t.data.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  return t;
}

std::vector<float> floats(const HostTensor& t) {
  std::vector<float> v(t.size() / sizeof(float));
  std::memcpy(v.data(), t.bytes(), t.size());
  return v;
}

std::shared_ptr<Model> must_load(const pb::LoadModelRequest& r) {
  std::shared_ptr<Model> m;
  auto st = Model::load(r, &m);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return m;
}

Clock::time_point in(milliseconds ms) { return Clock::now() + ms; }

// A request that keeps small_cnn busy for a while (hundreds of ms on this class of CPU).
// Bounded poll: waits until pred() holds (or 10 s pass) so tests sequence on state, not sleeps.
template <class F>
bool wait_for(F pred) {
  for (int i = 0; i < 2000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return false;
}

pb::ModelStats stats_of(Model& m) {
  pb::ModelStats s;
  m.stats(&s);
  return s;
}

HostTensor heavy_input(int64_t batch) {
  return f32("input", {batch, 3, 64, 64}, std::vector<float>(static_cast<size_t>(batch) * 3 * 64 * 64, 0.5f));
}

}  // namespace

TEST(Model, MetadataReportsSymbolicDims) {
  auto m = must_load(load_req("a", "affine_dyn.onnx", 4));
  ASSERT_EQ(m->inputs().size(), 1u);
  EXPECT_EQ(m->inputs()[0].name, "x");
  EXPECT_EQ(cvp::dtype_name(m->inputs()[0].type), "FP32");
  EXPECT_EQ(m->inputs()[0].shape, (std::vector<int64_t>{-1, 4}));
  EXPECT_EQ(m->inputs()[0].symbolic[0], "batch");
  EXPECT_EQ(m->inputs()[0].symbolic[1], "");
  ASSERT_EQ(m->outputs().size(), 2u);
  EXPECT_TRUE(m->dynamic_batching());
  auto fixed = must_load(load_req("f", "affine_fixed.onnx", 4));
  EXPECT_FALSE(fixed->dynamic_batching());  // no symbolic leading axis: one request per run
}

TEST(Model, InferComputesTheGraph) {
  auto m = must_load(load_req("a", "affine_dyn.onnx"));
  RunOutput out;
  std::vector<HostTensor> ins{f32("x", {2, 4}, {1, 2, 3, 4, -1, 0, 0.5f, 10})};
  auto st = m->run(std::move(ins), in(seconds(5)), &out);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(out.outputs.size(), 2u);
  EXPECT_EQ(out.outputs[0].name, "y");
  EXPECT_EQ(out.outputs[0].shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(floats(out.outputs[0]), (std::vector<float>{3, 5, 7, 9, -1, 1, 2, 21}));
  EXPECT_EQ(floats(out.outputs[1]), (std::vector<float>{10, 9.5f}));
}

TEST(Model, RejectsMalformedInputs) {
  auto m = must_load(load_req("a", "affine_dyn.onnx", 4));
  RunOutput out;
  auto code = [&](HostTensor t) {
    std::vector<HostTensor> v;
    v.push_back(std::move(t));
    return m->run(std::move(v), in(seconds(5)), &out).error_code();
  };
  EXPECT_EQ(code(f32("nope", {1, 4}, {1, 2, 3, 4})), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(f32("x", {1, 5}, {1, 2, 3, 4, 5})), StatusCode::INVALID_ARGUMENT);   // fixed dim
  EXPECT_EQ(code(f32("x", {4}, {1, 2, 3, 4})), StatusCode::INVALID_ARGUMENT);         // rank
  EXPECT_EQ(code(f32("x", {1, 4}, {1, 2, 3})), StatusCode::INVALID_ARGUMENT);         // bytes
  EXPECT_EQ(code(f32("x", {0, 4}, {})), StatusCode::INVALID_ARGUMENT);                // empty
  EXPECT_EQ(code(f32("x", {5, 4}, std::vector<float>(20))), StatusCode::INVALID_ARGUMENT);  // > max_batch
  EXPECT_EQ(code(f32("x", {int64_t(1) << 40, int64_t(1) << 40}, {})), StatusCode::INVALID_ARGUMENT);
  HostTensor wrong_type = f32("x", {1, 4}, {1, 2, 3, 4});
  wrong_type.type = ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32;
  EXPECT_EQ(code(wrong_type), StatusCode::INVALID_ARGUMENT);
  std::vector<HostTensor> none;
  EXPECT_EQ(m->run(std::move(none), in(seconds(5)), &out).error_code(), StatusCode::INVALID_ARGUMENT);
  pb::ModelStats s;
  m->stats(&s);
  EXPECT_EQ(s.failed(), 9u);
  EXPECT_EQ(s.success(), 0u);
}

// Keyed on what this host has, found at run time: where a GPU provider loads, a model loads and
// runs on it; where it does not, LoadModel refuses with FAILED_PRECONDITION carrying the loader's
// own reason, and no CPU session is made in its place.
TEST(Model, GpuProvidersRunWhereTheyLoadAndAreRefusedWithTheLoadersReasonElsewhere) {
  for (const char* p : {"cuda", "tensorrt"}) {
    const cvp::ProviderProbe probe = cvp::probe_provider(p);
    auto r = load_req("g", "affine_dyn.onnx");
    r.mutable_engine()->set_provider(p);
    std::shared_ptr<Model> m;
    auto st = Model::load(r, &m);
    if (probe.loads) {
      ASSERT_TRUE(st.ok()) << p << " loads here, but LoadModel failed: " << st.error_message();
      RunOutput out;
      std::vector<HostTensor> ins{f32("x", {1, 4}, {1, 2, 3, 4})};
      ASSERT_TRUE(m->run(std::move(ins), in(seconds(60)), &out).ok());
      EXPECT_EQ(floats(out.outputs[0]), (std::vector<float>{3, 5, 7, 9}));
      continue;
    }
    ASSERT_FALSE(probe.error.empty()) << p;
    EXPECT_EQ(st.error_code(), StatusCode::FAILED_PRECONDITION) << p << ": " << st.error_message();
    // the refusal names the same cause the probe found (ONNX Runtime's or the loader's words)
    const std::string cause = probe.error.substr(probe.error.find(':') == std::string::npos ? 0 : probe.error.find(':') + 1);
    EXPECT_NE(st.error_message().find(cause.substr(0, std::min<size_t>(cause.size(), 60))), std::string::npos)
        << p << ": refusal '" << st.error_message() << "' vs probe '" << probe.error << "'";
    EXPECT_EQ(m, nullptr);  // no CPU session was made in its place
  }
  auto r = load_req("g", "affine_dyn.onnx");
  r.mutable_engine()->set_provider("opencl");
  std::shared_ptr<Model> m;
  EXPECT_EQ(Model::load(r, &m).error_code(), StatusCode::INVALID_ARGUMENT);
}

TEST(Model, ProviderProbeReportsCpuAsLoadingAndExplainsTheRest) {
  const cvp::ProviderProbe cpu = cvp::probe_provider("cpu");
  EXPECT_TRUE(cpu.listed);
  EXPECT_TRUE(cpu.loads) << cpu.error;
  for (const char* p : {"cuda", "tensorrt"}) {
    const cvp::ProviderProbe g = cvp::probe_provider(p);
    EXPECT_NE(g.library.find(std::string("libonnxruntime_providers_") + p), std::string::npos) << g.library;
    EXPECT_TRUE(g.loads || !g.error.empty()) << p << ": neither loads nor says why";
    if (g.loads) {
      EXPECT_TRUE(g.device.known) << g.device.error;
    }
  }
  EXPECT_FALSE(cvp::probe_provider("opencl").error.empty());
  const auto j = nlohmann::json::parse(cvp::list_providers_json());
  EXPECT_EQ(j.at("ort_version").get<std::string>(), Ort::GetVersionString());
  ASSERT_EQ(j.at("providers").size(), 3u);
  EXPECT_EQ(j["providers"][0]["provider"], "cpu");
  EXPECT_EQ(j["providers"][0]["loads"], true);
  for (size_t i = 1; i < 3; ++i) {
    const auto& p = j["providers"][i];
    EXPECT_TRUE(p.contains("library"));
    EXPECT_TRUE(p["loads"].get<bool>() || !p.at("error").get<std::string>().empty()) << p.dump();
    EXPECT_TRUE(p.at("device").contains("name") || p.at("device").contains("error")) << p.dump();
  }
}

TEST(Model, LoadErrors) {
  std::shared_ptr<Model> m;
  auto r = load_req("x", "does_not_exist.onnx");
  EXPECT_EQ(Model::load(r, &m).error_code(), StatusCode::NOT_FOUND);
  const std::string bad = ::testing::TempDir() + "/garbage.onnx";
  std::ofstream(bad) << "this is not a protobuf";
  r.set_path(bad);
  EXPECT_EQ(Model::load(r, &m).error_code(), StatusCode::INVALID_ARGUMENT);
  r = load_req("x", "affine_dyn.onnx");
  r.mutable_engine()->set_graph_optimization("max");
  EXPECT_EQ(Model::load(r, &m).error_code(), StatusCode::INVALID_ARGUMENT);
  r = load_req("x", "affine_dyn.onnx");
  r.mutable_batching()->set_instance_count(1000);
  EXPECT_EQ(Model::load(r, &m).error_code(), StatusCode::INVALID_ARGUMENT);
}

TEST(Model, GraphOptimizationLevelsAndWarmupAllWork) {
  for (const char* level : {"disabled", "basic", "extended", "all"}) {
    auto r = load_req(level, "affine_fixed.onnx");
    r.mutable_engine()->set_graph_optimization(level);
    r.mutable_engine()->set_intra_op_threads(1);
    r.set_warmup(true);
    auto m = must_load(r);
    ASSERT_NE(m, nullptr);
    EXPECT_GT(m->warmup_us(), 0);
    pb::ModelStats s;
    m->stats(&s);
    EXPECT_EQ(s.executions(), 0u);  // warm-up is not counted as traffic
  }
}

TEST(Model, ConcurrentRequestsAreBatchedAndEachGetsItsOwnRows) {
  auto m = must_load(load_req("a", "affine_dyn.onnx", 8, 50000));
  constexpr int kN = 8;
  std::vector<std::thread> ts;
  std::vector<RunOutput> outs(kN);
  std::vector<grpc::Status> sts(kN);
  for (int i = 0; i < kN; ++i) {
    ts.emplace_back([&, i] {
      const float v = static_cast<float>(i);
      std::vector<HostTensor> ins{f32("x", {1, 4}, {v, v, v, v})};
      sts[static_cast<size_t>(i)] = m->run(std::move(ins), in(seconds(10)), &outs[static_cast<size_t>(i)]);
    });
  }
  for (auto& t : ts) t.join();
  int max_batch_seen = 0;
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(sts[static_cast<size_t>(i)].ok()) << sts[static_cast<size_t>(i)].error_message();
    const float v = static_cast<float>(i);
    EXPECT_EQ(floats(outs[static_cast<size_t>(i)].outputs[0]), (std::vector<float>(4, 2 * v + 1)));
    EXPECT_EQ(outs[static_cast<size_t>(i)].outputs[0].shape, (std::vector<int64_t>{1, 4}));
    max_batch_seen = std::max(max_batch_seen, outs[static_cast<size_t>(i)].batch_size);
  }
  pb::ModelStats s;
  m->stats(&s);
  EXPECT_EQ(s.success(), static_cast<uint64_t>(kN));
  EXPECT_EQ(s.inferences(), static_cast<uint64_t>(kN));
  EXPECT_LT(s.executions(), static_cast<uint64_t>(kN));  // at least two requests shared a run
  EXPECT_GT(max_batch_seen, 1);
  EXPECT_EQ(s.batch_size().count(), s.executions());
}

TEST(Model, FullQueueAnswersResourceExhaustedAtOnce) {
  auto m = must_load(load_req("c", "small_cnn.onnx", 1, 0, 1));
  RunOutput a_out;
  grpc::Status a_st;
  std::thread a([&] {
    std::vector<HostTensor> v{heavy_input(256)};
    a_st = m->run(std::move(v), in(seconds(60)), &a_out);
  });
  ASSERT_TRUE(wait_for([&] { return stats_of(*m).running() == 1; }));  // A runs, the queue is empty
  RunOutput b_out;
  grpc::Status b_st;
  std::thread b([&] {
    std::vector<HostTensor> v{heavy_input(1)};
    b_st = m->run(std::move(v), in(seconds(60)), &b_out);
  });
  ASSERT_TRUE(wait_for([&] { return stats_of(*m).queue_depth() == 1; }));  // B holds the only slot
  ASSERT_EQ(stats_of(*m).running(), 1);  // A is still running (else this test proves nothing)
  RunOutput c_out;
  std::vector<HostTensor> v{heavy_input(1)};
  const auto t0 = steady_clock::now();
  auto c_st = m->run(std::move(v), in(seconds(60)), &c_out);
  EXPECT_EQ(c_st.error_code(), StatusCode::RESOURCE_EXHAUSTED) << c_st.error_message();
  EXPECT_LT(steady_clock::now() - t0, milliseconds(50));
  a.join();
  b.join();
  EXPECT_TRUE(a_st.ok()) << a_st.error_message();
  EXPECT_TRUE(b_st.ok()) << b_st.error_message();
  pb::ModelStats s;
  m->stats(&s);
  EXPECT_EQ(s.rejected(), 1u);
  EXPECT_EQ(s.success(), 2u);
}

TEST(Model, RequestsWhoseDeadlinePassedInTheQueueAreNotRun) {
  auto m = must_load(load_req("c", "small_cnn.onnx", 1, 0, 8));
  grpc::Status a_st;
  std::thread a([&] {
    RunOutput o;
    std::vector<HostTensor> v{heavy_input(256)};
    a_st = m->run(std::move(v), in(seconds(60)), &o);
  });
  ASSERT_TRUE(wait_for([&] { return stats_of(*m).running() == 1; }));
  RunOutput b_out;
  std::vector<HostTensor> v{heavy_input(1)};
  const auto t0 = steady_clock::now();
  auto b_st = m->run(std::move(v), in(milliseconds(30)), &b_out);
  EXPECT_EQ(b_st.error_code(), StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(steady_clock::now() - t0, milliseconds(500));  // the wait was bounded by the deadline
  EXPECT_EQ(stats_of(*m).running(), 1);                     // A still running: B expired in the queue
  a.join();
  ASSERT_TRUE(a_st.ok());
  m->stop();  // joins the worker: B has been handed back by now
  pb::ModelStats s;
  m->stats(&s);
  EXPECT_EQ(s.expired(), 1u);
  EXPECT_EQ(s.executions(), 1u);  // only A ran
  EXPECT_EQ(s.success(), 1u);
}

TEST(Model, RequestsWhoseCallerWentAwayInTheQueueAreNotRun) {
  auto m = must_load(load_req("c", "small_cnn.onnx", 1, 0, 8));
  grpc::Status a_st;
  std::thread a([&] {
    RunOutput o;
    std::vector<HostTensor> v{heavy_input(256)};
    a_st = m->run(std::move(v), in(seconds(60)), &o);
  });
  ASSERT_TRUE(wait_for([&] { return stats_of(*m).running() == 1; }));
  std::atomic<bool> gone{false};
  grpc::Status b_st;
  std::thread b([&] {
    RunOutput o;
    std::vector<HostTensor> v{heavy_input(1)};
    b_st = m->run(std::move(v), in(seconds(60)), &o, [&] { return gone.load(); });
  });
  ASSERT_TRUE(wait_for([&] { return stats_of(*m).queue_depth() == 1; }));
  const auto t0 = steady_clock::now();
  gone = true;  // the RPC behind B was cancelled
  b.join();
  EXPECT_EQ(b_st.error_code(), StatusCode::CANCELLED) << b_st.error_message();
  EXPECT_LT(steady_clock::now() - t0, milliseconds(500));  // noticed within a polling slice
  EXPECT_EQ(stats_of(*m).running(), 1);                     // A still running: B left while queued
  a.join();
  ASSERT_TRUE(a_st.ok());
  m->stop();
  pb::ModelStats s;
  m->stats(&s);
  EXPECT_EQ(s.cancelled(), 1u);
  EXPECT_EQ(s.expired(), 0u);
  EXPECT_EQ(s.executions(), 1u);  // only A ran
}

TEST(Model, StopDrainsQueuedWorkAndRefusesNewWork) {
  auto m = must_load(load_req("a", "affine_dyn.onnx", 4, 200000));
  RunOutput out;
  grpc::Status st;
  std::thread t([&] {
    std::vector<HostTensor> v{f32("x", {1, 4}, {1, 1, 1, 1})};
    st = m->run(std::move(v), in(seconds(10)), &out);
  });
  std::this_thread::sleep_for(milliseconds(30));  // queued, waiting for a fuller batch
  m->stop();
  t.join();
  EXPECT_TRUE(st.ok()) << st.error_message();  // finished, not dropped
  std::vector<HostTensor> v{f32("x", {1, 4}, {1, 1, 1, 1})};
  EXPECT_EQ(m->run(std::move(v), in(seconds(1)), &out).error_code(), StatusCode::UNAVAILABLE);
}

TEST(Model, InstancesShareOneSessionOrHaveOneEach) {
  auto shared = load_req("s", "small_cnn.onnx");
  shared.mutable_batching()->set_instance_count(3);
  shared.mutable_batching()->set_instance_sessions("shared");
  auto a = must_load(shared);
  EXPECT_EQ(a->session_count(), 1u);
  auto separate = shared;
  separate.mutable_batching()->set_instance_sessions("separate");
  auto b = must_load(separate);
  EXPECT_EQ(b->session_count(), 3u);
  pb::ModelStats s;
  b->stats(&s);
  ASSERT_EQ(s.instances_size(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(s.instances(i).session(), i);
  s.Clear();
  a->stats(&s);
  for (const auto& i : s.instances()) EXPECT_EQ(i.session(), 0);

  // unset: the documented default, reported back in the model info
  auto dflt = load_req("d", "small_cnn.onnx");
  dflt.mutable_batching()->set_instance_count(2);
  dflt.mutable_engine()->set_intra_op_threads(1);
  pb::ModelInfo info;
  must_load(dflt)->info(&info);
  EXPECT_EQ(info.batching().instance_sessions(), cvp::default_instance_sessions("cpu", 1));
  EXPECT_EQ(cvp::default_instance_sessions("cpu", 1), "shared");
  EXPECT_EQ(cvp::default_instance_sessions("cpu", 2), "separate");
  EXPECT_EQ(cvp::default_instance_sessions("cuda", 1), "separate");
  auto bad = load_req("x", "small_cnn.onnx");
  bad.mutable_batching()->set_instance_sessions("pooled");
  std::shared_ptr<Model> m;
  EXPECT_EQ(Model::load(bad, &m).error_code(), StatusCode::INVALID_ARGUMENT);
}

TEST(Model, SessionsSpinLikeOnnxruntimeNodeOnlyWhileTheirThreadsFitTheCpus) {
  // ONNX Runtime's default (spinning) where the threads fit, none where they would outnumber the cpus
  for (const auto& [threads, cpus, spin] : std::vector<std::tuple<unsigned, unsigned, const char*>>{
           {1, 1, "1"}, {2, 2, "1"}, {2, 16, "1"}, {3, 2, "0"}, {4, 2, "0"}, {1, 0, "1"}}) {
    const auto c = cvp::default_session_config(threads, cpus);
    EXPECT_EQ(c.at("session.intra_op.allow_spinning"), spin) << threads << " threads on " << cpus << " cpus";
    EXPECT_EQ(c.at("session.inter_op.allow_spinning"), spin);
    EXPECT_EQ(c.size(), 2u);
  }
  EXPECT_GE(cvp::usable_cpus(), 1u);

  // what a loaded model got: N separate sessions x T threads, or N callers sharing one pool
  const unsigned cpus = cvp::usable_cpus();
  auto r = load_req("spin", "small_cnn.onnx");
  r.mutable_engine()->set_intra_op_threads(2);
  r.mutable_batching()->set_instance_count(2);
  r.mutable_batching()->set_instance_sessions("separate");
  EXPECT_EQ(must_load(r)->session_config().at("session.intra_op.allow_spinning"), 4 <= cpus ? "1" : "0");
  r.mutable_batching()->set_instance_sessions("shared");
  EXPECT_EQ(must_load(r)->session_config().at("session.intra_op.allow_spinning"), 3 <= cpus ? "1" : "0");
  r.mutable_engine()->set_intra_op_threads(1);
  r.mutable_batching()->set_instance_count(1);
  EXPECT_EQ(must_load(r)->session_config().at("session.intra_op.allow_spinning"), "1");
}

TEST(Model, SessionConfigOverridesParseKeyValuePairs) {
  using KV = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(cvp::parse_session_config(""), KV{});
  EXPECT_EQ(cvp::parse_session_config("session.intra_op.allow_spinning=0"), (KV{{"session.intra_op.allow_spinning", "0"}}));
  // empty items, items without '=' and empty keys are skipped; empty values and '=' in values kept
  EXPECT_EQ(cvp::parse_session_config("a=1;;b=;=x;c;d=e=f;a=2;"), (KV{{"a", "1"}, {"b", ""}, {"d", "e=f"}, {"a", "2"}}));
}

TEST(Model, ConcurrentRequestsRunOnSeparateInstancesAndStatsCountEach) {
  auto r = load_req("c", "small_cnn.onnx", 1, 0, 8);
  r.mutable_batching()->set_instance_count(2);
  r.mutable_batching()->set_instance_sessions("separate");
  auto m = must_load(r);
  grpc::Status a_st, b_st;
  // Big enough that A still runs when B starts on a loaded 2-core machine (128 rows were not).
  std::thread a([&] {
    RunOutput o;
    std::vector<HostTensor> v{heavy_input(1024)};
    a_st = m->run(std::move(v), in(seconds(120)), &o);
  });
  std::thread b;
  // Joined however the test ends: a failed ASSERT must not leave a joinable thread (terminate).
  struct Join {
    std::thread& t;
    ~Join() {
      if (t.joinable()) t.join();
    }
  } join_a{a}, join_b{b};
  ASSERT_TRUE(wait_for([&] { return stats_of(*m).running() == 1; }));
  b = std::thread([&] {  // the first instance is busy: this one takes the other, at once
    RunOutput o;
    std::vector<HostTensor> v{heavy_input(1024)};
    b_st = m->run(std::move(v), in(seconds(120)), &o);
  });
  ASSERT_TRUE(wait_for([&] { return stats_of(*m).running() == 2; }));
  const auto during = stats_of(*m);
  EXPECT_TRUE(during.instances(0).busy());
  EXPECT_TRUE(during.instances(1).busy());
  EXPECT_EQ(during.queue_depth(), 0);
  a.join();
  b.join();
  ASSERT_TRUE(a_st.ok() && b_st.ok());
  const auto s = stats_of(*m);
  EXPECT_EQ(s.instances(0).executions(), 1u);
  EXPECT_EQ(s.instances(1).executions(), 1u);
  EXPECT_EQ(s.instances(0).inferences() + s.instances(1).inferences(), 2u);  // one request each
  EXPECT_EQ(s.instances(0).compute_us().count(), 1u);
  EXPECT_FALSE(s.instances(0).busy());
  EXPECT_EQ(s.executions(), 2u);
}

TEST(Model, TensorRtEngineCachesAreKeyedByModelGpuAndTensorRtVersion) {
  const std::string dir = ::testing::TempDir() + "/trt-cache";
  const std::string a = cvp::engine_cache_dir(dir, fixture("small_cnn.onnx"), 0);
  EXPECT_EQ(a, cvp::engine_cache_dir(dir, fixture("small_cnn.onnx"), 0));  // stable
  EXPECT_NE(a, cvp::engine_cache_dir(dir, fixture("medium_cnn.onnx"), 0));  // another model, another folder
  EXPECT_EQ(a.rfind(dir + "/", 0), 0u);
  const std::string leaf = a.substr(dir.size() + 1);
  EXPECT_EQ(leaf.find('/'), std::string::npos);
  EXPECT_NE(leaf.find("-trt"), std::string::npos) << leaf;
  EXPECT_EQ(leaf.size() > 16 ? leaf.substr(0, 16).find_first_not_of("0123456789abcdef") : 0, std::string::npos) << leaf;
}
