// cvp-bench: ONNX Runtime called in-process vs the same model served by the core over
// gRPC (loopback), at concurrency 1 and 16, plus RSS over 10k served requests. Not a test: it
// writes measured numbers and the ratios against the targets to a JSON file.
//
//   cvp-bench [--model F.onnx] [--shape 1,3,640,640] [--out results.json] [--requests N] [--rss-requests N]
//             [--rss-warmup N] [--threads N] [--instances N] [--max-batch N]
#include <grpcpp/grpcpp.h>
#include <onnxruntime_cxx_api.h>

#include <malloc.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <thread>

#include "log.hpp"
#include "model.hpp"
#include "server.hpp"

using namespace std::chrono;
using nlohmann::json;
namespace pb = cvp::inference::v1;

namespace {

double rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

double loadavg() {
  std::ifstream f("/proc/loadavg");
  double v = 0;
  f >> v;
  return v;
}

double cpu_seconds() {  // this process's CPU time, all threads: client, server and engine
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Result {
  std::vector<double> lat_ms;
  double seconds = 0;
  double cpu_seconds = 0;
  int errors = 0;
};

json summarize(Result r) {
  std::sort(r.lat_ms.begin(), r.lat_ms.end());
  auto pct = [&](double p) {
    if (r.lat_ms.empty()) return 0.0;
    return r.lat_ms[std::min(r.lat_ms.size() - 1, static_cast<size_t>(p * static_cast<double>(r.lat_ms.size())))];
  };
  const double mean = r.lat_ms.empty() ? 0 : std::accumulate(r.lat_ms.begin(), r.lat_ms.end(), 0.0) / static_cast<double>(r.lat_ms.size());
  const double n = static_cast<double>(std::max<size_t>(1, r.lat_ms.size()));
  return {{"requests", r.lat_ms.size()}, {"errors", r.errors}, {"p50_ms", pct(0.50)}, {"p95_ms", pct(0.95)},
          {"p99_ms", pct(0.99)}, {"mean_ms", mean}, {"throughput_rps", static_cast<double>(r.lat_ms.size()) / r.seconds},
          {"cpu_ms_per_request", 1000.0 * r.cpu_seconds / n}};
}

// Runs fn(i) total times spread over `conc` threads; returns per-call latencies.
template <class F>
Result drive(int conc, int total, F fn) {
  Result r;
  std::vector<std::vector<double>> lat(static_cast<size_t>(conc));
  std::atomic<int> next{0}, errors{0};
  const auto t0 = steady_clock::now();
  const double c0 = cpu_seconds();
  std::vector<std::thread> ts;
  for (int c = 0; c < conc; ++c) {
    ts.emplace_back([&, c] {
      for (int i; (i = next++) < total;) {
        const auto s = steady_clock::now();
        if (!fn(c)) ++errors;
        lat[static_cast<size_t>(c)].push_back(duration<double, std::milli>(steady_clock::now() - s).count());
      }
    });
  }
  for (auto& t : ts) t.join();
  r.seconds = duration<double>(steady_clock::now() - t0).count();
  r.cpu_seconds = cpu_seconds() - c0;
  for (auto& l : lat) r.lat_ms.insert(r.lat_ms.end(), l.begin(), l.end());
  r.errors = errors;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = std::string(CVP_SOURCE_DIR) + "/tests/fixtures/medium_cnn.onnx";
  std::string out = std::string(CVP_SOURCE_DIR) + "/../bench/results/native-core.json";
  int requests = 1000, rss_requests = 10000, rss_warmup = 2000, threads = 1, max_batch = 1;
  std::vector<int64_t> shape_arg;
  // tcp (loopback), uds (Unix domain socket), or shm: tensors in shared memory, the RPC over tcp
  std::string transport = "tcp";
  int instances = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--model") model = v;
    else if (a == "--out") out = v;
    else if (a == "--requests") requests = std::stoi(v);
    else if (a == "--rss-requests") rss_requests = std::stoi(v);
    else if (a == "--threads") threads = std::stoi(v);
    else if (a == "--rss-warmup") rss_warmup = std::stoi(v);
    else if (a == "--instances") instances = std::stoi(v);
    else if (a == "--max-batch") max_batch = std::stoi(v);
    else if (a == "--transport") transport = v;
    else if (a == "--shape") {  // e.g. 1,3,640,640: fills the model's symbolic dims
      shape_arg.clear();
      for (size_t p = 0; p <= v.size();) {
        const size_t q = std::min(v.find(',', p), v.size());
        shape_arg.push_back(std::stoll(v.substr(p, q - p)));
        p = q + 1;
      }
    }
    else {
      std::cerr << "unknown flag " << a << "\n";
      return 2;
    }
  }
  cvp::log::set_level(cvp::log::Level::Warn);
  cvp::tune_allocator();  // same allocator policy as cvp-core's main()

  // ---- raw: one in-process session, same options the served model gets ----
  Ort::SessionOptions so;
  so.SetGraphOptimizationLevel(ORT_ENABLE_ALL);
  so.SetIntraOpNumThreads(threads);
  Ort::Session session(cvp::ort_env(), model.c_str(), so);
  Ort::AllocatorWithDefaultOptions alloc;
  const std::string in_name = session.GetInputNameAllocated(0, alloc).get();
  const std::string out_name = session.GetOutputNameAllocated(0, alloc).get();
  std::vector<int64_t> shape = session.GetInputTypeInfo(0).GetTensorTypeAndShapeInfo().GetShape();
  if (!shape_arg.empty()) {
    if (shape_arg.size() != shape.size()) {
      std::cerr << "--shape has " << shape_arg.size() << " dims, the model's input has " << shape.size() << "\n";
      return 2;
    }
    shape = shape_arg;
  }
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] >= 0) continue;
    if (d != 0) {
      std::cerr << "the input has symbolic dims beyond the batch axis: pass --shape\n";
      return 2;
    }
    shape[d] = 1;
  }
  size_t n = 1;
  for (auto d : shape) n *= static_cast<size_t>(d);
  std::vector<float> input(n);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (auto& v : input) v = u(rng);
  const auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  const char* in_names[] = {in_name.c_str()};
  const char* out_names[] = {out_name.c_str()};
  auto raw_call = [&](int) {
    std::vector<float> local(input);  // a request owns its buffer, as a served one does
    auto v = Ort::Value::CreateTensor<float>(mem, local.data(), local.size(), shape.data(), shape.size());
    auto o = session.Run(Ort::RunOptions{nullptr}, in_names, &v, 1, out_names, 1);
    return o.size() == 1;
  };

  // ---- served: the core's gRPC server in this process, a real loopback TCP channel ----
  cvp::ServerConfig cfg;
  cfg.port = 0;
  const std::string uds = "/tmp/cvp-bench-" + std::to_string(getpid()) + ".sock";
  if (transport == "uds") cfg.unix_socket = uds;
  if (transport == "shm") cfg.service.allow_shared_memory = true;
  if (transport != "tcp" && transport != "uds" && transport != "shm") {
    std::cerr << "--transport must be tcp, uds or shm\n";
    return 2;
  }
  std::string err;
  auto server = cvp::Server::start(cfg, &err);
  if (!server) {
    std::cerr << err << "\n";
    return 1;
  }
  auto channel = grpc::CreateChannel(transport == "uds" ? "unix:" + uds : "127.0.0.1:" + std::to_string(server->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = pb::InferenceCore::NewStub(channel);
  {
    grpc::ClientContext c;
    pb::LoadModelRequest r;
    r.set_id("bench");
    r.set_path(model);
    r.mutable_engine()->set_intra_op_threads(threads);
    r.mutable_batching()->set_max_batch(max_batch);
    r.mutable_batching()->set_max_queue_delay_us(0);  // batch only what is already waiting
    r.mutable_batching()->set_queue_capacity(256);
    r.mutable_batching()->set_instance_count(instances);
    r.set_warmup(true);
    pb::LoadModelResponse resp;
    auto st = stub->LoadModel(&c, r, &resp);
    if (!st.ok()) {
      std::cerr << "LoadModel: " << st.error_message() << "\n";
      return 1;
    }
  }
  pb::InferRequest req;
  req.set_model_id("bench");
  auto* t = req.add_inputs();
  t->set_name(in_name);
  t->set_datatype("FP32");
  for (auto d : shape) t->add_shape(d);
  t->set_data(std::string(reinterpret_cast<const char*>(input.data()), input.size() * sizeof(float)));
  // shm: one slot per client thread in one registered region; a call writes its input into its
  // slot (the copy the raw path makes too) and sends only the reference
  const size_t in_bytes = input.size() * sizeof(float);
  const int slots = 16;
  const std::string shm_key = "/cvp-bench-" + std::to_string(getpid());
  char* shm = nullptr;
  std::vector<pb::InferRequest> slot_reqs;
  if (transport == "shm") {
    const int fd = shm_open(shm_key.c_str(), O_CREAT | O_RDWR | O_EXCL, 0600);
    if (fd < 0 || ftruncate(fd, static_cast<off_t>(in_bytes * slots)) != 0) {
      std::cerr << "cannot create shared memory " << shm_key << "\n";
      return 1;
    }
    shm = static_cast<char*>(mmap(nullptr, in_bytes * slots, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    close(fd);
    grpc::ClientContext c;
    pb::RegisterSharedMemoryRequest r;
    r.set_name("bench");
    r.set_key(shm_key);
    r.set_byte_size(in_bytes * slots);
    pb::RegisterSharedMemoryResponse resp;
    if (shm == MAP_FAILED || !stub->RegisterSharedMemory(&c, r, &resp).ok()) {
      std::cerr << "cannot register shared memory\n";
      return 1;
    }
    for (int i = 0; i < slots; ++i) {
      pb::InferRequest q = req;
      auto* in = q.mutable_inputs(0);
      in->clear_data();
      in->mutable_shared_memory()->set_region("bench");
      in->mutable_shared_memory()->set_offset(in_bytes * static_cast<size_t>(i));
      in->mutable_shared_memory()->set_byte_size(in_bytes);
      slot_reqs.push_back(std::move(q));
    }
  }
  auto served_call = [&](int slot) {
    grpc::ClientContext c;
    c.set_deadline(system_clock::now() + seconds(30));
    pb::InferResponse resp;
    if (shm) {
      std::memcpy(shm + in_bytes * static_cast<size_t>(slot), input.data(), in_bytes);
      return stub->Infer(&c, slot_reqs[static_cast<size_t>(slot)], &resp).ok() && resp.outputs_size() == 1;
    }
    return stub->Infer(&c, req, &resp).ok() && resp.outputs_size() == 1;
  };
  const int warm = std::max(10, std::min(200, requests / 4));
  drive(1, warm, raw_call);  // warm-up both paths
  drive(1, warm, served_call);
  // Alternate raw and served in rounds so that drifting background load on a shared machine
  // hits both paths alike, instead of whichever phase happened to run while it peaked.
  auto interleaved = [&](int conc) {
    Result raw, srv;
    const int rounds = 5;
    for (int r = 0; r < rounds; ++r) {
      for (auto* pair : {&raw, &srv}) {
        Result x = pair == &raw ? drive(conc, requests / rounds, raw_call) : drive(conc, requests / rounds, served_call);
        pair->lat_ms.insert(pair->lat_ms.end(), x.lat_ms.begin(), x.lat_ms.end());
        pair->seconds += x.seconds;
        pair->cpu_seconds += x.cpu_seconds;
        pair->errors += x.errors;
      }
    }
    return std::make_pair(summarize(raw), summarize(srv));
  };
  const double load_before = loadavg();
  const auto [raw1, srv1] = interleaved(1);
  const auto [raw16, srv16] = interleaved(16);
  const double load_after = loadavg();

  // ---- RSS over 10k served requests (concurrency 16), sampled every 1k, after a warm-up that
  // lets ORT's arena and the allocator reach the batch sizes dynamic batching produces ----
  if (rss_requests > 0) drive(16, rss_warmup, served_call);
  std::vector<double> rss;
  rss.push_back(rss_mb());
  for (int done = 0; done < rss_requests; done += 1000) {
    drive(16, std::min(1000, rss_requests - done), served_call);
    rss.push_back(rss_mb());
  }
  pb::StatsResponse stats;
  {
    grpc::ClientContext c;
    stub->Stats(&c, pb::StatsRequest(), &stats);
  }
  server->drain(milliseconds(5000));
  if (transport == "uds") ::unlink(uds.c_str());
  if (shm) {
    munmap(shm, in_bytes * slots);
    shm_unlink(shm_key.c_str());
  }

  const double raw_p50 = raw1["p50_ms"].get<double>(), srv_p50 = srv1["p50_ms"].get<double>();
  const double raw_best = std::max(raw1["throughput_rps"].get<double>(), raw16["throughput_rps"].get<double>());
  const double srv_tp16 = srv16["throughput_rps"].get<double>();
  const double rss_growth = rss.back() - rss.front();
  const bool rss_flat = rss_growth <= std::max(5.0, 0.05 * rss.front());
  json batch_hist;
  if (stats.models_size() == 1) {
    const auto& h = stats.models(0).batch_size();
    for (int i = 0; i < h.counts_size(); ++i) batch_hist[i < h.bounds_size() ? std::to_string(static_cast<int>(h.bounds(i))) : "more"] = h.counts(i);
  }
  json result = {
      {"model", model},
      {"generated_at", duration_cast<seconds>(system_clock::now().time_since_epoch()).count()},
      {"environment", {{"ort_version", Ort::GetVersionString()}, {"hardware_threads", std::thread::hardware_concurrency()},
                       {"intra_op_threads", threads}, {"loadavg_1m_before", load_before}, {"loadavg_1m_after", load_after},
                       {"served_instances", instances}, {"served_max_batch", max_batch}, {"input_shape", shape}, {"transport", transport == "uds"   ? "gRPC over a Unix domain socket, in-process server"
                                     : transport == "shm" ? "gRPC over loopback TCP, input tensors in registered shared memory, in-process server"
                                                          : "gRPC over loopback TCP, in-process server"}}},
      {"raw", {{"c1", raw1}, {"c16", raw16}}},
      {"served", {{"c1", srv1}, {"c16", srv16}, {"batch_size_histogram", batch_hist}}},
      {"rss_mb", {{"samples_every_1k", rss}, {"growth_after_warmup", rss_growth}, {"requests", rss_requests}, {"warmup_requests", rss_warmup}}},
      {"ratios", {{"served_p50_over_raw_p50", srv_p50 / raw_p50}, {"served_c16_throughput_over_raw_best", srv_tp16 / raw_best}}},
      {"targets",
       {{"p50", {{"rule", "served p50 <= raw p50 * 1.05 + 1 ms"}, {"limit_ms", raw_p50 * 1.05 + 1.0}, {"pass", srv_p50 <= raw_p50 * 1.05 + 1.0}}},
        {"throughput", {{"rule", "served c16 >= 0.95 * raw best"}, {"pass", srv_tp16 >= 0.95 * raw_best}}},
        {"rss", {{"rule", "growth after warm-up <= max(5 MB, 5%)"},
                 {"pass", rss_requests > 0 ? json(rss_flat) : json(nullptr)}}}}}};
  std::ofstream(out) << result.dump(2) << "\n";
  std::cout << result.dump(2) << "\n";
  return 0;
}
