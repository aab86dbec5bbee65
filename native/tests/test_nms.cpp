#include <gtest/gtest.h>

#include <cmath>

#include "postprocess.hpp"

using cvp::Det;

TEST(Nms, IouHandComputed) {
  EXPECT_NEAR(cvp::iou({0, 1, 0, 0, 10, 10}, {0, 1, 5, 0, 15, 10}), 50.0 / 150.0, 1e-6);
  EXPECT_NEAR(cvp::iou({0, 1, 0, 0, 10, 10}, {0, 1, 0, 0, 10, 10}), 1.0, 1e-6);
  EXPECT_EQ(cvp::iou({0, 1, 0, 0, 10, 10}, {0, 1, 20, 20, 30, 30}), 0.f);
  EXPECT_NEAR(cvp::iou({0, 1, 0, 0, 4, 4}, {0, 1, 2, 2, 6, 6}), 4.0 / 28.0, 1e-6);
}

TEST(Nms, SuppressesOnlyAboveThresholdWithinClass) {
  std::vector<Det> d = {{0, 0.9f, 0, 0, 10, 10}, {0, 0.8f, 5, 0, 15, 10}};  // IoU 1/3
  auto strict = cvp::nms_classwise(d, 0.3f, 100);
  ASSERT_EQ(strict.size(), 1u);
  EXPECT_FLOAT_EQ(strict[0].score, 0.9f);
  auto loose = cvp::nms_classwise(d, 0.45f, 100);
  EXPECT_EQ(loose.size(), 2u);
}

TEST(Nms, IsClassWise) {
  std::vector<Det> d = {{0, 0.9f, 0, 0, 10, 10}, {1, 0.8f, 0, 0, 10, 10}, {0, 0.7f, 1, 1, 10, 10}};
  auto out = cvp::nms_classwise(d, 0.5f, 100);
  ASSERT_EQ(out.size(), 2u);  // the identical class-1 box survives, the class-0 duplicate does not
  EXPECT_EQ(out[0].cls, 0);
  EXPECT_EQ(out[1].cls, 1);
}

TEST(Nms, SortsByScoreAndCapsMaxDet) {
  std::vector<Det> d;
  for (int i = 0; i < 10; ++i) d.push_back({0, 0.1f * static_cast<float>(i), 20.f * i, 0, 20.f * i + 10, 10});
  auto out = cvp::nms_classwise(d, 0.5f, 3);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_FLOAT_EQ(out[0].score, 0.9f);
  EXPECT_FLOAT_EQ(out[1].score, 0.8f);
  EXPECT_FLOAT_EQ(out[2].score, 0.7f);
}

TEST(Nms, ChainIsNotTransitive) {
  // B overlaps A (suppressed); C overlaps B but not A: C must survive because B was removed
  std::vector<Det> d = {{0, 0.9f, 0, 0, 10, 10}, {0, 0.8f, 4, 0, 14, 10}, {0, 0.7f, 9, 0, 19, 10}};
  auto out = cvp::nms_classwise(d, 0.3f, 100);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FLOAT_EQ(out[1].score, 0.7f);
}

TEST(Yolov8Decode, PicksBestClassAndAppliesConfidence) {
  // 2 classes, 3 anchors, layout [6, 3]
  const float data[] = {
      10, 50, 5,     // cx
      10, 50, 5,     // cy
      4, 10, 2,      // w
      2, 10, 2,      // h
      0.2f, 0.9f, 0.1f,  // class 0
      0.6f, 0.3f, 0.2f,  // class 1
  };
  auto d = cvp::decode_yolov8(data, 6, 3, 0.25f);
  ASSERT_EQ(d.size(), 2u);  // anchor 2 below conf
  EXPECT_EQ(d[0].cls, 1);
  EXPECT_FLOAT_EQ(d[0].score, 0.6f);
  EXPECT_FLOAT_EQ(d[0].x1, 8.f);
  EXPECT_FLOAT_EQ(d[0].y1, 9.f);
  EXPECT_FLOAT_EQ(d[0].x2, 12.f);
  EXPECT_FLOAT_EQ(d[0].y2, 11.f);
  EXPECT_EQ(d[1].cls, 0);
  EXPECT_FLOAT_EQ(d[1].x1, 45.f);
}

TEST(Yolov8Decode, IgnoresNanAndDegenerateInput) {
  const float nan = std::nanf("");
  const float data[] = {nan, 1, 1, 1, 0.9f};  // 1 class, 1 anchor, NaN cx
  EXPECT_TRUE(cvp::decode_yolov8(data, 5, 1, 0.1f).empty());
  EXPECT_TRUE(cvp::decode_yolov8(data, 4, 1, 0.1f).empty());  // no class channels
}

TEST(TopK, SoftmaxOnLogitsAndPassThroughProbabilities) {
  const float logits[] = {1.f, 3.f, 2.f};
  auto t = cvp::topk_probs(logits, 3, 2);
  ASSERT_EQ(t.size(), 2u);
  const double z = std::exp(1.0) + std::exp(3.0) + std::exp(2.0);
  EXPECT_EQ(t[0].first, 1);
  EXPECT_NEAR(t[0].second, std::exp(3.0) / z, 1e-6);
  EXPECT_EQ(t[1].first, 2);
  const float probs[] = {0.1f, 0.2f, 0.7f};
  auto p = cvp::topk_probs(probs, 3, 5);
  ASSERT_EQ(p.size(), 3u);  // k capped at n
  EXPECT_EQ(p[0].first, 2);
  EXPECT_FLOAT_EQ(p[0].second, 0.7f);
  EXPECT_TRUE(cvp::topk_probs(probs, 0, 5).empty());
}
