#include "model.hpp"

#include <algorithm>
#include <malloc.h>

#include <filesystem>
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

bool has_provider(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

std::string join(const std::vector<std::string>& v) {
  std::string o;
  for (const auto& s : v) o += (o.empty() ? "" : ", ") + s;
  return o;
}

// Appends the requested GPU provider or says precisely why it cannot; the caller turns that into
// FAILED_PRECONDITION. CPU is never appended as a silent substitute.
Status append_provider(Ort::SessionOptions& so, const pb::EngineConfig& e) {
  const std::string& p = e.provider();
  if (p == "cpu") return Status::OK;
  const auto avail = available_providers();
  const OrtApi& api = Ort::GetApi();
  const std::string dev = std::to_string(e.device_id());
  try {
    if (p == "cuda") {
      if (!has_provider(avail, "CUDAExecutionProvider"))
        return Status(StatusCode::FAILED_PRECONDITION,
                      "CUDAExecutionProvider is not available in this ONNX Runtime (available: " + join(avail) + ")");
      OrtCUDAProviderOptionsV2* opts = nullptr;
      Ort::ThrowOnError(api.CreateCUDAProviderOptions(&opts));
      std::unique_ptr<OrtCUDAProviderOptionsV2, void (*)(OrtCUDAProviderOptionsV2*)> guard(opts, api.ReleaseCUDAProviderOptions);
      const char* keys[] = {"device_id"};
      const char* vals[] = {dev.c_str()};
      Ort::ThrowOnError(api.UpdateCUDAProviderOptions(opts, keys, vals, 1));
      so.AppendExecutionProvider_CUDA_V2(*opts);
      return Status::OK;
    }
    if (p == "tensorrt") {
      if (!has_provider(avail, "TensorrtExecutionProvider"))
        return Status(StatusCode::FAILED_PRECONDITION,
                      "TensorrtExecutionProvider is not available in this ONNX Runtime (available: " + join(avail) + ")");
      OrtTensorRTProviderOptionsV2* opts = nullptr;
      Ort::ThrowOnError(api.CreateTensorRTProviderOptions(&opts));
      std::unique_ptr<OrtTensorRTProviderOptionsV2, void (*)(OrtTensorRTProviderOptionsV2*)> guard(
          opts, api.ReleaseTensorRTProviderOptions);
      std::vector<std::string> k = {"device_id", "trt_fp16_enable", "trt_int8_enable"};
      std::vector<std::string> v = {dev, e.precision() == "fp16" ? "1" : "0", e.precision() == "int8" ? "1" : "0"};
      if (!e.trt_engine_cache_dir().empty()) {
        k.insert(k.end(), {"trt_engine_cache_enable", "trt_engine_cache_path"});
        v.insert(v.end(), {"1", e.trt_engine_cache_dir()});
      }
      if (!e.trt_timing_cache_dir().empty()) {
        k.insert(k.end(), {"trt_timing_cache_enable", "trt_timing_cache_path"});
        v.insert(v.end(), {"1", e.trt_timing_cache_dir()});
      }
      std::vector<const char*> kp, vp;
      for (size_t i = 0; i < k.size(); ++i) {
        kp.push_back(k[i].c_str());
        vp.push_back(v[i].c_str());
      }
      Ort::ThrowOnError(api.UpdateTensorRTProviderOptions(opts, kp.data(), vp.data(), kp.size()));
      so.AppendExecutionProvider_TensorRT_V2(*opts);
      // nodes TensorRT cannot take run on CUDA (still the GPU), as Triton's ORT backend does
      if (has_provider(avail, "CUDAExecutionProvider")) {
        OrtCUDAProviderOptionsV2* c = nullptr;
        Ort::ThrowOnError(api.CreateCUDAProviderOptions(&c));
        std::unique_ptr<OrtCUDAProviderOptionsV2, void (*)(OrtCUDAProviderOptionsV2*)> cg(c, api.ReleaseCUDAProviderOptions);
        const char* ck[] = {"device_id"};
        const char* cv[] = {dev.c_str()};
        Ort::ThrowOnError(api.UpdateCUDAProviderOptions(c, ck, cv, 1));
        so.AppendExecutionProvider_CUDA_V2(*c);
      }
      return Status::OK;
    }
  } catch (const Ort::Exception& ex) {
    return Status(StatusCode::FAILED_PRECONDITION, p + " execution provider cannot be loaded: " + ex.what());
  }
  return Status(StatusCode::INVALID_ARGUMENT, "unknown provider '" + p + "' (expected cpu, cuda or tensorrt)");
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

Ort::Env& ort_env() {
  static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "cvp-core");
  return env;
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

std::vector<std::string> available_providers() { return Ort::GetAvailableProviders(); }

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

  Ort::SessionOptions so;
  const std::string& g = e->graph_optimization();
  if (g == "disabled") so.SetGraphOptimizationLevel(ORT_DISABLE_ALL);
  else if (g == "basic") so.SetGraphOptimizationLevel(ORT_ENABLE_BASIC);
  else if (g == "extended") so.SetGraphOptimizationLevel(ORT_ENABLE_EXTENDED);
  else if (g == "all") so.SetGraphOptimizationLevel(ORT_ENABLE_ALL);
  else return Status(StatusCode::INVALID_ARGUMENT, "graph_optimization must be disabled, basic, extended or all");
  if (e->intra_op_threads() > 0) so.SetIntraOpNumThreads(e->intra_op_threads());
  if (e->inter_op_threads() > 0) {
    so.SetInterOpNumThreads(e->inter_op_threads());
    if (e->inter_op_threads() > 1) so.SetExecutionMode(ExecutionMode::ORT_PARALLEL);
  }
  if (auto st = append_provider(so, *e); !st.ok()) return st;

  std::shared_ptr<Model> m(new Model());
  m->id_ = req.id();
  try {
    // On CPU every instance runs on one shared session (Run is thread-safe): the weights and
    // their pre-packed copies are held once, in memory and in the caches both cores read, instead
    // of once per instance (measured: ~7% more engine time per request with a session each).
    // GPU instances keep a session each so that their runs can overlap on the device.
    const int sessions = e->provider() == "cpu" ? 1 : b->instance_count();
    for (int i = 0; i < sessions; ++i)
      m->sessions_.push_back(std::make_unique<Ort::Session>(ort_env(), req.path().c_str(), so));
  } catch (const Ort::Exception& ex) {
    // with a GPU provider the failure is almost always the provider (missing CUDA/cuDNN/TensorRT)
    if (e->provider() != "cpu")
      return Status(StatusCode::FAILED_PRECONDITION, e->provider() + " session cannot be created: " + ex.what());
    return Status(StatusCode::INVALID_ARGUMENT, std::string("cannot load ONNX model: ") + ex.what());
  }

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
  for (const auto& t : m->inputs_) {
    m->input_names_s_.push_back(t.name);
  }
  for (const auto& t : m->outputs_) m->output_names_s_.push_back(t.name);
  for (const auto& n : m->input_names_s_) m->input_names_.push_back(n.c_str());
  for (const auto& n : m->output_names_s_) m->output_names_.push_back(n.c_str());
  // models without a dynamic leading axis on every tensor run one request at a time
  m->batchable_ = batchable;
  m->max_batch_ = batchable ? b->max_batch() : 1;
  m->req_ = req;
  m->queue_ = std::make_unique<BatchQueue>(static_cast<size_t>(b->queue_capacity()), m->max_batch_,
                                           std::chrono::microseconds(batchable ? b->max_queue_delay_us() : 0),
                                           b->instance_count());
  m->counters_ = std::make_unique<ModelCounters>(static_cast<int>(m->max_batch_));
  m->join_buffers_.assign(static_cast<size_t>(b->instance_count()), std::vector<std::string>(m->inputs_.size()));
  if (req.warmup()) {
    if (auto st = m->warmup(); !st.ok()) return st;
  }
  for (size_t i = 0; i < static_cast<size_t>(b->instance_count()); ++i) m->workers_.emplace_back([mp = m.get(), i] { mp->worker(i); });
  *out = std::move(m);
  return Status::OK;
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
  for (size_t i = 0; i < sessions_.size(); ++i) {
    auto item = std::make_shared<WorkItem>();
    item->inputs = ins;
    item->enqueued = Clock::now();
    auto fut = item->promise.get_future();
    std::vector<std::shared_ptr<WorkItem>> batch{item};
    execute(i, batch);
    RunOutput r = fut.get();
    if (!r.status.ok()) return Status(StatusCode::INVALID_ARGUMENT, "warm-up run failed: " + r.status.error_message());
  }
  warmup_us_ = us_between(t0, Clock::now());
  // warm-up is not traffic; workers have not started yet, so no lock is needed
  counters_ = std::make_unique<ModelCounters>(static_cast<int>(max_batch_));
  return Status::OK;
}

Status Model::run(std::vector<HostTensor> inputs, Clock::time_point deadline, RunOutput* out,
                  const std::function<bool()>& caller_gone) {
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
  // every wait is bounded: callers pass a deadline, and no deadline is ever further than an hour
  const auto now = Clock::now();
  item->deadline = std::min(deadline, now + std::chrono::hours(1));
  item->enqueued = now;
  auto fut = item->promise.get_future();
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
      item->cancelled = true;
      return Status(StatusCode::CANCELLED, "the caller cancelled the request");
    }
  }
  *out = fut.get();
  return out->status;
}

