#include "service.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <mutex>

#include <unistd.h>

#include "log.hpp"
#include "postprocess.hpp"

namespace cvp {
namespace {

using grpc::Status;
using grpc::StatusCode;

int64_t us_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count();
}

void fill_meta(const TensorMeta& m, pb::TensorInfo* t) {
  t->set_name(m.name);
  t->set_datatype(dtype_name(m.type));
  for (int64_t d : m.shape) t->add_shape(d);
  for (const auto& s : m.symbolic) t->add_symbolic_dims(s);
}

void fill_timing(const RunOutput& r, int64_t pre_us, int64_t post_us, pb::Timing* t) {
  t->set_queue_us(r.queue_us);
  t->set_pre_us(pre_us);
  t->set_infer_us(r.infer_us);
  t->set_post_us(post_us);
  t->set_batch_size(r.batch_size);
}

// Spatial size of an NCHW image input: the model's own when fixed, else the request's imgsz.
Status image_input(const Model& m, int32_t imgsz, int32_t fallback, int64_t* h, int64_t* w) {
  if (m.inputs().size() != 1) return Status(StatusCode::FAILED_PRECONDITION, "image RPCs need a model with exactly one input");
  const TensorMeta& in = m.inputs()[0];
  if (in.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || in.shape.size() != 4 || (in.shape[1] != 3 && in.shape[1] != -1))
    return Status(StatusCode::FAILED_PRECONDITION, "image RPCs need an FP32 NCHW input with 3 channels");
  if (imgsz < 0 || imgsz > 4096) return Status(StatusCode::INVALID_ARGUMENT, "imgsz must be within 1..4096");
  const int64_t size = imgsz > 0 ? imgsz : fallback;
  *h = in.shape[2] > 0 ? in.shape[2] : size;
  *w = in.shape[3] > 0 ? in.shape[3] : size;
  return Status::OK;
}

HostTensor image_tensor(const Model& m, int64_t h, int64_t w) {
  HostTensor t;
  t.name = m.inputs()[0].name;
  t.type = ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  t.shape = {1, 3, h, w};
  t.data.assign(static_cast<size_t>(3 * h * w) * sizeof(float), '\0');
  return t;
}

bool is_client_error(StatusCode c) {
  return c == StatusCode::INVALID_ARGUMENT || c == StatusCode::NOT_FOUND || c == StatusCode::ALREADY_EXISTS || c == StatusCode::CANCELLED ||
         c == StatusCode::FAILED_PRECONDITION || c == StatusCode::OUT_OF_RANGE;
}

// A handler's view of its caller: true once the client cancelled or went away.
std::function<bool()> caller_gone(grpc::ServerContext* ctx) {
  return [ctx] { return ctx->IsCancelled(); };
}

}  // namespace

std::string correlation_id(const grpc::ServerContext* ctx) {
  const auto& md = ctx->client_metadata();
  auto it = md.find("x-correlation-id");
  if (it == md.end()) return "";
  return std::string(it->second.data(), std::min<size_t>(it->second.size(), 128));
}

std::shared_ptr<Model> CoreService::find(const std::string& id) {
  std::shared_lock<std::shared_mutex> lk(mu_);
  auto it = models_.find(id);
  return it == models_.end() ? nullptr : it->second;
}

Clock::time_point CoreService::deadline_of(const grpc::ServerContext* ctx) const {
  const auto sys_now = std::chrono::system_clock::now();
  const auto dl = ctx->deadline();
  const auto now = Clock::now();
  if (dl >= sys_now + std::chrono::hours(24)) return now + opts_.default_timeout;  // no deadline sent
  return now + std::chrono::duration_cast<Clock::duration>(dl - sys_now);
}

Status CoreService::finish(const grpc::ServerContext* ctx, const char* rpc, const std::string& model, Clock::time_point t0,
                           Status st) {
  return finish(correlation_id(ctx), rpc, model, t0, std::move(st));
}

