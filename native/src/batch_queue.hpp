// Bounded per-model request queue with Triton-style dynamic batching, and the model's instances.
//
// An instance is the unit of concurrency: one batch runs on it at a time. A worker asks for a
// batch; it gets the FIFO prefix of compatible requests (same non-batch shapes) together with a
// free instance, once either max_batch rows are waiting, the next request cannot join, or the
// oldest request has waited max_queue_delay. Requests whose deadline passed, or whose caller went
// away, while queued are handed back separately so they are answered without being run.
// Admission is bounded: push() refuses at once when capacity requests are already waiting.
//
// A caller may also claim a free instance directly (try_claim) when nothing is waiting and no
// batching delay applies: it then runs its request on its own thread, with no hand-off to a worker
// and back (each hand-off is a thread wake-up, which a busy machine can delay by milliseconds).
//
// With several instances, a batch is dispatched with at most its share of the waiting rows when
// other instances are free (ceil(waiting / (free + 1))): on a CPU with one intra-op thread per
// instance, one worker taking all 16 waiting requests would leave the other cores idle.
#pragma once
#include <grpcpp/support/status.h>
#include <onnxruntime_c_api.h>

#include <algorithm>
#include <atomic>
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
  std::string data;  // raw little-endian bytes, when the tensor owns them
  // ...or a view into a registered shared-memory region, which `keep` keeps mapped
  std::shared_ptr<const void> keep;
  const char* view = nullptr;
  size_t view_size = 0;

  const char* bytes() const { return view ? view : data.data(); }
  size_t size() const { return view ? view_size : data.size(); }
};

struct RunOutput {
  grpc::Status status;
  std::vector<HostTensor> outputs;
  int64_t queue_us = 0;
  int64_t infer_us = 0;
  int batch_size = 0;
};

// Memory the caller offers for a request's outputs (a stream's shared-memory window): ONNX Runtime
// may write outputs straight into it instead of into buffers the core then copies.
struct OutputWindow {
  char* base = nullptr;
  uint64_t size = 0;
  std::shared_ptr<const void> keep;  // keeps the memory mapped while a run writes into it
  std::vector<bool> wanted;          // per model output; empty = every output
};

struct WorkItem {
  int64_t rows = 1;             // rows this request adds to a batch (its leading dim)
  std::string key;              // requests batch together only when keys are equal
  Clock::time_point enqueued;
  Clock::time_point deadline = Clock::time_point::max();
  std::vector<HostTensor> inputs;
  std::promise<RunOutput> promise;
  std::atomic<bool> cancelled{false};  // the caller went away (a cancelled RPC): drop unrun
  OutputWindow window;                 // where outputs may be placed (lone requests only)
};

class BatchQueue {
 public:
  enum class Admit { Ok, Full, Closed };
  struct Popped {
    std::vector<std::shared_ptr<WorkItem>> batch;
    int instance = -1;                                 // the instance the batch runs on (claimed)
    std::vector<std::shared_ptr<WorkItem>> expired;    // deadline passed while queued
    std::vector<std::shared_ptr<WorkItem>> cancelled;  // caller gone while queued
    bool closed_and_empty = false;
  };

  // instances: how many batches may run at once; each pop() or try_claim() that hands one out
  // must be followed by release() of that instance.
  BatchQueue(size_t capacity, int64_t max_batch, std::chrono::microseconds max_delay, int instances = 1)
      : capacity_(capacity == 0 ? 1 : capacity),
        max_batch_(max_batch < 1 ? 1 : max_batch),
        max_delay_(max_delay),
        instances_(instances < 1 ? 1 : instances) {
    // a stack: the instance released last is handed out first (its arena is warm in cache)
    for (int i = instances_ - 1; i >= 0; --i) free_.push_back(i);
  }

  Admit push(std::shared_ptr<WorkItem> item) {
    std::lock_guard<std::mutex> lk(mu_);
    if (closed_) return Admit::Closed;
    if (q_.size() >= capacity_) return Admit::Full;
    if (item->enqueued == Clock::time_point{}) item->enqueued = Clock::now();
    q_.push_back(std::move(item));
    // one push makes work for one worker, and only a free instance can take it: waking every
    // worker at once would be a thundering herd
    if (!free_.empty()) wake_one();
    return Admit::Ok;
  }

  // A free instance for a request that runs at once on the caller's thread, or -1 when requests
  // are waiting (they go first), no instance is free, the queue is closed, or requests are meant
  // to wait for a fuller batch (max_delay > 0).
  int try_claim() {
    std::lock_guard<std::mutex> lk(mu_);
    if (closed_ || !q_.empty() || free_.empty() || max_delay_.count() > 0) return -1;
    const int inst = free_.back();
    free_.pop_back();
    return inst;
  }

