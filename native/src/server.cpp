#include "server.hpp"

#include <grpcpp/health_check_service_interface.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "log.hpp"

namespace cvp {
namespace {

// Why host:port cannot be bound, from a plain bind() of our own (gRPC only reports that listening
// failed): "" when it can be bound now.
std::string bind_error(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res); rc != 0)
    return std::string("cannot resolve ") + host + ": " + ::gai_strerror(rc);
  std::string err;
  for (addrinfo* a = res; a; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as gRPC does: TIME_WAIT is no conflict
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0) {
      const int e = errno;
      err = e == EADDRINUSE ? "port " + service + " is already in use (another cvp-core or another service listens there)"
                            : "port " + service + ": " + std::strerror(e);
    }
    ::close(fd);
    if (!err.empty()) break;
  }
  ::freeaddrinfo(res);
  return err;
}

// True when a process accepts connections on the Unix socket at `path`.
bool unix_socket_live(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return false;
  const bool live = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return live;
}

}  // namespace

std::unique_ptr<Server> Server::start(const ServerConfig& cfg, std::string* error) {
  auto s = std::unique_ptr<Server>(new Server());
  ServiceOptions so = cfg.service;
  // every open stream holds a thread of the sync server: leave at least half for unary calls
  so.max_streams = std::max(1, std::min(so.max_streams, cfg.max_threads / 2));
  so.max_message_mb = cfg.max_message_mb;
  s->service_ = std::make_unique<CoreService>(so);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder b;
  const std::string addr = (cfg.host.find(':') != std::string::npos ? "[" + cfg.host + "]" : cfg.host) + ":" + std::to_string(cfg.port);
  // gRPC sets SO_REUSEPORT by default: a second core on the same port would then start fine and
  // the kernel would split the platform's connections between two cores with different models.
  b.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // an InferStream holds a thread and maybe a shared-memory region for as long as its client's
  // connection lives: ping idle connections so that a peer that vanished without closing its
  // socket (host gone, cable pulled) is noticed and its streams end
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  b.AddListeningPort(addr, grpc::InsecureServerCredentials(), &s->port_);
  if (!cfg.unix_socket.empty()) {
    // a same-host client (the inference service) skips the TCP stack. A socket file left by a
    // killed run would make the bind fail, so a stale one is removed, but never a live one: that
    // belongs to a core that is running.
    if (unix_socket_live(cfg.unix_socket)) {
      if (error) *error = "cannot listen on unix:" + cfg.unix_socket + ": another process is listening there";
      return nullptr;
    }
    ::unlink(cfg.unix_socket.c_str());
    b.AddListeningPort("unix:" + cfg.unix_socket, grpc::InsecureServerCredentials());
  }
  const int bytes = cfg.max_message_mb * 1024 * 1024;
  b.SetMaxReceiveMessageSize(bytes);
  b.SetMaxSendMessageSize(bytes);
  grpc::ResourceQuota quota("cvp-core");
  quota.SetMaxThreads(cfg.max_threads);
  b.SetResourceQuota(quota);
  b.RegisterService(s->service_.get());
  s->server_ = b.BuildAndStart();
  if (!s->server_ || s->port_ == 0) {
    if (error) {
      const std::string why = cfg.port > 0 ? bind_error(cfg.host, cfg.port) : "";
      *error = "cannot listen on " + addr + (why.empty() ? "" : ": " + why);
    }
    if (s->server_) s->server_->Shutdown();
    return nullptr;
  }
  if (cfg.fast_socket != "off") {
    std::string name = cfg.fast_socket;
    if (name == "auto") {
      std::random_device rd;
      char rnd[17];
      std::snprintf(rnd, sizeof rnd, "%08x%08x", rd(), rd());
      name = "cvp-core-" + std::to_string(::getpid()) + "-" + rnd;
    }
    std::string why;
    s->fast_ = FastSocketServer::start(s->service_.get(), name, static_cast<size_t>(bytes), &why);
    if (!s->fast_) {
      if (error) *error = why;
      s->server_->Shutdown();
      return nullptr;
    }
    s->service_->set_fast_socket("@" + name);
  }
  s->server_->GetHealthCheckService()->SetServingStatus(true);
  return s;
}

void Server::drain(std::chrono::milliseconds grace) {
  server_->GetHealthCheckService()->SetServingStatus(false);
  const auto until = std::chrono::steady_clock::now() + grace;
  service_->begin_drain();
  if (fast_) fast_->begin_drain();
  // Shutdown refuses new RPCs at once and waits for running handlers until the deadline, after
  // which they are cancelled. Handlers wait on their queued work, so the queues drain here.
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  if (fast_) {
    fast_->wait(std::chrono::duration_cast<std::chrono::milliseconds>(
        std::max(std::chrono::steady_clock::duration::zero(), until - std::chrono::steady_clock::now())));
    fast_.reset();
  }
  service_->stop_all();
}

}  // namespace cvp