Status CoreService::finish(const std::string& correlation, const char* rpc, const std::string& model, Clock::time_point t0,
                           Status st) {
  const auto level = st.ok() ? log::Level::Debug : (is_client_error(st.error_code()) ? log::Level::Info : log::Level::Warn);
  if (log::enabled(level)) {
    nlohmann::json f = {{"rpc", rpc}, {"model", model}, {"code", static_cast<int>(st.error_code())}, {"us", us_since(t0)}};
    if (!correlation.empty()) f["correlation_id"] = correlation;
    if (!st.ok()) f["error"] = st.error_message();
    log::write(level, st.ok() ? "rpc ok" : "rpc failed", f);
  }
  return st;
}

Status CoreService::LoadModel(grpc::ServerContext* ctx, const pb::LoadModelRequest* req, pb::LoadModelResponse* resp) {
  const auto t0 = Clock::now();
  pb::LoadModelRequest r = *req;
  if (!opts_.model_root.empty() && !r.path().empty()) {
    // resolve symlinks and .. before comparing, so no path escapes the root
    std::error_code ec;
    const auto root = std::filesystem::weakly_canonical(opts_.model_root, ec);
    const auto path = std::filesystem::weakly_canonical(r.path(), ec);
    const std::string rs = root.string() + "/";
    if (ec || path.string().compare(0, rs.size(), rs) != 0)
      return finish(ctx, "LoadModel", r.id(), t0,
                    Status(StatusCode::PERMISSION_DENIED, "model path is outside the model root " + opts_.model_root));
    r.set_path(path.string());
    // engine caches are written by the core: they stay inside the root too
    for (const std::string* dir : {&r.engine().trt_engine_cache_dir(), &r.engine().trt_timing_cache_dir()}) {
      if (dir->empty()) continue;
      const auto d = std::filesystem::weakly_canonical(*dir, ec);
      if (ec || (d.string() + "/").compare(0, rs.size(), rs) != 0)
        return finish(ctx, "LoadModel", r.id(), t0,
                      Status(StatusCode::PERMISSION_DENIED, "engine cache folder " + *dir + " is outside the model root " + opts_.model_root));
    }
  }
  if (find(r.id())) return finish(ctx, "LoadModel", r.id(), t0, Status(StatusCode::ALREADY_EXISTS, "model '" + r.id() + "' is already loaded"));
  std::shared_ptr<Model> m;
  Status st = Model::load(r, &m);
  if (!st.ok()) return finish(ctx, "LoadModel", r.id(), t0, st);
  {
    std::unique_lock<std::shared_mutex> lk(mu_);
    if (models_.count(r.id())) {
      lk.unlock();
      m->stop();
      return finish(ctx, "LoadModel", r.id(), t0, Status(StatusCode::ALREADY_EXISTS, "model '" + r.id() + "' is already loaded"));
    }
    models_[r.id()] = m;
  }
  m->info(resp->mutable_model());
  resp->set_load_us(us_since(t0));
  resp->set_warmup_us(m->warmup_us());
  resp->set_session_create_us(m->session_create_us());
  resp->set_engine_cache_dir(m->engine_cache_dir());
  log::info("model loaded", {{"model", r.id()}, {"path", r.path()}, {"provider", resp->model().engine().provider()},
                             {"dynamic_batching", m->dynamic_batching()}, {"load_us", resp->load_us()},
                             {"session_create_us", resp->session_create_us()}, {"warmup_us", resp->warmup_us()},
                             {"instances", resp->model().batching().instance_count()},
                             {"instance_sessions", resp->model().batching().instance_sessions()},
                             {"session_config", m->session_config()}, {"correlation_id", correlation_id(ctx)}});
  return Status::OK;
}

Status CoreService::UnloadModel(grpc::ServerContext* ctx, const pb::UnloadModelRequest* req, pb::UnloadModelResponse*) {
  const auto t0 = Clock::now();
  std::shared_ptr<Model> m;
  {
    std::unique_lock<std::shared_mutex> lk(mu_);
    auto it = models_.find(req->id());
    if (it == models_.end()) return finish(ctx, "UnloadModel", req->id(), t0, Status(StatusCode::NOT_FOUND, "model '" + req->id() + "' is not loaded"));
    m = it->second;
    models_.erase(it);
  }
  m->stop();  // queued requests still finish; new ones get UNAVAILABLE
  log::info("model unloaded", {{"model", req->id()}, {"correlation_id", correlation_id(ctx)}});
  return Status::OK;
}

