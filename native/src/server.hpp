// Builds the gRPC server (InferenceCore + grpc.health.v1); shared by main() and the tests.
#pragma once
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "fast_socket.hpp"
#include "service.hpp"

namespace cvp {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8001;  // 0 = pick a free port (reported in Server::port)
  int max_message_mb = 64;
  int max_threads = 64;  // gRPC sync-server thread cap: admission beyond it is refused by gRPC
  std::string unix_socket;  // also listen on this Unix domain socket path (same-host clients)
  // fast socket (abstract Unix socket name): "auto" = a fresh name per process, "off" = none
  std::string fast_socket = "auto";
  ServiceOptions service;
};

class Server {
 public:
  static std::unique_ptr<Server> start(const ServerConfig& cfg, std::string* error);
  int port() const { return port_; }
  // Graceful drain: health NOT_SERVING, stop accepting, wait for in-flight RPCs (at most
  // `grace`), then stop model workers after their queues are empty.
  void drain(std::chrono::milliseconds grace);
  CoreService& service() { return *service_; }
  // "@name" of the fast socket, or empty
  std::string fast_socket() const { return fast_ ? "@" + fast_->name() : ""; }

 private:
  std::unique_ptr<CoreService> service_;
  std::unique_ptr<FastSocketServer> fast_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace cvp
