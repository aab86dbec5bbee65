#include "model.hpp"

#include <algorithm>
#include <malloc.h>
#include <sched.h>

#include <openssl/evp.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <limits>

#include "log.hpp"

namespace cvp {
namespace {

using grpc::Status;
using grpc::StatusCode;

int64_t us_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::microseconds>(b - a).count();
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? "," : "") + std::to_string(s[i]);
  return o + "]";
}

TensorMeta meta_of(const Ort::TypeInfo& ti, std::string name) {
  TensorMeta m;
  m.name = std::move(name);
  if (ti.GetONNXType() != ONNX_TYPE_TENSOR) return m;  // type stays UNDEFINED -> refused at load
  auto info = ti.GetTensorTypeAndShapeInfo();
  m.type = info.GetElementType();
  m.shape = info.GetShape();
  std::vector<const char*> sym(m.shape.size(), nullptr);
  if (!sym.empty()) info.GetSymbolicDimensions(sym.data(), sym.size());
  for (size_t i = 0; i < m.shape.size(); ++i) {
    m.symbolic.emplace_back(sym[i] ? sym[i] : "");
    if (m.shape[i] < 0) m.shape[i] = -1;
  }
  return m;
}

}  // namespace

std::string dtype_name(ONNXTensorElementDataType t) {
  switch (t) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return "FP32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return "FP16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return "FP64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8: return "INT8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return "UINT8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16: return "INT16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16: return "UINT16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return "INT32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32: return "UINT32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return "INT64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64: return "UINT64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return "BOOL";
    default: return "UNSUPPORTED";
  }
}

ONNXTensorElementDataType dtype_from_name(const std::string& n) {
  static const std::pair<const char*, ONNXTensorElementDataType> k[] = {
      {"FP32", ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT},   {"FP16", ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16},
      {"FP64", ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE},  {"INT8", ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8},
      {"UINT8", ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8},  {"INT16", ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16},
      {"UINT16", ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16}, {"INT32", ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32},
      {"UINT32", ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32}, {"INT64", ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64},
      {"UINT64", ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64}, {"BOOL", ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL}};
  for (const auto& [name, t] : k)
    if (n == name) return t;
  return ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
}

size_t dtype_size(ONNXTensorElementDataType t) {
  switch (t) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64: return 8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32: return 4;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16: return 2;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return 1;
    default: return 0;
  }
}

void tune_allocator() {
  // Tensors and images are large (hundreds of KB to MB) and every request allocates a few. glibc's
  // defaults let the mmap threshold float and give each of up to 8 x cores threads its own arena:
  // RSS then creeps up under load. Mapping every large buffer fresh instead (a low fixed
  // threshold) keeps RSS flat but costs page faults on each request (~1.7 ms for 600 KB tensors,
  // measured with cvp-bench). So: a few arenas, large buffers served from the heap (a fixed high
  // threshold also stops the floating one), and only heap tops above 64 MB handed back, so that
  // request buffers are reused instead of faulted in again. Batch staging buffers are kept per
  // instance (model.cpp), which removes the varying sizes that would fragment the heap.
  const char* env = std::getenv("CVP_MALLOC_TUNING");
  if (env && std::string(env) == "0") return;
  mallopt(M_ARENA_MAX, 4);
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
}

namespace {

// SHA-256 of a file, hex: the TensorRT engine cache key of a model.
std::string sha256_hex(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "";
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return "";
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (f.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(f.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx.get(), md, &n) != 1) return "";
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::string slug(const std::string& s) {
  std::string o;
  for (char c : s) o += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '-';
  return o.empty() ? "unknown" : o;
}

}  // namespace

// An engine built for one model, GPU and TensorRT version is useless (or wrong) for any other, and
// TensorRT's own cache names do not say which model they came from: one folder per combination.
std::string engine_cache_dir(const std::string& base, const std::string& model_path, int device_id) {
  const GpuDevice gpu = gpu_device(device_id);
  const std::string trt = tensorrt_version();
  return (std::filesystem::path(base) / (sha256_hex(model_path).substr(0, 16) + "-" + slug(gpu.known ? gpu.name : "gpu") +
                                         "-trt" + (trt.empty() ? "unknown" : trt)))
      .string();
}

Status Model::load(const pb::LoadModelRequest& in, std::shared_ptr<Model>* out) {
  pb::LoadModelRequest req = in;
  if (req.id().empty()) return Status(StatusCode::INVALID_ARGUMENT, "model id is required");
  if (req.path().empty()) return Status(StatusCode::INVALID_ARGUMENT, "model path is required");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(req.path(), ec))
    return Status(StatusCode::NOT_FOUND, "model file not found: " + req.path());