Status CoreService::ListModels(grpc::ServerContext*, const pb::ListModelsRequest*, pb::ListModelsResponse* resp) {
  std::shared_lock<std::shared_mutex> lk(mu_);
  for (const auto& [id, m] : models_) m->info(resp->add_models());
  return Status::OK;
}

Status CoreService::ModelMetadata(grpc::ServerContext* ctx, const pb::ModelMetadataRequest* req, pb::ModelMetadataResponse* resp) {
  auto m = find(req->id());
  if (!m) return finish(ctx, "ModelMetadata", req->id(), Clock::now(), Status(StatusCode::NOT_FOUND, "model '" + req->id() + "' is not loaded"));
  resp->set_id(m->id());
  for (const auto& t : m->inputs()) fill_meta(t, resp->add_inputs());
  for (const auto& t : m->outputs()) fill_meta(t, resp->add_outputs());
  m->info(resp->mutable_model());
  return Status::OK;
}

Status CoreService::Infer(grpc::ServerContext* ctx, const pb::InferRequest* req, pb::InferResponse* resp) {
  // The request message belongs to this handler until it returns and is not read again: infer()
  // takes its tensor bytes instead of copying them (600 KB for a 224x224 image).
  return infer(caller_gone(ctx), correlation_id(ctx), *const_cast<pb::InferRequest*>(req), deadline_of(ctx), nullptr, resp);
}

