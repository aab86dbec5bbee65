// Detector and classifier post-processing: YOLOv8 head decode, class-wise NMS, top-k.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace cvp {

struct Det {
  int cls = 0;
  float score = 0.f;
  float x1 = 0.f, y1 = 0.f, x2 = 0.f, y2 = 0.f;
};

float iou(const Det& a, const Det& b);

// YOLOv8 head output for one image, layout [4 + nc, n] (channel-major): cx, cy, w, h, then one
// sigmoid score per class. Keeps the best class per anchor when its score >= conf.
std::vector<Det> decode_yolov8(const float* data, int64_t channels, int64_t anchors, float conf);

// Class-wise NMS: a box only suppresses boxes of its own class whose IoU with it is > iou_thr.
// Result sorted by score (desc), truncated to max_det.
std::vector<Det> nms_classwise(std::vector<Det> dets, float iou_thr, int max_det);

// Top-k (class, probability). Applies softmax unless the vector already is a distribution.
std::vector<std::pair<int, float>> topk_probs(const float* values, int64_t n, int k);

}  // namespace cvp