  // Blocks until there is a batch (with a free instance) or expired requests to hand out, or the
  // queue is closed and empty. After close(), queued requests are still handed out (drain)
  // without waiting for the batching delay.
  Popped pop() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      Popped p;
      const auto now = Clock::now();
      for (auto it = q_.begin(); it != q_.end();) {
        if ((*it)->deadline <= now) {
          p.expired.push_back(std::move(*it));
          it = q_.erase(it);
        } else if ((*it)->cancelled) {
          p.cancelled.push_back(std::move(*it));
          it = q_.erase(it);
        } else {
          ++it;
        }
      }
      if (!p.expired.empty() || !p.cancelled.empty()) return p;
      if (q_.empty() && closed_) {
        p.closed_and_empty = true;
        return p;
      }
      if (q_.empty() || free_.empty()) {
        // nothing to do, or every instance busy: a release() or push() wakes us; queued
        // deadlines still do, so that expired requests are answered while instances are busy
        auto wake = Clock::time_point::max();
        for (const auto& it : q_) wake = std::min(wake, it->deadline);
        idle_wait(lk, wake);
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
        n = share_of(n, rows);
        for (size_t i = 0; i < n; ++i) {
          p.batch.push_back(std::move(q_.front()));
          q_.pop_front();
        }
        p.instance = free_.back();
        free_.pop_back();
        if (!q_.empty() && !free_.empty()) wake_one();  // the rest is for a free instance
        return p;
      }
      // wait for more requests, but no longer than the batching delay or the earliest deadline
      auto wake = ready_at;
      for (const auto& it : q_) wake = std::min(wake, it->deadline);
      idle_wait(lk, wake);
    }
  }

  // The batch on `instance` (from pop() or try_claim()) has finished: the instance is free again.
  void release(int instance) {
    std::lock_guard<std::mutex> lk(mu_);
    if (instance < 0 || instance >= instances_) return;
    free_.push_back(instance);
    if (!q_.empty()) wake_one();
  }

  // The caller of a queued request went away: mark it and wake a worker, which hands it back
  // unrun at once (its queue slot is free again) even while every instance is busy.
  void cancel(const std::shared_ptr<WorkItem>& item) {
    std::lock_guard<std::mutex> lk(mu_);
    item->cancelled = true;
    wake_one();
  }

  void close() {
    std::lock_guard<std::mutex> lk(mu_);
    closed_ = true;
    for (Waiter* w : idle_) {
      w->woken = true;
      w->cv.notify_one();
    }
    idle_.clear();
  }

  size_t depth() const {
    std::lock_guard<std::mutex> lk(mu_);
    return q_.size();
  }
  int busy() const {
    std::lock_guard<std::mutex> lk(mu_);
    return instances_ - static_cast<int>(free_.size());
  }
  int64_t max_batch() const { return max_batch_; }

 private:
  // Idle workers wait on their own condition variable in a stack, and new work wakes the most
  // recently idle one, so that at low load the same thread keeps serving.
  struct Waiter {
    std::condition_variable cv;
    bool woken = false;
  };

  // Waits (mu_ held through lk) until woken by wake_one()/close() or until `until`.
  void idle_wait(std::unique_lock<std::mutex>& lk, Clock::time_point until) {
    Waiter w;
    idle_.push_back(&w);
    if (until == Clock::time_point::max()) w.cv.wait(lk, [&] { return w.woken; });
    else w.cv.wait_until(lk, until, [&] { return w.woken; });
    if (!w.woken) idle_.erase(std::find(idle_.begin(), idle_.end(), &w));
  }

  // Called with mu_ held: notifying under the lock keeps the waiter (on its own stack) alive.
  void wake_one() {
    if (idle_.empty()) return;
    Waiter* w = idle_.back();
    idle_.pop_back();
    w->woken = true;
    w->cv.notify_one();
  }

  // How many of the n ready requests (rows in all) this worker takes: all of them when no other
  // instance is free, else its share of the waiting rows, so free instances get work too.
  size_t share_of(size_t n, int64_t rows) const {
    const int free_peers = static_cast<int>(free_.size()) - 1;
    if (free_peers <= 0 || n <= 1) return n;
    int64_t waiting = 0;
    for (const auto& it : q_)
      if (it->key == q_.front()->key) waiting += it->rows;
    const int64_t share = std::max<int64_t>(1, (waiting + free_peers) / (free_peers + 1));
    if (share >= rows) return n;
    int64_t taken = 0;
    size_t k = 0;
    for (; k < n && (k == 0 || taken + q_[k]->rows <= share); ++k) taken += q_[k]->rows;
    return k;
  }

  const size_t capacity_;
  const int64_t max_batch_;
  const std::chrono::microseconds max_delay_;
  const int instances_;
  mutable std::mutex mu_;
  std::vector<Waiter*> idle_;  // workers waiting in pop(), most recently idle last
  std::vector<int> free_;      // free instances, most recently released last
  std::deque<std::shared_ptr<WorkItem>> q_;
  bool closed_ = false;
};

}  // namespace cvp