Status CoreService::infer(const std::function<bool()>& gone, const std::string& cid, pb::InferRequest& req,
                          Clock::time_point deadline, const std::shared_ptr<StreamRegion>& region, pb::InferResponse* resp) {
  const auto t0 = Clock::now();
  auto m = find(req.model_id());
  if (!m) return finish(cid, "Infer", req.model_id(), t0, Status(StatusCode::NOT_FOUND, "model '" + req.model_id() + "' is not loaded"));
  auto fail = [&](Status st) {
    m->count_failure();
    return finish(cid, "Infer", m->id(), t0, std::move(st));
  };
  for (const auto& name : req.outputs()) {
    const bool known = std::any_of(m->outputs().begin(), m->outputs().end(), [&](const TensorMeta& o) { return o.name == name; });
    if (!known) return fail(Status(StatusCode::INVALID_ARGUMENT, "unknown output '" + name + "'"));
  }
  const bool own_region = region && req.output_shared_memory().region() == region->key();
  if (req.has_output_shared_memory()) {
    const auto& w = req.output_shared_memory();
    if (!own_region)
      return fail(Status(StatusCode::INVALID_ARGUMENT, "outputs can be written only to the stream's own region (InferStream shared_memory)"));
    if (auto st = check_window(w.region(), region->size(), w.offset(), w.byte_size()); !st.ok()) return fail(st);
  }
  std::vector<HostTensor> ins;
  ins.reserve(static_cast<size_t>(req.inputs_size()));
  for (auto& t : *req.mutable_inputs()) {
    HostTensor h;
    h.name = t.name();
    h.type = dtype_from_name(t.datatype());
    if (h.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED)
      return fail(Status(StatusCode::INVALID_ARGUMENT, "unsupported datatype '" + t.datatype() + "'"));
    h.shape.assign(t.shape().begin(), t.shape().end());
    if (t.has_shared_memory()) {
      const auto& ref = t.shared_memory();
      Status st = !t.data().empty() ? Status(StatusCode::INVALID_ARGUMENT, "input '" + t.name() + "' has both data and shared_memory")
                  : region && ref.region() == region->key() ? region->view(region, ref, &h)
                  : !opts_.allow_shared_memory
                      ? Status(StatusCode::FAILED_PRECONDITION,
                               "registered shared memory is disabled (cvp-core --allow-shared-memory)")
                      : shared_memory_.view(ref, &h);
      if (!st.ok()) return fail(st);
    } else {
      h.data.swap(*t.mutable_data());
    }
    ins.push_back(std::move(h));
  }
  const int64_t pre_us = us_since(t0);
  const auto wanted = [&](const std::string& name) {
    return req.outputs_size() == 0 || std::find(req.outputs().begin(), req.outputs().end(), name) != req.outputs().end();
  };
  OutputWindow window;
  const uint64_t window_start = req.output_shared_memory().offset();
  const uint64_t window_end = window_start + req.output_shared_memory().byte_size();
  if (own_region && req.has_output_shared_memory()) {
    window.base = region->data() + window_start;
    window.size = req.output_shared_memory().byte_size();
    window.keep = region;
    for (const auto& o : m->outputs()) window.wanted.push_back(wanted(o.name));
  }
  RunOutput r;
  Status st = m->run(std::move(ins), deadline, &r, gone, window.base ? &window : nullptr);
  if (!st.ok()) return finish(cid, "Infer", m->id(), t0, st);
  const auto tp = Clock::now();
  resp->set_model_id(m->id());
  // Outputs ONNX Runtime wrote into the window stay where they are; the others are copied in after
  // them, each at a 64-byte aligned offset, while they fit, else they travel in the message.
  const auto inside = [&](const HostTensor& o) {
    return window.base && o.view >= window.base && o.view + o.size() <= window.base + window.size;
  };
  uint64_t cursor = window_start;
  for (const auto& o : r.outputs)
    if (inside(o)) cursor = std::max<uint64_t>(cursor, static_cast<uint64_t>(o.view - region->data()) + o.size());
  for (auto& o : r.outputs) {
    if (!wanted(o.name)) continue;
    auto* t = resp->add_outputs();
    t->set_name(o.name);
    t->set_datatype(dtype_name(o.type));
    for (int64_t d : o.shape) t->add_shape(d);
    const uint64_t at = (cursor + 63) / 64 * 64;
    if (inside(o)) {
      auto* ref = t->mutable_shared_memory();
      ref->set_region(region->key());
      ref->set_offset(static_cast<uint64_t>(o.view - region->data()));
      ref->set_byte_size(o.size());
    } else if (window.base && at <= window_end && o.size() <= window_end - at) {
      std::memcpy(region->data() + at, o.bytes(), o.size());
      auto* ref = t->mutable_shared_memory();
      ref->set_region(region->key());
      ref->set_offset(at);
      ref->set_byte_size(o.size());
      cursor = at + o.size();
    } else if (o.view) {
      t->set_data(o.bytes(), o.size());
    } else {
      t->set_data(std::move(o.data));
    }
  }
  fill_timing(r, pre_us, us_since(tp), resp->mutable_timing());
  return finish(cid, "Infer", m->id(), t0, Status::OK);
}

void CoreService::stream_message(const std::function<bool()>& gone, const std::string& cid, std::shared_ptr<StreamRegion>& region,
                                 pb::InferStreamRequest& req, pb::InferStreamResponse* resp) {
  resp->set_request_id(req.request_id());
  Status st;
  if (req.has_shared_memory()) {
    const uint64_t n = req.shared_memory().byte_size();
    region.reset();  // the old region's budget is free before the new one is taken
    if (n == 0 || n > opts_.max_stream_region_bytes) {
      st = Status(StatusCode::INVALID_ARGUMENT,
                  "a stream region must be within 1 B.." + std::to_string(opts_.max_stream_region_bytes >> 20) + " MB");
    } else if (st = StreamRegion::create(n, opts_.max_stream_memory_bytes, &region); st.ok()) {
      auto* sm = resp->mutable_shared_memory();
      sm->set_key(region->key());
      sm->set_byte_size(region->size());
      sm->set_region(region->key());
    }
    st = finish(cid, "InferStream.shared_memory", "", Clock::now(), st);
  } else if (req.has_infer()) {
    const auto now = Clock::now();
    const auto deadline = req.timeout_us() > 0
                              ? now + std::chrono::microseconds(std::min<int64_t>(req.timeout_us(), int64_t{3600} * 1000000))
                              : now + opts_.default_timeout;
    st = infer(gone, req.correlation_id().empty() ? cid : req.correlation_id().substr(0, 128), *req.mutable_infer(), deadline,
               region, resp->mutable_infer());
  } else {
    st = Status(StatusCode::INVALID_ARGUMENT, "a stream message carries infer or shared_memory");
  }
  resp->set_code(static_cast<int32_t>(st.error_code()));
  if (!st.ok()) resp->set_message(st.error_message());
}