  auto* e = req.mutable_engine();
  if (e->provider().empty()) e->set_provider("cpu");
  if (e->precision().empty()) e->set_precision("fp32");
  if (e->graph_optimization().empty()) e->set_graph_optimization("all");
  if (e->precision() != "fp32" && e->precision() != "fp16" && e->precision() != "int8")
    return Status(StatusCode::INVALID_ARGUMENT, "precision must be fp32, fp16 or int8");
  if (e->intra_op_threads() < 0 || e->inter_op_threads() < 0 || e->intra_op_threads() > 256 || e->inter_op_threads() > 256)
    return Status(StatusCode::INVALID_ARGUMENT, "thread counts must be within 0..256");
  auto* b = req.mutable_batching();
  if (b->max_batch() <= 0) b->set_max_batch(1);
  if (b->queue_capacity() <= 0) b->set_queue_capacity(64);
  if (b->instance_count() <= 0) b->set_instance_count(1);
  if (b->max_batch() > 1024 || b->queue_capacity() > 100000 || b->instance_count() > 16 || b->max_queue_delay_us() < 0 ||
      b->max_queue_delay_us() > 10'000'000)
    return Status(StatusCode::INVALID_ARGUMENT,
                  "batching out of range (max_batch <= 1024, queue_capacity <= 100000, instance_count <= 16, "
                  "0 <= max_queue_delay_us <= 10s)");
  if (b->instance_sessions().empty()) b->set_instance_sessions(default_instance_sessions(e->provider(), e->intra_op_threads()));
  if (b->instance_sessions() != "shared" && b->instance_sessions() != "separate")
    return Status(StatusCode::INVALID_ARGUMENT, "instance_sessions must be shared or separate");

  Ort::SessionOptions so;
  const std::string& g = e->graph_optimization();
  if (g == "disabled") so.SetGraphOptimizationLevel(ORT_DISABLE_ALL);
  else if (g == "basic") so.SetGraphOptimizationLevel(ORT_ENABLE_BASIC);
  else if (g == "extended") so.SetGraphOptimizationLevel(ORT_ENABLE_EXTENDED);
  else if (g == "all") so.SetGraphOptimizationLevel(ORT_ENABLE_ALL);
  else return Status(StatusCode::INVALID_ARGUMENT, "graph_optimization must be disabled, basic, extended or all");
  if (e->intra_op_threads() > 0) so.SetIntraOpNumThreads(e->intra_op_threads());
  // threads that may compute at once: each instance's caller thread, plus the intra-op pool's
  // T - 1 threads per session (one session shared by all instances, or one each)
  const unsigned cpus = usable_cpus();
  const unsigned t = static_cast<unsigned>(e->intra_op_threads() > 0 ? e->intra_op_threads() : static_cast<int>(cpus));
  const unsigned n = static_cast<unsigned>(b->instance_count());
  std::map<std::string, std::string> config = default_session_config(b->instance_sessions() == "shared" ? n + t - 1 : n * t, cpus);
  for (const auto& [key, value] : session_config_overrides()) config[key] = value;
  for (const auto& [key, value] : config) so.AddConfigEntry(key.c_str(), value.c_str());
  if (e->inter_op_threads() > 0) {
    so.SetInterOpNumThreads(e->inter_op_threads());
    if (e->inter_op_threads() > 1) so.SetExecutionMode(ExecutionMode::ORT_PARALLEL);
  }
  std::string engine_cache;
  if (e->provider() == "tensorrt" && !e->trt_engine_cache_dir().empty()) {
    engine_cache = cvp::engine_cache_dir(e->trt_engine_cache_dir(), req.path(), e->device_id());
    std::filesystem::create_directories(engine_cache, ec);
    if (ec) return Status(StatusCode::INVALID_ARGUMENT, "cannot create the engine cache folder " + engine_cache + ": " + ec.message());
  }
  if (auto st = append_provider(so, *e, engine_cache); !st.ok()) return st;

