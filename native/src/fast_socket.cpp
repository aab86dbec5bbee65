#include "fast_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "log.hpp"

namespace cvp {
namespace {

bool read_full(int fd, char* p, size_t n) {
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r == 0) return false;
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool write_frame(int fd, const std::string& payload) {
  const uint32_t len = static_cast<uint32_t>(payload.size());
  unsigned char head[4] = {static_cast<unsigned char>(len), static_cast<unsigned char>(len >> 8),
                           static_cast<unsigned char>(len >> 16), static_cast<unsigned char>(len >> 24)};
  iovec iov[2] = {{head, 4}, {const_cast<char*>(payload.data()), payload.size()}};
  size_t skip = 0;  // bytes of head + payload already written
  const size_t total = 4 + payload.size();
  while (skip < total) {
    iovec part[2];
    int n = 0;
    size_t s = skip;
    for (const auto& v : iov) {
      if (s >= v.iov_len) {
        s -= v.iov_len;
        continue;
      }
      part[n++] = {static_cast<char*>(v.iov_base) + s, v.iov_len - s};
      s = 0;
    }
    const ssize_t w = ::writev(fd, part, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    skip += static_cast<size_t>(w);
  }
  return true;
}

// The client went away: its end of the connection is closed (checked without blocking).
bool peer_gone(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

}  // namespace

std::unique_ptr<FastSocketServer> FastSocketServer::start(CoreService* service, const std::string& name, size_t max_frame_bytes,
                                                          std::string* error) {
  std::unique_ptr<FastSocketServer> s(new FastSocketServer());
  s->service_ = service;
  s->name_ = name;
  s->max_frame_ = max_frame_bytes;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (name.empty() || name.size() + 1 > sizeof addr.sun_path) {
    if (error) *error = "fast socket name must be 1.." + std::to_string(sizeof addr.sun_path - 2) + " characters";
    return nullptr;
  }
  std::memcpy(addr.sun_path + 1, name.data(), name.size());  // sun_path[0] == 0: abstract namespace
  // the whole sun_path, NUL-padded: that is how libuv (Node.js) addresses abstract sockets, and an
  // abstract name is every byte of the address
  const socklen_t len = sizeof addr;
  s->listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->listen_fd_ < 0 || ::bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(s->listen_fd_, 64) != 0) {
    if (error) *error = "cannot listen on the fast socket @" + name + ": " + std::strerror(errno);
    return nullptr;
  }
  s->acceptor_ = std::thread([p = s.get()] { p->accept_loop(); });
  return s;
}

FastSocketServer::~FastSocketServer() {
  begin_drain();
  wait(std::chrono::milliseconds(0));
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

int FastSocketServer::connections() {
  std::lock_guard<std::mutex> lk(mu_);
  return static_cast<int>(open_.size());
}

void FastSocketServer::accept_loop() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (draining_) return;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // out of descriptors or memory for now: refuse by not accepting, briefly
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      return;
    }
    // same user (or root) only: the stream regions are the core user's, mode 0600, anyway
    ucred peer{};
    socklen_t pl = sizeof peer;
    const bool allowed = ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &pl) == 0 && (peer.uid == ::geteuid() || peer.uid == 0);
    if (!allowed || draining_ || !service_->enter_stream()) {
      if (!allowed) log::warn("fast socket: connection of another user refused", {{"uid", static_cast<int64_t>(peer.uid)}});
      ::close(fd);
      continue;
    }
    auto c = std::make_shared<Connection>();
    c->fd = fd;
    {
      std::lock_guard<std::mutex> lk(mu_);
      open_.push_back(c);
      ++threads_;
    }
    std::thread([this, c] { serve(c); }).detach();
  }
}

void FastSocketServer::serve(std::shared_ptr<Connection> c) {
  std::shared_ptr<StreamRegion> region;
  pb::InferStreamRequest req;
  pb::InferStreamResponse resp;
  std::string in, out;
  const auto gone = [fd = c->fd] { return peer_gone(fd); };
  // Where a request's time goes on this connection (logged once, when it closes): the
  // profile in native/README.md is read from these. A clock read costs ~20 ns.
  using Clock = std::chrono::steady_clock;
  const auto us = [](Clock::time_point a, Clock::time_point b) {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(b - a).count());
  };
  uint64_t requests = 0, read_us = 0, parse_us = 0, handle_us = 0, run_us = 0, serialize_us = 0, write_us = 0;
  for (;;) {
    unsigned char head[4];
    if (!read_full(c->fd, reinterpret_cast<char*>(head), 4)) break;
    const auto t0 = Clock::now();  // the request's first bytes are here (the wait for them is idle time)
    const size_t n = static_cast<size_t>(head[0]) | static_cast<size_t>(head[1]) << 8 | static_cast<size_t>(head[2]) << 16 |
                     static_cast<size_t>(head[3]) << 24;
    if (n > max_frame_) {
      log::info("fast socket: frame over the message cap, connection closed", {{"bytes", n}, {"cap", max_frame_}});
      break;
    }
    in.resize(n);
    if (!read_full(c->fd, in.data(), n)) break;
    c->busy = true;
    const auto t1 = Clock::now();
    resp.Clear();
    const bool parsed = req.ParseFromString(in);
    const auto t2 = Clock::now();
    if (!parsed) {
      resp.set_code(static_cast<int32_t>(grpc::StatusCode::INVALID_ARGUMENT));
      resp.set_message("not an InferStreamRequest");
    } else {
      service_->stream_message(gone, "", region, req, &resp);
    }
    const auto t3 = Clock::now();
    resp.SerializeToString(&out);
    const auto t4 = Clock::now();
    const bool written = write_frame(c->fd, out);
    c->busy = false;
    const auto t5 = Clock::now();
    // Inference requests only: a region set-up (shm_open + posix_fallocate of MBs) is not a
    // request's cost, and counted in it would make every per-request mean read low or high.
    if (parsed && req.has_infer()) {
      ++requests;
      read_us += us(t0, t1);
      parse_us += us(t1, t2);
      handle_us += us(t2, t3);
      run_us += static_cast<uint64_t>(std::max<int64_t>(0, resp.infer().timing().infer_us()));
      serialize_us += us(t3, t4);
      write_us += us(t4, t5);
    }
    if (!written || draining_ || resp.message() == "not an InferStreamRequest") break;
  }
  region.reset();
  service_->leave_stream();
  if (requests > 0)
    log::info("fast socket: connection closed", {{"requests", requests}, {"read_us", read_us}, {"parse_us", parse_us},
                                                 {"handle_us", handle_us}, {"run_us", run_us}, {"serialize_us", serialize_us},
                                                 {"write_us", write_us}});
  std::lock_guard<std::mutex> lk(mu_);
  ::close(c->fd);
  c->fd = -1;
  open_.remove(c);
  --threads_;
  ended_.notify_all();
}

void FastSocketServer::begin_drain() {
  if (draining_.exchange(true)) return;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& c : open_)
    if (!c->busy && c->fd >= 0) ::shutdown(c->fd, SHUT_RDWR);  // wakes read(): the thread ends
}

void FastSocketServer::wait(std::chrono::milliseconds grace) {
  std::unique_lock<std::mutex> lk(mu_);
  if (!ended_.wait_for(lk, grace, [&] { return threads_ == 0; })) {
    for (auto& c : open_)
      if (c->fd >= 0) ::shutdown(c->fd, SHUT_RDWR);
    ended_.wait(lk, [&] { return threads_ == 0; });
  }
}

}  // namespace cvp