bool CoreService::enter_stream() {
  if (++open_streams_ > opts_.max_streams) {
    --open_streams_;
    return false;
  }
  return true;
}

void CoreService::leave_stream() { --open_streams_; }

Status CoreService::InferStream(grpc::ServerContext* ctx,
                                grpc::ServerReaderWriter<pb::InferStreamResponse, pb::InferStreamRequest>* rw) {
  const auto t0 = Clock::now();
  if (draining_) return finish(ctx, "InferStream", "", t0, Status(StatusCode::UNAVAILABLE, "the core is shutting down"));
  if (!enter_stream())
    return finish(ctx, "InferStream", "", t0,
                  Status(StatusCode::RESOURCE_EXHAUSTED, "at most " + std::to_string(opts_.max_streams) +
                                                             " streams may be open (cvp-core --max-streams)"));
  OpenStream self{ctx};
  {
    std::lock_guard<std::mutex> lk(streams_mu_);
    streams_.insert(&self);
  }
  struct Leave {
    CoreService* s;
    OpenStream* o;
    ~Leave() {
      {
        std::lock_guard<std::mutex> lk(s->streams_mu_);
        s->streams_.erase(o);
      }
      s->leave_stream();
    }
  } leave{this, &self};
  const std::string stream_cid = correlation_id(ctx);
  const auto gone = caller_gone(ctx);
  std::shared_ptr<StreamRegion> region;
  pb::InferStreamRequest req;
  pb::InferStreamResponse resp;
  uint64_t answered = 0;
  struct Ended {
    const std::string& cid;
    const uint64_t& answered;
    Clock::time_point t0;
    ~Ended() {
      if (log::enabled(log::Level::Debug))
        log::write(log::Level::Debug, "stream ended", {{"requests", answered}, {"us", us_since(t0)}, {"correlation_id", cid}});
    }
  } ended{stream_cid, answered, t0};
  while (rw->Read(&req)) {
    self.busy = true;
    if (ctx->IsCancelled()) break;  // cancelled by a drain just as the request arrived
    resp.Clear();
    stream_message(gone, stream_cid, region, req, &resp);
    const bool written = rw->Write(resp);
    ++answered;
    self.busy = false;
    if (!written || draining_) break;
  }
  // a stream the drain ended tells its client why (it then sends its next request unary, which
  // the draining server refuses)
  return draining_ ? Status(StatusCode::UNAVAILABLE, "the core is shutting down") : Status::OK;
}

Status CoreService::ServerInfo(grpc::ServerContext*, const pb::ServerInfoRequest*, pb::ServerInfoResponse* resp) {
  resp->set_pid(static_cast<int64_t>(::getpid()));
  resp->set_ort_version(Ort::GetVersionString());
  for (const auto& p : available_providers()) resp->add_providers(p);
  resp->set_fast_socket(fast_socket_);
  resp->set_max_streams(opts_.max_streams);
  resp->set_registered_shared_memory(opts_.allow_shared_memory);
  resp->set_max_message_mb(opts_.max_message_mb);
  return Status::OK;
}

void CoreService::begin_drain() {
  draining_ = true;
  std::lock_guard<std::mutex> lk(streams_mu_);
  for (OpenStream* s : streams_)
    if (!s->busy) s->ctx->TryCancel();
}

int CoreService::open_streams() { return open_streams_.load(); }

