// The fast socket: InferStreamRequest / InferStreamResponse messages on a Unix socket in Linux's
// abstract namespace, length-prefixed, one blocking thread per connection (see the proto's "fast
// socket" section). A request wakes the thread that answers it, and the answer is one write(2):
// no gRPC poller hand-off on the way in, no wait for a write completion on the way out. For
// same-user clients on this host; others are refused.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "service.hpp"

namespace cvp {

class FastSocketServer {
 public:
  // Listens on "\0<name>" (abstract: no file, gone with the process). Frames larger than
  // max_frame_bytes close their connection.
  static std::unique_ptr<FastSocketServer> start(CoreService* service, const std::string& name, size_t max_frame_bytes,
                                                 std::string* error);
  ~FastSocketServer();
  const std::string& name() const { return name_; }
  int connections();

  // Stop accepting; idle connections are closed, busy ones after their answer.
  void begin_drain();
  // Waits until every connection thread has ended; after `grace` busy connections are shut
  // down too (their run finishes, its answer is dropped).
  void wait(std::chrono::milliseconds grace);

 private:
  struct Connection {
    int fd = -1;
    std::atomic<bool> busy{false};
  };
  FastSocketServer() = default;
  void accept_loop();
  void serve(std::shared_ptr<Connection> c);

  CoreService* service_ = nullptr;
  std::string name_;
  size_t max_frame_ = 0;
  int listen_fd_ = -1;
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable ended_;
  std::list<std::shared_ptr<Connection>> open_;
  int threads_ = 0;  // connection threads still running (they are detached)
  std::atomic<bool> draining_{false};
};

}  // namespace cvp
