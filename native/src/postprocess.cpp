#include "postprocess.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

namespace cvp {

float iou(const Det& a, const Det& b) {
  const float ix1 = std::max(a.x1, b.x1), iy1 = std::max(a.y1, b.y1);
  const float ix2 = std::min(a.x2, b.x2), iy2 = std::min(a.y2, b.y2);
  const float inter = std::max(0.f, ix2 - ix1) * std::max(0.f, iy2 - iy1);
  const float ua = std::max(0.f, a.x2 - a.x1) * std::max(0.f, a.y2 - a.y1) +
                   std::max(0.f, b.x2 - b.x1) * std::max(0.f, b.y2 - b.y1) - inter;
  return ua > 0.f ? inter / ua : 0.f;
}

std::vector<Det> decode_yolov8(const float* data, int64_t channels, int64_t anchors, float conf) {
  std::vector<Det> out;
  const int64_t nc = channels - 4;
  if (nc <= 0 || anchors <= 0) return out;
  for (int64_t a = 0; a < anchors; ++a) {
    int best = -1;
    float best_s = -1.f;
    for (int64_t c = 0; c < nc; ++c) {
      const float s = data[(4 + c) * anchors + a];
      if (s > best_s) {
        best_s = s;
        best = static_cast<int>(c);
      }
    }
    if (best < 0 || !(best_s >= conf)) continue;  // also drops NaN scores
    const float cx = data[0 * anchors + a], cy = data[1 * anchors + a];
    const float w = data[2 * anchors + a], h = data[3 * anchors + a];
    if (!std::isfinite(cx) || !std::isfinite(cy) || !std::isfinite(w) || !std::isfinite(h)) continue;
    out.push_back(Det{best, best_s, cx - w / 2.f, cy - h / 2.f, cx + w / 2.f, cy + h / 2.f});
  }
  return out;
}

std::vector<Det> nms_classwise(std::vector<Det> dets, float iou_thr, int max_det) {
  // stable sort keeps the input order among equal scores, so results are deterministic
  std::stable_sort(dets.begin(), dets.end(), [](const Det& a, const Det& b) { return a.score > b.score; });
  std::vector<Det> kept;
  std::map<int, std::vector<size_t>> kept_by_class;
  for (const Det& d : dets) {
    if (max_det > 0 && static_cast<int>(kept.size()) >= max_det) break;
    bool suppressed = false;
    for (size_t k : kept_by_class[d.cls]) {
      if (iou(kept[k], d) > iou_thr) {
        suppressed = true;
        break;
      }
    }
    if (suppressed) continue;
    kept_by_class[d.cls].push_back(kept.size());
    kept.push_back(d);
  }
  return kept;
}

std::vector<std::pair<int, float>> topk_probs(const float* values, int64_t n, int k) {
  if (n <= 0) return {};
  std::vector<float> p(values, values + n);
  bool is_dist = true;
  double sum = 0.0;
  for (float v : p) {
    if (!(v >= 0.f && v <= 1.f)) is_dist = false;
    sum += v;
  }
  if (!is_dist || std::fabs(sum - 1.0) > 1e-3) {
    const float mx = *std::max_element(p.begin(), p.end());
    double z = 0.0;
    for (float& v : p) {
      v = std::exp(v - mx);
      z += v;
    }
    for (float& v : p) v = static_cast<float>(v / z);
  }
  std::vector<int> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  const size_t kk = std::min<size_t>(static_cast<size_t>(std::max(k, 1)), idx.size());
  std::partial_sort(idx.begin(), idx.begin() + static_cast<long>(kk), idx.end(),
                    [&](int a, int b) { return p[static_cast<size_t>(a)] > p[static_cast<size_t>(b)] ||
                                               (p[static_cast<size_t>(a)] == p[static_cast<size_t>(b)] && a < b); });
  std::vector<std::pair<int, float>> out;
  for (size_t i = 0; i < kk; ++i) out.emplace_back(idx[i], p[static_cast<size_t>(idx[i])]);
  return out;
}

}  // namespace cvp