Status CoreService::Detect(grpc::ServerContext* ctx, const pb::DetectRequest* req, pb::DetectResponse* resp) {
  const auto t0 = Clock::now();
  auto m = find(req->model_id());
  if (!m) return finish(ctx, "Detect", req->model_id(), t0, Status(StatusCode::NOT_FOUND, "model '" + req->model_id() + "' is not loaded"));
  auto fail = [&](Status st) {
    m->count_failure();
    return finish(ctx, "Detect", m->id(), t0, st);
  };
  const float conf = req->conf_threshold() > 0 ? req->conf_threshold() : 0.25f;
  const float iou_thr = req->iou_threshold() > 0 ? req->iou_threshold() : 0.45f;
  const int max_det = req->max_detections() > 0 ? std::min(req->max_detections(), 10000) : 300;
  if (conf > 1.f || iou_thr > 1.f) return fail(Status(StatusCode::INVALID_ARGUMENT, "thresholds must be within 0..1"));
  int64_t h = 0, w = 0;
  if (auto st = image_input(*m, req->imgsz(), 640, &h, &w); !st.ok()) return fail(st);
  if (m->outputs().empty() || m->outputs()[0].shape.size() != 3)
    return fail(Status(StatusCode::FAILED_PRECONDITION, "Detect needs a YOLOv8-style output [1, 4+nc, anchors]"));
  Image img;
  if (auto st = decode_image(req->image(), opts_.image_limits, &img); !st.ok()) return fail(st);
  const Letterbox lb = compute_letterbox(img.width, img.height, static_cast<int>(w), static_cast<int>(h));
  HostTensor t = image_tensor(*m, h, w);
  letterbox_to_chw(img, lb, reinterpret_cast<float*>(t.data.data()));
  const int64_t pre_us = us_since(t0);
  std::vector<HostTensor> ins;
  ins.push_back(std::move(t));
  RunOutput r;
  if (auto st = m->run(std::move(ins), deadline_of(ctx), &r, caller_gone(ctx)); !st.ok()) return finish(ctx, "Detect", m->id(), t0, st);
  const auto tp = Clock::now();
  const HostTensor& out = r.outputs.at(0);
  if (out.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || out.shape.size() != 3 || out.shape[0] != 1)
    return fail(Status(StatusCode::FAILED_PRECONDITION, "Detect needs an FP32 output [1, 4+nc, anchors]"));
  int64_t ch = out.shape[1], n = out.shape[2];
  const float* data = reinterpret_cast<const float*>(out.bytes());
  std::vector<float> transposed;
  if (req->anchors_first()) {  // [1, anchors, 4+nc] layout (some exporters): bring it to channel-major
    std::swap(ch, n);
    transposed.resize(static_cast<size_t>(ch * n));
    for (int64_t a = 0; a < n; ++a)
      for (int64_t c = 0; c < ch; ++c) transposed[static_cast<size_t>(c * n + a)] = data[a * ch + c];
    data = transposed.data();
  }
  if (ch < 5) return fail(Status(StatusCode::FAILED_PRECONDITION, "Detect output has fewer than 5 channels"));
  auto dets = nms_classwise(decode_yolov8(data, ch, n, conf), iou_thr, max_det);
  resp->set_model_id(m->id());
  resp->set_image_width(img.width);
  resp->set_image_height(img.height);
  for (auto& d : dets) {
    unletterbox_box(lb, &d.x1, &d.y1, &d.x2, &d.y2);
    auto* o = resp->add_detections();
    o->set_class_id(d.cls);
    o->set_score(d.score);
    o->set_x1(d.x1);
    o->set_y1(d.y1);
    o->set_x2(d.x2);
    o->set_y2(d.y2);
  }
  fill_timing(r, pre_us, us_since(tp), resp->mutable_timing());
  return finish(ctx, "Detect", m->id(), t0, Status::OK);
}

