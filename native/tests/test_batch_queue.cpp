#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "batch_queue.hpp"

using namespace std::chrono;
using cvp::BatchQueue;
using cvp::Clock;
using cvp::WorkItem;

namespace {
std::shared_ptr<WorkItem> item(int tag, int64_t rows = 1, std::string key = "k",
                               Clock::time_point deadline = Clock::time_point::max()) {
  auto w = std::make_shared<WorkItem>();
  w->rows = rows;
  w->key = std::move(key);
  w->deadline = deadline;
  cvp::HostTensor t;
  t.name = std::to_string(tag);  // the tag identifies the request in assertions
  w->inputs.push_back(t);
  return w;
}
int tag(const std::shared_ptr<WorkItem>& w) { return std::stoi(w->inputs[0].name); }
}  // namespace

TEST(BatchQueue, FifoOrderAndMaxBatch) {
  BatchQueue q(16, 4, microseconds(0));
  for (int i = 0; i < 6; ++i) ASSERT_EQ(q.push(item(i)), BatchQueue::Admit::Ok);
  auto a = q.pop();
  ASSERT_EQ(a.batch.size(), 4u);
  EXPECT_EQ(a.instance, 0);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(tag(a.batch[static_cast<size_t>(i)]), i);
  q.release(a.instance);
  auto b = q.pop();
  ASSERT_EQ(b.batch.size(), 2u);
  EXPECT_EQ(tag(b.batch[0]), 4);
  EXPECT_EQ(tag(b.batch[1]), 5);
}

TEST(BatchQueue, RefusesAtOnceWhenFull) {
  BatchQueue q(2, 4, microseconds(0));
  EXPECT_EQ(q.push(item(0)), BatchQueue::Admit::Ok);
  EXPECT_EQ(q.push(item(1)), BatchQueue::Admit::Ok);
  const auto t0 = steady_clock::now();
  EXPECT_EQ(q.push(item(2)), BatchQueue::Admit::Full);
  EXPECT_LT(steady_clock::now() - t0, milliseconds(50));
  EXPECT_EQ(q.depth(), 2u);
  q.pop();
  EXPECT_EQ(q.push(item(3)), BatchQueue::Admit::Ok);  // space again once drained
}

TEST(BatchQueue, ExpiredRequestsAreDroppedUnrun) {
  BatchQueue q(8, 4, microseconds(0));
  q.push(item(0, 1, "k", Clock::now() - milliseconds(1)));
  q.push(item(1));
  auto p = q.pop();
  ASSERT_EQ(p.expired.size(), 1u);
  EXPECT_EQ(tag(p.expired[0]), 0);
  EXPECT_TRUE(p.batch.empty());
  auto r = q.pop();
  ASSERT_EQ(r.batch.size(), 1u);
  EXPECT_EQ(tag(r.batch[0]), 1);
}

TEST(BatchQueue, DeadlineThatPassesWhileWaitingWakesTheWorker) {
  BatchQueue q(8, 8, seconds(10));  // the batching delay alone would wait 10 s
  q.push(item(0, 1, "k", Clock::now() + milliseconds(30)));
  const auto t0 = steady_clock::now();
  auto p = q.pop();
  EXPECT_LT(steady_clock::now() - t0, seconds(2));
  ASSERT_EQ(p.expired.size(), 1u);
}

TEST(BatchQueue, WaitsUpToMaxDelayForAFullerBatch) {
  BatchQueue q(8, 8, milliseconds(60));
  q.push(item(0));
  const auto t0 = steady_clock::now();
  auto p = q.pop();
  const auto waited = steady_clock::now() - t0;
  EXPECT_EQ(p.batch.size(), 1u);
  EXPECT_GE(waited, milliseconds(50));
  EXPECT_LT(waited, seconds(2));
}

TEST(BatchQueue, DispatchesAsSoonAsTheBatchIsFull) {
  BatchQueue q(8, 2, seconds(10));
  q.push(item(0));
  std::thread late([&] {
    std::this_thread::sleep_for(milliseconds(20));
    q.push(item(1));
  });
  const auto t0 = steady_clock::now();
  auto p = q.pop();
  late.join();
  EXPECT_EQ(p.batch.size(), 2u);
  EXPECT_LT(steady_clock::now() - t0, seconds(2));
}

TEST(BatchQueue, IncompatibleShapesAndRowOverflowSplitBatches) {
  BatchQueue q(8, 4, seconds(10));
  q.push(item(0, 1, "a"));
  q.push(item(1, 1, "a"));
  q.push(item(2, 1, "b"));
  auto p = q.pop();  // next request cannot join: no waiting
  ASSERT_EQ(p.batch.size(), 2u);
  EXPECT_EQ(tag(p.batch[1]), 1);
  q.release(p.instance);
  q.push(item(3, 3));
  q.push(item(4, 3));
  auto b = q.pop();  // "b" alone: the next request has another shape
  ASSERT_EQ(b.batch.size(), 1u);
  EXPECT_EQ(tag(b.batch[0]), 2);
  q.release(b.instance);
  auto r = q.pop();  // 3 + 3 > 4 rows
  ASSERT_EQ(r.batch.size(), 1u);
  EXPECT_EQ(tag(r.batch[0]), 3);
}