  std::shared_ptr<Model> m(new Model());
  m->id_ = req.id();
  m->session_config_ = config;
  m->engine_cache_dir_ = engine_cache;
  const int instances = b->instance_count();
  const auto c0 = Clock::now();
  try {
    const int sessions = b->instance_sessions() == "shared" ? 1 : instances;
    for (int i = 0; i < sessions; ++i)
      m->sessions_.push_back(std::make_unique<Ort::Session>(ort_env(), req.path().c_str(), so));
  } catch (const Ort::Exception& ex) {
    // a GPU provider that appended fine can still fail here (driver, CUDA libraries, device)
    if (e->provider() != "cpu")
      return Status(StatusCode::FAILED_PRECONDITION, e->provider() + " session cannot be created: " + ex.what());
    return Status(StatusCode::INVALID_ARGUMENT, std::string("cannot load ONNX model: ") + ex.what());
  }
  m->session_create_us_ = us_between(c0, Clock::now());

  Ort::AllocatorWithDefaultOptions alloc;
  Ort::Session& s = *m->sessions_[0];
  for (size_t i = 0; i < s.GetInputCount(); ++i)
    m->inputs_.push_back(meta_of(s.GetInputTypeInfo(i), s.GetInputNameAllocated(i, alloc).get()));
  for (size_t i = 0; i < s.GetOutputCount(); ++i)
    m->outputs_.push_back(meta_of(s.GetOutputTypeInfo(i), s.GetOutputNameAllocated(i, alloc).get()));
  bool batchable = b->max_batch() > 1;
  for (const auto* list : {&m->inputs_, &m->outputs_}) {
    for (const auto& t : *list) {
      if (dtype_size(t.type) == 0)
        return Status(StatusCode::INVALID_ARGUMENT, "tensor '" + t.name + "' has an unsupported type (non-numeric or non-tensor)");
      if (t.shape.empty() || t.shape[0] != -1) batchable = false;
    }
  }
  for (const auto& t : m->inputs_) m->input_names_s_.push_back(t.name);
  for (const auto& t : m->outputs_) m->output_names_s_.push_back(t.name);
  for (const auto& n : m->input_names_s_) m->input_names_.push_back(n.c_str());
  for (const auto& n : m->output_names_s_) m->output_names_.push_back(n.c_str());
  // models without a dynamic leading axis on every tensor run one request at a time
  m->batchable_ = batchable;
  m->max_batch_ = batchable ? b->max_batch() : 1;
  m->req_ = req;
  m->queue_ = std::make_unique<BatchQueue>(static_cast<size_t>(b->queue_capacity()), m->max_batch_,
                                           std::chrono::microseconds(batchable ? b->max_queue_delay_us() : 0), instances);
  m->counters_ = std::make_unique<ModelCounters>(static_cast<int>(m->max_batch_), instances);
  m->busy_ = std::make_unique<std::atomic<bool>[]>(static_cast<size_t>(instances));
  m->join_buffers_.assign(static_cast<size_t>(instances), std::vector<std::string>(m->inputs_.size()));
  if (req.warmup()) {
    if (auto st = m->warmup(); !st.ok()) return st;
  }
  for (int i = 0; i < instances; ++i) m->workers_.emplace_back([mp = m.get()] { mp->worker(); });
  *out = std::move(m);
  return Status::OK;
}

std::vector<std::pair<std::string, std::string>> parse_session_config(const std::string& all) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos < all.size()) {
    const size_t end = std::min(all.find(';', pos), all.size());
    const std::string item = all.substr(pos, end - pos);
    const size_t eq = item.find('=');
    if (eq != std::string::npos && eq > 0) out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    pos = end + 1;
  }
  return out;
}

const std::vector<std::pair<std::string, std::string>>& session_config_overrides() {
  // ONNX Runtime session config entries for every session of this process, e.g.
  // CVP_SESSION_CONFIG="session.intra_op.allow_spinning=0": the knob the session-option
  // measurements in native/README.md were taken with.
  static const auto parsed = [] {
    const char* env = std::getenv("CVP_SESSION_CONFIG");
    return parse_session_config(env ? env : "");
  }();
  return parsed;
}

