// Image decoding with caps checked from the header before any pixel buffer is allocated, plus the
// geometric pre-processing (letterbox for detectors, resize+normalize for classifiers).
#pragma once
#include <grpcpp/support/status.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cvp {

struct ImageLimits {
  size_t max_bytes = 32u << 20;       // encoded size
  uint64_t max_pixels = 40'000'000;   // width * height (an RGB8 buffer of 120 MB at most)
  uint32_t max_side = 16384;          // either dimension
};

enum class ImageFormat { Unknown, Jpeg, Png };

// Sniffs the magic bytes; never trusts a client-declared content type.
ImageFormat sniff_image(const std::string& bytes);

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // height * width * 3, row-major RGB8
};

// JPEG (libjpeg-turbo, warnings are errors so truncated data is refused) or PNG (libspng, CRCs
// checked). Every failure is INVALID_ARGUMENT with a reason.
grpc::Status decode_image(const std::string& bytes, const ImageLimits& limits, Image* out);

// Ultralytics-compatible letterbox: scale by r = min(dst/src), centre with grey (114) padding.
struct Letterbox {
  int src_w = 0, src_h = 0;
  int dst_w = 0, dst_h = 0;
  float r = 1.f;
  int new_w = 0, new_h = 0;  // resized content size
  int left = 0, top = 0;     // padding before the content
};

Letterbox compute_letterbox(int src_w, int src_h, int dst_w, int dst_h);
// letterboxed coords -> original image coords, clipped to the image
void unletterbox_box(const Letterbox& lb, float* x1, float* y1, float* x2, float* y2);
// original -> letterboxed (the inverse, used by tests and by callers drawing in model space)
void letterbox_box(const Letterbox& lb, float* x1, float* y1, float* x2, float* y2);
// Writes NCHW float RGB scaled to [0,1] into out (3 * dst_h * dst_w floats).
void letterbox_to_chw(const Image& img, const Letterbox& lb, float* out);
// Resizes to w x h (bilinear) and writes NCHW float: (x/255 - mean) / std per channel.
void resize_normalize_chw(const Image& img, int w, int h, const float mean[3], const float stdv[3], float* out);

}  // namespace cvp