TEST(BatchQueue, CloseDrainsQueuedWorkThenStops) {
  BatchQueue q(8, 8, seconds(10));
  q.push(item(0));
  q.push(item(1));
  q.close();
  EXPECT_EQ(q.push(item(2)), BatchQueue::Admit::Closed);
  const auto t0 = steady_clock::now();
  auto p = q.pop();
  EXPECT_EQ(p.batch.size(), 2u);  // no batching delay once closed
  EXPECT_LT(steady_clock::now() - t0, seconds(1));
  EXPECT_TRUE(q.pop().closed_and_empty);
}

TEST(BatchQueue, CloseWakesAnIdleWorker) {
  BatchQueue q(8, 8, seconds(10));
  std::thread closer([&] {
    std::this_thread::sleep_for(milliseconds(20));
    q.close();
  });
  auto p = q.pop();
  closer.join();
  EXPECT_TRUE(p.closed_and_empty);
}

TEST(BatchQueue, SharesWaitingRowsWithFreeInstances) {
  BatchQueue q(16, 16, microseconds(0), 2);
  for (int i = 0; i < 8; ++i) q.push(item(i));
  auto a = q.pop();  // the other instance is free: take half
  ASSERT_EQ(a.batch.size(), 4u);
  EXPECT_EQ(tag(a.batch[0]), 0);
  auto b = q.pop();  // the first is busy now: the second takes what is left
  ASSERT_EQ(b.batch.size(), 4u);
  EXPECT_EQ(tag(b.batch[0]), 4);
  EXPECT_NE(a.instance, b.instance);
  q.release(a.instance);
  q.release(b.instance);
  for (int i = 8; i < 11; ++i) q.push(item(i));
  EXPECT_EQ(q.pop().batch.size(), 2u);  // ceil(3 / 2)
  EXPECT_EQ(q.pop().batch.size(), 1u);
}

TEST(BatchQueue, OneInstanceTakesTheWholeBatch) {
  BatchQueue q(16, 16, microseconds(0), 1);
  for (int i = 0; i < 8; ++i) q.push(item(i));
  EXPECT_EQ(q.pop().batch.size(), 8u);
}

TEST(BatchQueue, CancelledRequestsAreHandedBackUnrun) {
  BatchQueue q(8, 4, microseconds(0));
  auto gone = item(0);
  q.push(gone);
  q.push(item(1));
  gone->cancelled = true;  // its caller stopped waiting while it was queued
  auto p = q.pop();
  ASSERT_EQ(p.cancelled.size(), 1u);
  EXPECT_EQ(tag(p.cancelled[0]), 0);
  EXPECT_TRUE(p.batch.empty());
  auto r = q.pop();
  ASSERT_EQ(r.batch.size(), 1u);
  EXPECT_EQ(tag(r.batch[0]), 1);
}

TEST(BatchQueue, CancelWakesAWorkerWhileEveryInstanceIsBusy) {
  BatchQueue q(8, 1, microseconds(0), 1);
  const int busy = q.try_claim();  // the only instance runs something else
  ASSERT_EQ(busy, 0);
  // the deadline bounds the wait should cancel() not wake the worker: it then comes back expired
  auto gone = item(0, 1, "k", Clock::now() + seconds(30));
  ASSERT_EQ(q.push(gone), BatchQueue::Admit::Ok);
  BatchQueue::Popped p;
  std::thread worker([&] { p = q.pop(); });
  q.cancel(gone);
  worker.join();
  ASSERT_EQ(p.cancelled.size(), 1u);  // handed back at once, its slot free, instance still busy
  EXPECT_TRUE(p.expired.empty());
  EXPECT_TRUE(p.batch.empty());
  EXPECT_EQ(q.depth(), 0u);
  EXPECT_EQ(q.busy(), 1);
  q.release(busy);
}

TEST(BatchQueue, ABatchWaitsForAFreeInstance) {
  BatchQueue q(8, 1, microseconds(0), 1);
  q.push(item(0));
  q.push(item(1));
  auto a = q.pop();
  ASSERT_EQ(a.batch.size(), 1u);
  std::atomic<bool> got{false};
  std::thread second([&] {
    auto b = q.pop();  // the only instance is busy: blocks until it is released
    got = true;
    EXPECT_EQ(tag(b.batch[0]), 1);
    q.release(b.instance);
  });
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_FALSE(got.load());
  q.release(a.instance);
  second.join();
  EXPECT_TRUE(got.load());
}

TEST(BatchQueue, TryClaimGivesAFreeInstanceOnlyWhenNothingWaits) {
  BatchQueue q(8, 1, microseconds(0), 2);
  const int a = q.try_claim();
  const int b = q.try_claim();
  EXPECT_GE(a, 0);
  EXPECT_GE(b, 0);
  EXPECT_NE(a, b);
  EXPECT_EQ(q.try_claim(), -1);  // both instances busy
  EXPECT_EQ(q.busy(), 2);
  q.release(b);
  EXPECT_EQ(q.try_claim(), b);  // the instance released last comes back first (warm)
  q.release(b);
  q.push(item(0));
  EXPECT_EQ(q.try_claim(), -1);  // a queued request goes first
  auto p = q.pop();
  EXPECT_EQ(p.instance, b);
  q.release(p.instance);
  q.release(a);
  EXPECT_EQ(q.busy(), 0);

  BatchQueue delayed(8, 4, milliseconds(5), 1);
  EXPECT_EQ(delayed.try_claim(), -1);  // requests are meant to wait for company
  BatchQueue closed(8, 1, microseconds(0), 1);
  closed.close();
  EXPECT_EQ(closed.try_claim(), -1);
}