std::map<std::string, std::string> default_session_config(unsigned threads, unsigned cpus) {
  // Intra-op pool threads busy-wait for the next parallel section (ONNX Runtime's default, and
  // onnxruntime-node's, which sets no config entries). With idle cores that is the faster choice:
  // 2-thread runs on the quiet 2-core machine were 1.3-1.9x slower without it (README). When the
  // model's own threads outnumber the cores, each spinning thread takes the CPU another instance's
  // next section needs, so spinning is off there. (ONNX Runtime's "session.force_spinning_stop"
  // is left at its default: stopping the spin after every run made the next run ~15 % slower.)
  const bool spin = threads <= std::max(1u, cpus);
  return {{"session.intra_op.allow_spinning", spin ? "1" : "0"}, {"session.inter_op.allow_spinning", spin ? "1" : "0"}};
}

unsigned usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return static_cast<unsigned>(CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string default_instance_sessions(const std::string& provider, int intra_op_threads) {
  // CPU, one intra-op thread per instance: one shared session holds the weights and their
  // pre-packed copies once, in memory and in the caches both cores read (a session each cost ~7 %
  // more engine time per request). With more threads, instances sharing a session also share its
  // one intra-op pool and queue behind each other for it, so each gets its own. GPU instances keep
  // a session each so that their runs can overlap on the device.
  return provider == "cpu" && intra_op_threads == 1 ? "shared" : "separate";
}

Model::~Model() { stop(); }

void Model::stop() {
  draining_ = true;
  if (stopped_.exchange(true)) return;
  if (queue_) queue_->close();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
}

void Model::info(pb::ModelInfo* info) const {
  info->set_id(id_);
  info->set_path(req_.path());
  *info->mutable_engine() = req_.engine();
  *info->mutable_batching() = req_.batching();
  info->set_dynamic_batching(batchable_);
  info->set_state(draining_ ? "draining" : "ready");
}

void Model::count_failure() {
  std::lock_guard<std::mutex> lk(counters_->mu);
  ++counters_->failed;
}

void Model::stats(pb::ModelStats* s) {
  std::lock_guard<std::mutex> lk(counters_->mu);
  s->set_id(id_);
  s->set_success(counters_->success);
  s->set_failed(counters_->failed);
  s->set_rejected(counters_->rejected);
  s->set_expired(counters_->expired);
  s->set_cancelled(counters_->cancelled);
  s->set_executions(counters_->executions);
  s->set_inferences(counters_->inferences);
  counters_->queue_us.to_proto(s->mutable_queue_us());
  counters_->compute_us.to_proto(s->mutable_compute_us());
  counters_->batch_size.to_proto(s->mutable_batch_size());
  s->set_queue_depth(static_cast<int32_t>(queue_->depth()));
  s->set_running(running_.load());
  for (size_t i = 0; i < counters_->instance.size(); ++i) {
    const InstanceCounters& c = counters_->instance[i];
    auto* is = s->add_instances();
    is->set_instance(static_cast<int32_t>(i));
    is->set_session(sessions_.size() == 1 ? 0 : static_cast<int32_t>(i));
    is->set_executions(c.executions);
    is->set_inferences(c.inferences);
    c.compute_us.to_proto(is->mutable_compute_us());
    is->set_busy(busy_[i].load());
  }
}

Status Model::warmup() {
  std::vector<HostTensor> ins;
  for (const auto& t : inputs_) {
    HostTensor h;
    h.name = t.name;
    h.type = t.type;
    h.shape = t.shape;
    for (size_t d = 0; d < h.shape.size(); ++d) {
      if (h.shape[d] >= 0) continue;
      if (d != 0) return Status::OK;  // symbolic spatial dims: nothing sensible to warm up with
      h.shape[d] = 1;
    }
    size_t n = dtype_size(t.type);
    for (int64_t v : h.shape) n *= static_cast<size_t>(v);
    h.data.assign(n, '\0');
    ins.push_back(std::move(h));
  }
  const auto t0 = Clock::now();
  // one run per session: each has its own lazily initialised kernels and arena
  for (size_t i = 0; i < sessions_.size(); ++i) {
    auto item = std::make_shared<WorkItem>();
    item->inputs = ins;
    item->enqueued = Clock::now();
    auto fut = item->promise.get_future();
    std::vector<std::shared_ptr<WorkItem>> batch{item};
    execute(static_cast<int>(i), batch);
    RunOutput r = fut.get();
    if (!r.status.ok()) return Status(StatusCode::INVALID_ARGUMENT, "warm-up run failed: " + r.status.error_message());
  }
  warmup_us_ = us_between(t0, Clock::now());
  // warm-up is not traffic; workers have not started yet, so no lock is needed
  counters_ = std::make_unique<ModelCounters>(static_cast<int>(max_batch_), static_cast<int>(req_.batching().instance_count()));
  return Status::OK;
}

Status Model::run(std::vector<HostTensor> inputs, Clock::time_point deadline, RunOutput* out,
                  const std::function<bool()>& caller_gone, const OutputWindow* window) {
  auto fail = [&](StatusCode c, const std::string& m) {
    count_failure();
    return Status(c, m);
  };
  if (draining_) return Status(StatusCode::UNAVAILABLE, "model '" + id_ + "' is unloading");
  if (inputs.size() != inputs_.size())
    return fail(StatusCode::INVALID_ARGUMENT,
                "model '" + id_ + "' takes " + std::to_string(inputs_.size()) + " inputs, got " + std::to_string(inputs.size()));
  auto item = std::make_shared<WorkItem>();
  item->inputs.resize(inputs_.size());
  std::vector<bool> seen(inputs_.size(), false);
  int64_t rows = -1;
  for (auto& t : inputs) {
    size_t idx = inputs_.size();
    for (size_t i = 0; i < inputs_.size(); ++i)
      if (inputs_[i].name == t.name) idx = i;
    if (idx == inputs_.size()) return fail(StatusCode::INVALID_ARGUMENT, "unknown input '" + t.name + "'");
    if (seen[idx]) return fail(StatusCode::INVALID_ARGUMENT, "input '" + t.name + "' given twice");
    seen[idx] = true;
    const TensorMeta& m = inputs_[idx];
    if (t.type != m.type)
      return fail(StatusCode::INVALID_ARGUMENT, "input '" + t.name + "' must be " + dtype_name(m.type) + ", got " + dtype_name(t.type));
    if (t.shape.size() != m.shape.size())
      return fail(StatusCode::INVALID_ARGUMENT, "input '" + t.name + "' must have rank " + std::to_string(m.shape.size()) +
                                                    " " + shape_str(m.shape) + ", got " + shape_str(t.shape));
    // element count with an overflow guard: a hostile shape must not wrap around
    uint64_t elems = 1;
    for (size_t d = 0; d < t.shape.size(); ++d) {
      const int64_t v = t.shape[d];
      if (v <= 0) return fail(StatusCode::INVALID_ARGUMENT, "input '" + t.name + "' has a non-positive dimension");
      if (m.shape[d] >= 0 && v != m.shape[d])
        return fail(StatusCode::INVALID_ARGUMENT, "input '" + t.name + "' shape " + shape_str(t.shape) + " does not match " + shape_str(m.shape));
      if (elems > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(v))
        return fail(StatusCode::INVALID_ARGUMENT, "input '" + t.name + "' is too large");
      elems *= static_cast<uint64_t>(v);
    }
    if (elems > (1ull << 40) || elems * dtype_size(m.type) != t.size())
      return fail(StatusCode::INVALID_ARGUMENT, "input '" + t.name + "' has " + std::to_string(t.size()) +
                                                    " bytes; shape " + shape_str(t.shape) + " of " + dtype_name(m.type) +
                                                    " needs " + std::to_string(elems * dtype_size(m.type)));
    if (batchable_) {
      if (rows >= 0 && t.shape[0] != rows)
        return fail(StatusCode::INVALID_ARGUMENT, "all inputs must share the leading (batch) dimension");
      rows = t.shape[0];
      item->key += shape_str(std::vector<int64_t>(t.shape.begin() + 1, t.shape.end())) + ";";
    }
    item->inputs[idx] = std::move(t);
  }
  if (batchable_ && rows > max_batch_)
    return fail(StatusCode::INVALID_ARGUMENT,
                "batch of " + std::to_string(rows) + " exceeds the model's max_batch " + std::to_string(max_batch_));
  item->rows = batchable_ ? rows : 1;
  if (window && window->base) item->window = *window;
  // every wait is bounded: callers pass a deadline, and no deadline is ever further than an hour
  const auto now = Clock::now();
  item->deadline = std::min(deadline, now + std::chrono::hours(1));
  item->enqueued = now;
  auto fut = item->promise.get_future();
  if (const int inst = queue_->try_claim(); inst >= 0) {
    // nothing waits and an instance is free: run here, on the caller's thread
    std::vector<std::shared_ptr<WorkItem>> batch{item};
    execute(inst, batch);
    queue_->release(inst);
    *out = fut.get();
    return out->status;
  }
  switch (queue_->push(item)) {
    case BatchQueue::Admit::Ok: break;
    case BatchQueue::Admit::Full: {
      std::lock_guard<std::mutex> lk(counters_->mu);
      ++counters_->rejected;
      return Status(StatusCode::RESOURCE_EXHAUSTED,
                    "model '" + id_ + "' queue is full (" + std::to_string(req_.batching().queue_capacity()) + " waiting)");
    }
    case BatchQueue::Admit::Closed: return Status(StatusCode::UNAVAILABLE, "model '" + id_ + "' is unloading");
  }
  // Wait in short slices so that a caller who went away (a cancelled RPC) is noticed while the
  // request is still queued: the worker then drops it instead of computing an unwanted answer.
  for (;;) {
    const auto slice = std::min(item->deadline, Clock::now() + kCallerCheck);
    if (fut.wait_until(slice) == std::future_status::ready) break;
    if (Clock::now() >= item->deadline)  // the worker drops it as expired
      return Status(StatusCode::DEADLINE_EXCEEDED, "deadline exceeded before model '" + id_ + "' answered");
    if (caller_gone && caller_gone()) {
      queue_->cancel(item);
      return Status(StatusCode::CANCELLED, "the caller cancelled the request");
    }
  }
  *out = fut.get();
  return out->status;
}

std::vector<std::vector<int64_t>> Model::expected_output_shapes(const WorkItem& item, std::string* key) {
  *key = "";
  for (const auto& t : item.inputs) *key += shape_str(t.shape) + ";";
  std::vector<std::vector<int64_t>> out(outputs_.size());
  {
    std::lock_guard<std::mutex> lk(shapes_mu_);
    auto it = seen_output_shapes_.find(*key);
    if (it != seen_output_shapes_.end() && it->second.size() == outputs_.size()) return it->second;
  }
  for (size_t o = 0; o < outputs_.size(); ++o) {
    const TensorMeta& m = outputs_[o];
    std::vector<int64_t> shape;
    for (size_t d = 0; d < m.shape.size(); ++d) {
      int64_t v = m.shape[d];
      // a symbolic dim named like an input's ("batch") takes that input's value
      for (size_t i = 0; v < 0 && i < inputs_.size(); ++i)
        for (size_t k = 0; v < 0 && k < inputs_[i].symbolic.size(); ++k)
          if (!m.symbolic[d].empty() && inputs_[i].symbolic[k] == m.symbolic[d] && k < item.inputs[i].shape.size())
            v = item.inputs[i].shape[k];
      if (v < 0) {
        shape.clear();
        break;
      }
      shape.push_back(v);
    }
    out[o] = std::move(shape);
  }
  return out;
}

void Model::remember_output_shapes(const std::string& key, std::vector<std::vector<int64_t>> shapes) {
  std::lock_guard<std::mutex> lk(shapes_mu_);
  if (shapes.empty()) {
    seen_output_shapes_.erase(key);
    return;
  }
  if (seen_output_shapes_.size() >= 64 && !seen_output_shapes_.count(key)) seen_output_shapes_.clear();
  seen_output_shapes_[key] = std::move(shapes);
}

void Model::worker() {
  // requests dropped from the queue unrun are answered at once and counted by reason
  auto answer_unrun = [this](std::vector<std::shared_ptr<WorkItem>>& items, uint64_t ModelCounters::*counter,
                             StatusCode code, const char* why) {
    if (items.empty()) return;
    {
      std::lock_guard<std::mutex> lk(counters_->mu);
      (*counters_).*counter += items.size();
    }
    for (auto& it : items) {
      RunOutput r;
      r.status = Status(code, why);
      it->promise.set_value(std::move(r));
    }
  };
  for (;;) {
    BatchQueue::Popped p = queue_->pop();
    answer_unrun(p.expired, &ModelCounters::expired, StatusCode::DEADLINE_EXCEEDED,
                 "deadline passed while queued; request was not run");
    answer_unrun(p.cancelled, &ModelCounters::cancelled, StatusCode::CANCELLED,
                 "the caller went away while queued; request was not run");
    if (!p.batch.empty()) {
      execute(p.instance, p.batch);
      queue_->release(p.instance);
    }
    if (p.closed_and_empty) return;
  }
}

void Model::execute(int instance, std::vector<std::shared_ptr<WorkItem>>& batch) {
  const auto start = Clock::now();
  ++running_;
  busy_[static_cast<size_t>(instance)] = true;
  int64_t total_rows = 0;
  for (const auto& it : batch) total_rows += it->rows;
  Status status = Status::OK;
  std::vector<std::vector<HostTensor>> results(batch.size());
  try {
    static const Ort::MemoryInfo mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    // one staging buffer per input and instance, reused: its capacity settles at the largest batch
    // seen, so batches of varying size neither fault in fresh pages nor fragment the heap
    std::vector<std::string>& joined = join_buffers_[static_cast<size_t>(instance)];
    std::vector<Ort::Value> values;
    for (size_t i = 0; i < inputs_.size(); ++i) {
      HostTensor& first = batch[0]->inputs[i];
      std::vector<int64_t> shape = first.shape;
      // ORT reads inputs only; CreateTensor's non-const pointer does not mean it writes them
      char* ptr = const_cast<char*>(first.bytes());
      size_t bytes = first.size();
      if (batch.size() > 1) {
        // leading axis is the batch axis and tensors are row-major: concatenation is byte-wise
        shape[0] = total_rows;
        size_t total = 0;
        for (const auto& it : batch) total += it->inputs[i].size();
        joined[i].clear();
        joined[i].reserve(total);
        for (const auto& it : batch) joined[i].append(it->inputs[i].bytes(), it->inputs[i].size());
        ptr = joined[i].data();
        bytes = joined[i].size();
      }
      values.push_back(Ort::Value::CreateTensor(mem, ptr, bytes, shape.data(), shape.size(), first.type));
    }
    // A lone request with an output window gets the outputs whose shapes are known beforehand
    // written straight into it by ONNX Runtime; the others are allocated by ONNX Runtime as usual.
    std::vector<Ort::Value> outs;
    std::vector<bool> placed(outputs_.size(), false);
    std::string shapes_key;
    const OutputWindow& win = batch[0]->window;
    if (batch.size() == 1 && win.base) {
      const auto shapes = expected_output_shapes(*batch[0], &shapes_key);
      uint64_t cursor = 0;
      for (size_t o = 0; o < outputs_.size(); ++o) {
        const bool wanted = win.wanted.empty() || win.wanted[o];
        uint64_t bytes = dtype_size(outputs_[o].type);
        for (int64_t d : shapes[o]) bytes *= static_cast<uint64_t>(d);
        const uint64_t at = (cursor + 63) / 64 * 64;
        if (!wanted || shapes[o].empty() || bytes == 0 || at > win.size || bytes > win.size - at) {
          outs.emplace_back(nullptr);
          continue;
        }
        outs.push_back(Ort::Value::CreateTensor(mem, win.base + at, bytes, shapes[o].data(), shapes[o].size(), outputs_[o].type));
        placed[o] = true;
        cursor = at + bytes;
      }
    } else {
      for (size_t o = 0; o < outputs_.size(); ++o) outs.emplace_back(nullptr);
    }
    const bool any_placed = std::find(placed.begin(), placed.end(), true) != placed.end();
    try {
      session_of(instance).Run(Ort::RunOptions{nullptr}, input_names_.data(), values.data(), values.size(), output_names_.data(),
                               outs.data(), outs.size());
    } catch (const Ort::Exception&) {
      if (!any_placed) throw;
      // an output came out in another shape than expected (a shape that depends on the data):
      // forget the guess and run again the ordinary way
      remember_output_shapes(shapes_key, {});
      std::fill(placed.begin(), placed.end(), false);
      for (auto& v : outs) v = Ort::Value{nullptr};
      session_of(instance).Run(Ort::RunOptions{nullptr}, input_names_.data(), values.data(), values.size(), output_names_.data(),
                               outs.data(), outs.size());
    }
    if (!shapes_key.empty()) {
      std::vector<std::vector<int64_t>> seen;
      for (auto& v : outs) seen.push_back(v.GetTensorTypeAndShapeInfo().GetShape());
      remember_output_shapes(shapes_key, std::move(seen));
    }
    for (size_t o = 0; o < outs.size(); ++o) {
      auto info = outs[o].GetTensorTypeAndShapeInfo();
      const auto type = info.GetElementType();
      const auto shape = info.GetShape();
      const size_t bytes = info.GetElementCount() * dtype_size(type);
      const char* data = static_cast<const char*>(outs[o].GetTensorRawData());
      if (batch.size() > 1 && (shape.empty() || shape[0] != total_rows))
        throw std::runtime_error("output '" + output_names_s_[o] + "' leading dim " + shape_str(shape) +
                                 " does not follow the batch of " + std::to_string(total_rows));
      const size_t row_bytes = shape.empty() || shape[0] == 0 ? 0 : bytes / static_cast<size_t>(shape[0]);
      // A lone request keeps ONNX Runtime's output buffer itself (no copy here): the caller copies
      // it once, into the reply or into shared memory. Rows of a batch are split into copies.
      std::shared_ptr<const void> keep;
      if (placed[o]) keep = win.keep;  // the bytes already sit in the caller's window
      else if (batch.size() == 1) keep = std::make_shared<Ort::Value>(std::move(outs[o]));
      size_t off = 0;
      for (size_t k = 0; k < batch.size(); ++k) {
        HostTensor h;
        h.name = output_names_s_[o];
        h.type = type;
        h.shape = shape;
        if (keep) {
          h.view = data;
          h.view_size = bytes;
          h.keep = keep;
        } else {
          h.shape[0] = batch[k]->rows;
          const size_t n = row_bytes * static_cast<size_t>(batch[k]->rows);
          h.data.assign(data + off, n);
          off += n;
        }
        results[k].push_back(std::move(h));
      }
    }
  } catch (const Ort::Exception& ex) {
    status = Status(StatusCode::INVALID_ARGUMENT, std::string("inference failed: ") + ex.what());
  } catch (const std::exception& ex) {
    status = Status(StatusCode::INTERNAL, std::string("inference failed: ") + ex.what());
  }
  const auto end = Clock::now();
  busy_[static_cast<size_t>(instance)] = false;
  --running_;
  const int64_t infer_us = us_between(start, end);
  {
    std::lock_guard<std::mutex> lk(counters_->mu);
    ++counters_->executions;
    counters_->inferences += static_cast<uint64_t>(total_rows);
    counters_->batch_size.add(static_cast<double>(total_rows));
    counters_->compute_us.add(static_cast<double>(infer_us));
    InstanceCounters& ic = counters_->instance[static_cast<size_t>(instance)];
    ++ic.executions;
    ic.inferences += static_cast<uint64_t>(total_rows);
    ic.compute_us.add(static_cast<double>(infer_us));
    for (const auto& it : batch) {
      counters_->queue_us.add(static_cast<double>(us_between(it->enqueued, start)));
      if (status.ok()) ++counters_->success;
      else ++counters_->failed;
    }
  }
  if (!status.ok()) log::warn("batch failed", {{"model", id_}, {"error", status.error_message()}});
  for (size_t k = 0; k < batch.size(); ++k) {
    RunOutput r;
    r.status = status;
    r.outputs = std::move(results[k]);
    r.queue_us = us_between(batch[k]->enqueued, start);
    r.infer_us = infer_us;
    r.batch_size = static_cast<int>(total_rows);
    batch[k]->promise.set_value(std::move(r));
  }
}

}  // namespace cvp
