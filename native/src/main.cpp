// cvp-core: the native inference core. See native/README.md.
#include <malloc.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <pthread.h>

#include "log.hpp"
#include "model.hpp"
#include "server.hpp"

namespace {

void usage() {
  std::cerr << "usage: cvp-core [--host H] [--port P] [--max-message-mb N] [--max-image-pixels N]\n"
               "                [--max-image-mb N] [--default-timeout-ms N] [--drain-timeout-ms N]\n"
               "                [--max-threads N] [--model-root DIR] [--log-level debug|info|warn|error]\n"
               "                [--unix-socket PATH] [--allow-shared-memory] [--max-streams N]\n"
               "                [--max-stream-memory-mb N] [--fast-socket auto|off|NAME]\n"
               "       cvp-core --list-providers   (JSON: which execution providers load here, and why not)\n"
               "env: CVP_NATIVE_PORT (default port when --port is not given), CVP_SESSION_CONFIG\n"
               "     (ONNX Runtime session config entries for every session, \"key=value;key=value\"),\n"
               "     CVP_MALLOC_TUNING=0 (glibc malloc defaults instead of the core's policy)\n";
}

bool parse_int(const char* s, long long lo, long long hi, long long* out) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s, &end, 10);
  if (errno || !end || *end || end == s || v < lo || v > hi) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // Block termination signals in every thread (inherited by gRPC/ORT threads), and take them
  // synchronously with sigwait below: no async-signal-safety pitfalls during drain.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  cvp::tune_allocator();

  cvp::ServerConfig cfg;
  long long drain_ms = 10000;
  if (const char* p = std::getenv("CVP_NATIVE_PORT"); p && *p) {
    long long v = 0;
    if (!parse_int(p, 0, 65535, &v)) {
      std::cerr << "invalid CVP_NATIVE_PORT\n";
      return 2;
    }
    cfg.port = static_cast<int>(v);
  }
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      usage();
      return 0;
    }
    if (a == "--allow-shared-memory") {
      cfg.service.allow_shared_memory = true;
      continue;
    }
    if (a == "--list-providers") {
      std::cout << cvp::list_providers_json() << std::endl;
      return 0;
    }
    if (i + 1 >= argc) {
      std::cerr << "missing value for " << a << "\n";
      usage();
      return 2;
    }
    const char* v = argv[++i];
    long long n = 0;
    bool ok = true;
    if (a == "--host") cfg.host = v;
    else if (a == "--port") ok = parse_int(v, 0, 65535, &n) && ((cfg.port = static_cast<int>(n)), true);
    else if (a == "--max-message-mb") ok = parse_int(v, 1, 1024, &n) && ((cfg.max_message_mb = static_cast<int>(n)), true);
    else if (a == "--max-image-pixels") ok = parse_int(v, 1, 1LL << 31, &n) && ((cfg.service.image_limits.max_pixels = static_cast<uint64_t>(n)), true);
    else if (a == "--max-image-mb") ok = parse_int(v, 1, 1024, &n) && ((cfg.service.image_limits.max_bytes = static_cast<size_t>(n) << 20), true);
    else if (a == "--default-timeout-ms") ok = parse_int(v, 1, 3600000, &n) && ((cfg.service.default_timeout = std::chrono::milliseconds(n)), true);
    else if (a == "--drain-timeout-ms") ok = parse_int(v, 0, 3600000, &n) && ((drain_ms = n), true);
    else if (a == "--max-threads") ok = parse_int(v, 2, 4096, &n) && ((cfg.max_threads = static_cast<int>(n)), true);
    else if (a == "--max-streams") ok = parse_int(v, 1, 2048, &n) && ((cfg.service.max_streams = static_cast<int>(n)), true);
    else if (a == "--max-stream-memory-mb")
      ok = parse_int(v, 1, 1 << 20, &n) && ((cfg.service.max_stream_memory_bytes = static_cast<uint64_t>(n) << 20), true);
    else if (a == "--model-root") cfg.service.model_root = v;
    else if (a == "--unix-socket") cfg.unix_socket = v;
    else if (a == "--fast-socket") cfg.fast_socket = v;
    else if (a == "--log-level") cvp::log::set_level(cvp::log::parse_level(v));
    else {
      std::cerr << "unknown flag " << a << "\n";
      usage();
      return 2;
    }
    if (!ok) {
      std::cerr << "invalid value for " << a << ": " << v << "\n";
      return 2;
    }
  }
  // encoded images must also fit in one gRPC message
  cfg.service.image_limits.max_bytes = std::min(cfg.service.image_limits.max_bytes, static_cast<size_t>(cfg.max_message_mb) << 20);

  cfg.service.max_stream_region_bytes = std::min(cfg.service.max_stream_region_bytes, cfg.service.max_stream_memory_bytes);

  std::string err;
  auto server = cvp::Server::start(cfg, &err);
  if (!server) {
    cvp::log::error("startup failed", {{"error", err}, {"host", cfg.host}, {"port", cfg.port}});
    return 1;
  }
  if (const int stale = cvp::StreamRegion::remove_stale(); stale > 0)
    cvp::log::info("removed shared memory left by cores that no longer run", {{"objects", stale}});
  cvp::log::info("listening", {{"host", cfg.host}, {"port", server->port()}, {"ort_version", Ort::GetVersionString()},
                               {"providers", cvp::available_providers()}, {"max_message_mb", cfg.max_message_mb},
                               {"max_streams", std::min(cfg.service.max_streams, cfg.max_threads / 2)},
                               {"session_config", cvp::session_config_overrides()},
                               {"fast_socket", server->fast_socket()}});
  int sig = 0;
  sigwait(&sigs, &sig);
  cvp::log::info("draining", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}, {"grace_ms", drain_ms}});
  server->drain(std::chrono::milliseconds(drain_ms));
  cvp::log::info("stopped");
  return 0;
}