void Model::worker(size_t instance) {
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
      execute(instance, p.batch);
      queue_->release();
    }
    if (p.closed_and_empty) return;
  }
}

void Model::execute(size_t instance, std::vector<std::shared_ptr<WorkItem>>& batch) {
  const auto start = Clock::now();
  ++running_;
  int64_t total_rows = 0;
  for (const auto& it : batch) total_rows += it->rows;
  Status status = Status::OK;
  std::vector<std::vector<HostTensor>> results(batch.size());
  try {
    static const Ort::MemoryInfo mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    // one staging buffer per input and instance, reused: its capacity settles at the largest batch
    // seen, so batches of varying size neither fault in fresh pages nor fragment the heap
    std::vector<std::string>& joined = join_buffers_[instance];
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
    auto outs = sessions_[instance % sessions_.size()]->Run(Ort::RunOptions{nullptr}, input_names_.data(), values.data(), values.size(),
                                         output_names_.data(), output_names_.size());
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
      size_t off = 0;
      for (size_t k = 0; k < batch.size(); ++k) {
        HostTensor h;
        h.name = output_names_s_[o];
        h.type = type;
        h.shape = shape;
        if (batch.size() > 1) {
          h.shape[0] = batch[k]->rows;
          const size_t n = row_bytes * static_cast<size_t>(batch[k]->rows);
          h.data.assign(data + off, n);
          off += n;
        } else {
          h.data.assign(data, bytes);
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
  --running_;
  const int64_t infer_us = us_between(start, end);
  {
    std::lock_guard<std::mutex> lk(counters_->mu);
    ++counters_->executions;
    counters_->inferences += static_cast<uint64_t>(total_rows);
    counters_->batch_size.add(static_cast<double>(total_rows));
    counters_->compute_us.add(static_cast<double>(infer_us));
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
