// Fixed-bucket histograms and per-model counters (cheap enough to update on every request).
#pragma once
#include <algorithm>
#include <cstdint>
#include <mutex>
#include <vector>

#include "cvp_inference.pb.h"

namespace cvp {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void add(double v) {
    size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += v;
    ++count_;
  }
  void to_proto(cvp::inference::v1::Histogram* h) const {
    for (double b : bounds_) h->add_bounds(b);
    for (uint64_t c : counts_) h->add_counts(c);
    h->set_sum(sum_);
    h->set_count(count_);
  }
  uint64_t count() const { return count_; }
  const std::vector<uint64_t>& counts() const { return counts_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

inline std::vector<double> latency_bounds_us() {
  return {50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000};
}

struct InstanceCounters {
  uint64_t executions = 0, inferences = 0;
  Histogram compute_us{latency_bounds_us()};
};

struct ModelCounters {
  ModelCounters(int max_batch, int instances)
      : queue_us(latency_bounds_us()), compute_us(latency_bounds_us()), batch_size([&] {
          std::vector<double> b;
          for (int i = 1; i <= std::max(1, max_batch); ++i) b.push_back(i);
          return b;
        }()),
        instance(static_cast<size_t>(std::max(1, instances))) {}
  std::mutex mu;
  uint64_t success = 0, failed = 0, rejected = 0, expired = 0, cancelled = 0, executions = 0, inferences = 0;
  Histogram queue_us, compute_us, batch_size;
  std::vector<InstanceCounters> instance;
};

}  // namespace cvp
