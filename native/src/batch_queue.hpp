// Bounded per-model request queue with Triton-style dynamic batching.
//
// A worker asks for a batch; it gets the FIFO prefix of compatible requests (same non-batch
// shapes) once either max_batch rows are waiting, the next request cannot join, or the oldest
// request has waited max_queue_delay. Requests whose deadline passed while queued are handed
// back separately so the caller can answer DEADLINE_EXCEEDED without running them. Admission is
// bounded: push() refuses at once when capacity requests are already waiting.
#pragma once
#include <grpcpp/support/status.h>
#include <onnxruntime_c_api.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cvp {

using Clock = std::chrono::steady_clock;

struct HostTensor {
  std::string name;
  ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  std::vector<int64_t> shape;
  std::string data;  // raw little-endian bytes
};

struct RunOutput {
  grpc::Status status;
  std::vector<HostTensor> outputs;
  int64_t queue_us = 0;
  int64_t infer_us = 0;
  int batch_size = 0;
};

struct WorkItem {
  int64_t rows = 1;             // rows this request adds to a batch (its leading dim)
  std::string key;              // requests batch together only when keys are equal
  Clock::time_point enqueued;
  Clock::time_point deadline = Clock::time_point::max();
  std::vector<HostTensor> inputs;
  std::promise<RunOutput> promise;
};

class BatchQueue {
 public:
  enum class Admit { Ok, Full, Closed };
  struct Popped {
    std::vector<std::shared_ptr<WorkItem>> batch;
    std::vector<std::shared_ptr<WorkItem>> expired;
    bool closed_and_empty = false;
  };

  BatchQueue(size_t capacity, int64_t max_batch, std::chrono::microseconds max_delay)
      : capacity_(capacity == 0 ? 1 : capacity), max_batch_(max_batch < 1 ? 1 : max_batch), max_delay_(max_delay) {}

  Admit push(std::shared_ptr<WorkItem> item) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (closed_) return Admit::Closed;
      if (q_.size() >= capacity_) return Admit::Full;
      if (item->enqueued == Clock::time_point{}) item->enqueued = Clock::now();
      q_.push_back(std::move(item));
    }
    // one push makes work for one worker; waking all instances at once is a thundering herd
    cv_.notify_one();
    return Admit::Ok;
  }

  // Blocks until there is a batch or expired requests to hand out, or the queue is closed and
  // empty. After close(), queued requests are still handed out (drain) without waiting for delay.
  Popped pop() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      Popped p;
      const auto now = Clock::now();
      for (auto it = q_.begin(); it != q_.end();) {
        if ((*it)->deadline <= now) {
          p.expired.push_back(std::move(*it));
          it = q_.erase(it);
        } else {
          ++it;
        }
      }
      if (!p.expired.empty()) return p;
      if (q_.empty()) {
        if (closed_) {
          p.closed_and_empty = true;
          return p;
        }
        cv_.wait(lk);
        continue;
      }
      int64_t rows = 0;
      size_t n = 0;
      for (const auto& it : q_) {
        if (it->key != q_.front()->key) break;
        if (n > 0 && rows + it->rows > max_batch_) break;
        rows += it->rows;
        ++n;
        if (rows >= max_batch_) break;
      }
      const bool cannot_grow = rows >= max_batch_ || n < q_.size();
      const auto ready_at = q_.front()->enqueued + max_delay_;
      if (cannot_grow || closed_ || now >= ready_at) {
        for (size_t i = 0; i < n; ++i) {
          p.batch.push_back(std::move(q_.front()));
          q_.pop_front();
        }
        return p;
      }
      // wait for more requests, but no longer than the batching delay or the earliest deadline
      auto wake = ready_at;
      for (const auto& it : q_) wake = std::min(wake, it->deadline);
      cv_.wait_until(lk, wake);
    }
  }

  void close() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

  size_t depth() const {
    std::lock_guard<std::mutex> lk(mu_);
    return q_.size();
  }
  int64_t max_batch() const { return max_batch_; }

 private:
  const size_t capacity_;
  const int64_t max_batch_;
  const std::chrono::microseconds max_delay_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<WorkItem>> q_;
  bool closed_ = false;
};

}  // namespace cvp
