#include "server.hpp"

#include <grpcpp/health_check_service_interface.h>

#include <unistd.h>

#include "log.hpp"

namespace cvp {

std::unique_ptr<Server> Server::start(const ServerConfig& cfg, std::string* error) {
  auto s = std::unique_ptr<Server>(new Server());
  s->service_ = std::make_unique<CoreService>(cfg.service);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder b;
  const std::string addr = (cfg.host.find(':') != std::string::npos ? "[" + cfg.host + "]" : cfg.host) + ":" + std::to_string(cfg.port);
  b.AddListeningPort(addr, grpc::InsecureServerCredentials(), &s->port_);
  if (!cfg.unix_socket.empty()) {
    // a same-host client (the inference service) skips the TCP stack; a stale socket file from
    // a killed run would make the bind fail, so it is removed first
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
    if (error) *error = "cannot listen on " + addr;
    return nullptr;
  }
  s->server_->GetHealthCheckService()->SetServingStatus(true);
  return s;
}

void Server::drain(std::chrono::milliseconds grace) {
  server_->GetHealthCheckService()->SetServingStatus(false);
  // Shutdown refuses new RPCs at once and waits for running handlers until the deadline, after
  // which they are cancelled. Handlers wait on their queued work, so the queues drain here.
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  service_->stop_all();
}

}  // namespace cvp