Status CoreService::Classify(grpc::ServerContext* ctx, const pb::ClassifyRequest* req, pb::ClassifyResponse* resp) {
  const auto t0 = Clock::now();
  auto m = find(req->model_id());
  if (!m) return finish(ctx, "Classify", req->model_id(), t0, Status(StatusCode::NOT_FOUND, "model '" + req->model_id() + "' is not loaded"));
  auto fail = [&](Status st) {
    m->count_failure();
    return finish(ctx, "Classify", m->id(), t0, st);
  };
  int64_t h = 0, w = 0;
  if (auto st = image_input(*m, req->imgsz(), 224, &h, &w); !st.ok()) return fail(st);
  static const float kImagenetMean[3] = {0.485f, 0.456f, 0.406f};
  static const float kImagenetStd[3] = {0.229f, 0.224f, 0.225f};
  static const float kZero[3] = {0.f, 0.f, 0.f};
  static const float kOne[3] = {1.f, 1.f, 1.f};
  const std::string& norm = req->normalization();
  if (!norm.empty() && norm != "imagenet" && norm != "unit")
    return fail(Status(StatusCode::INVALID_ARGUMENT, "normalization must be imagenet or unit"));
  const bool unit = norm == "unit";
  Image img;
  if (auto st = decode_image(req->image(), opts_.image_limits, &img); !st.ok()) return fail(st);
  HostTensor t = image_tensor(*m, h, w);
  resize_normalize_chw(img, static_cast<int>(w), static_cast<int>(h), unit ? kZero : kImagenetMean,
                       unit ? kOne : kImagenetStd, reinterpret_cast<float*>(t.data.data()));
  const int64_t pre_us = us_since(t0);
  std::vector<HostTensor> ins;
  ins.push_back(std::move(t));
  RunOutput r;
  if (auto st = m->run(std::move(ins), deadline_of(ctx), &r, caller_gone(ctx)); !st.ok()) return finish(ctx, "Classify", m->id(), t0, st);
  const auto tp = Clock::now();
  const HostTensor& out = r.outputs.at(0);
  if (out.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || out.shape.empty() || out.shape[0] != 1 || out.size() == 0)
    return fail(Status(StatusCode::FAILED_PRECONDITION, "Classify needs an FP32 output [1, classes]"));
  const int64_t nc = static_cast<int64_t>(out.size() / sizeof(float));
  const auto top = topk_probs(reinterpret_cast<const float*>(out.bytes()), nc, req->top_k() > 0 ? req->top_k() : 5);
  resp->set_model_id(m->id());
  for (const auto& [cls, p] : top) {
    auto* c = resp->add_classes();
    c->set_class_id(cls);
    c->set_score(p);
  }
  fill_timing(r, pre_us, us_since(tp), resp->mutable_timing());
  return finish(ctx, "Classify", m->id(), t0, Status::OK);
}

Status CoreService::Stats(grpc::ServerContext* ctx, const pb::StatsRequest* req, pb::StatsResponse* resp) {
  if (!req->model_id().empty()) {
    auto m = find(req->model_id());
    if (!m) return finish(ctx, "Stats", req->model_id(), Clock::now(), Status(StatusCode::NOT_FOUND, "model '" + req->model_id() + "' is not loaded"));
    m->stats(resp->add_models());
    return Status::OK;
  }
  std::vector<std::shared_ptr<Model>> all;
  {
    std::shared_lock<std::shared_mutex> lk(mu_);
    for (const auto& [id, m] : models_) all.push_back(m);
  }
  for (const auto& m : all) m->stats(resp->add_models());
  return Status::OK;
}

Status CoreService::RegisterSharedMemory(grpc::ServerContext* ctx, const pb::RegisterSharedMemoryRequest* req,
                                         pb::RegisterSharedMemoryResponse*) {
  const auto t0 = Clock::now();
  if (!opts_.allow_shared_memory)
    return finish(ctx, "RegisterSharedMemory", "", t0,
                  Status(StatusCode::FAILED_PRECONDITION, "shared memory is disabled (cvp-core --allow-shared-memory)"));
  return finish(ctx, "RegisterSharedMemory", "", t0, shared_memory_.add(req->name(), req->key(), req->offset(), req->byte_size()));
}

Status CoreService::UnregisterSharedMemory(grpc::ServerContext* ctx, const pb::UnregisterSharedMemoryRequest* req,
                                           pb::UnregisterSharedMemoryResponse*) {
  return finish(ctx, "UnregisterSharedMemory", "", Clock::now(), shared_memory_.remove(req->name()));
}

void CoreService::stop_all() {
  std::map<std::string, std::shared_ptr<Model>> all;
  {
    std::unique_lock<std::shared_mutex> lk(mu_);
    all.swap(models_);
  }
  for (auto& [id, m] : all) m->stop();
}

}  // namespace cvp
