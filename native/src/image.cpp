#include "image.hpp"

#include <spng.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <opencv2/imgproc.hpp>

namespace cvp {
namespace {

grpc::Status bad(const std::string& why) { return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, why); }

grpc::Status check_dims(uint64_t w, uint64_t h, const ImageLimits& limits) {
  if (w == 0 || h == 0) return bad("image has zero width or height");
  if (w > limits.max_side || h > limits.max_side)
    return bad("image dimensions " + std::to_string(w) + "x" + std::to_string(h) + " exceed the cap of " +
               std::to_string(limits.max_side) + " per side");
  if (w * h > limits.max_pixels)
    return bad("image has " + std::to_string(w * h) + " pixels, above the cap of " +
               std::to_string(limits.max_pixels));
  return grpc::Status::OK;
}

grpc::Status decode_jpeg(const std::string& bytes, const ImageLimits& limits, Image* out) {
  std::unique_ptr<void, int (*)(tjhandle)> tj(tjInitDecompress(), tjDestroy);
  if (!tj) return grpc::Status(grpc::StatusCode::INTERNAL, "turbojpeg init failed");
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  const auto* buf = reinterpret_cast<const unsigned char*>(bytes.data());
  if (tjDecompressHeader3(tj.get(), buf, bytes.size(), &w, &h, &subsamp, &colorspace) != 0)
    return bad(std::string("invalid JPEG header: ") + tjGetErrorStr2(tj.get()));
  if (auto st = check_dims(static_cast<uint64_t>(w), static_cast<uint64_t>(h), limits); !st.ok()) return st;
  out->width = w;
  out->height = h;
  out->rgb.assign(static_cast<size_t>(w) * static_cast<size_t>(h) * 3, 0);
  // STOPONWARNING: a truncated stream is an error, not a half-grey image. LIMITSCANS: refuse
  // progressive JPEGs with absurd scan counts (a CPU bomb).
  const int flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
  if (tjDecompress2(tj.get(), buf, bytes.size(), out->rgb.data(), w, 0, h, TJPF_RGB, flags) != 0)
    return bad(std::string("JPEG decode failed: ") + tjGetErrorStr2(tj.get()));
  return grpc::Status::OK;
}

grpc::Status decode_png(const std::string& bytes, const ImageLimits& limits, Image* out) {
  std::unique_ptr<spng_ctx, void (*)(spng_ctx*)> ctx(spng_ctx_new(0), spng_ctx_free);
  if (!ctx) return grpc::Status(grpc::StatusCode::INTERNAL, "spng init failed");
  spng_set_image_limits(ctx.get(), limits.max_side, limits.max_side);
  // ancillary chunks (text, iCCP...) are capped too: a PNG may not smuggle large payloads
  spng_set_chunk_limits(ctx.get(), 8u << 20, 16u << 20);
  spng_set_png_buffer(ctx.get(), bytes.data(), bytes.size());
  spng_ihdr ihdr{};
  if (int rc = spng_get_ihdr(ctx.get(), &ihdr); rc != 0) return bad(std::string("invalid PNG header: ") + spng_strerror(rc));
  if (auto st = check_dims(ihdr.width, ihdr.height, limits); !st.ok()) return st;
  size_t size = 0;
  if (int rc = spng_decoded_image_size(ctx.get(), SPNG_FMT_RGB8, &size); rc != 0)
    return bad(std::string("PNG: ") + spng_strerror(rc));
  if (size != static_cast<size_t>(ihdr.width) * ihdr.height * 3) return bad("PNG: unexpected decoded size");
  out->width = static_cast<int>(ihdr.width);
  out->height = static_cast<int>(ihdr.height);
  out->rgb.assign(size, 0);
  if (int rc = spng_decode_image(ctx.get(), out->rgb.data(), size, SPNG_FMT_RGB8, 0); rc != 0)
    return bad(std::string("PNG decode failed: ") + spng_strerror(rc));
  // spng stops after the image data; a file cut after IDAT would pass, so require IEND
  if (bytes.rfind("IEND") == std::string::npos) return bad("PNG is truncated (no IEND chunk)");
  return grpc::Status::OK;
}

}  // namespace

ImageFormat sniff_image(const std::string& b) {
  if (b.size() >= 3 && static_cast<uint8_t>(b[0]) == 0xFF && static_cast<uint8_t>(b[1]) == 0xD8 &&
      static_cast<uint8_t>(b[2]) == 0xFF)
    return ImageFormat::Jpeg;
  static const char kPng[8] = {'\x89', 'P', 'N', 'G', '\r', '\n', '\x1a', '\n'};
  if (b.size() >= 8 && std::memcmp(b.data(), kPng, 8) == 0) return ImageFormat::Png;
  return ImageFormat::Unknown;
}

grpc::Status decode_image(const std::string& bytes, const ImageLimits& limits, Image* out) {
  if (bytes.empty()) return bad("image is empty");
  if (bytes.size() > limits.max_bytes)
    return bad("image is " + std::to_string(bytes.size()) + " bytes, above the cap of " +
               std::to_string(limits.max_bytes));
  switch (sniff_image(bytes)) {
    case ImageFormat::Jpeg: return decode_jpeg(bytes, limits, out);
    case ImageFormat::Png: return decode_png(bytes, limits, out);
    case ImageFormat::Unknown: break;
  }
  return bad("unsupported image type: expected JPEG or PNG");
}

Letterbox compute_letterbox(int src_w, int src_h, int dst_w, int dst_h) {
  Letterbox lb;
  lb.src_w = src_w;
  lb.src_h = src_h;
  lb.dst_w = dst_w;
  lb.dst_h = dst_h;
  lb.r = std::min(static_cast<float>(dst_h) / static_cast<float>(src_h),
                  static_cast<float>(dst_w) / static_cast<float>(src_w));
  lb.new_w = std::max(1, static_cast<int>(std::lround(src_w * lb.r)));
  lb.new_h = std::max(1, static_cast<int>(std::lround(src_h * lb.r)));
  lb.new_w = std::min(lb.new_w, dst_w);
  lb.new_h = std::min(lb.new_h, dst_h);
  // same rounding as ultralytics LetterBox: round(d - 0.1) before, round(d + 0.1) after
  const float dw = static_cast<float>(dst_w - lb.new_w) / 2.f;
  const float dh = static_cast<float>(dst_h - lb.new_h) / 2.f;
  lb.left = static_cast<int>(std::lround(dw - 0.1f));
  lb.top = static_cast<int>(std::lround(dh - 0.1f));
  return lb;
}

void unletterbox_box(const Letterbox& lb, float* x1, float* y1, float* x2, float* y2) {
  const float w = static_cast<float>(lb.src_w), h = static_cast<float>(lb.src_h);
  auto fx = [&](float v) { return std::clamp((v - static_cast<float>(lb.left)) / lb.r, 0.f, w); };
  auto fy = [&](float v) { return std::clamp((v - static_cast<float>(lb.top)) / lb.r, 0.f, h); };
  *x1 = fx(*x1);
  *x2 = fx(*x2);
  *y1 = fy(*y1);
  *y2 = fy(*y2);
}

void letterbox_box(const Letterbox& lb, float* x1, float* y1, float* x2, float* y2) {
  *x1 = *x1 * lb.r + static_cast<float>(lb.left);
  *x2 = *x2 * lb.r + static_cast<float>(lb.left);
  *y1 = *y1 * lb.r + static_cast<float>(lb.top);
  *y2 = *y2 * lb.r + static_cast<float>(lb.top);
}

void letterbox_to_chw(const Image& img, const Letterbox& lb, float* out) {
  const cv::Mat src(img.height, img.width, CV_8UC3, const_cast<uint8_t*>(img.rgb.data()));
  cv::Mat resized;
  if (lb.new_w == img.width && lb.new_h == img.height) {
    resized = src;
  } else {
    cv::resize(src, resized, cv::Size(lb.new_w, lb.new_h), 0, 0, cv::INTER_LINEAR);
  }
  const size_t plane = static_cast<size_t>(lb.dst_w) * static_cast<size_t>(lb.dst_h);
  std::fill(out, out + 3 * plane, 114.f / 255.f);
  for (int y = 0; y < lb.new_h; ++y) {
    const uint8_t* row = resized.ptr<uint8_t>(y);
    const size_t base = static_cast<size_t>(y + lb.top) * static_cast<size_t>(lb.dst_w) + static_cast<size_t>(lb.left);
    for (int x = 0; x < lb.new_w; ++x) {
      for (int c = 0; c < 3; ++c) out[c * plane + base + static_cast<size_t>(x)] = row[3 * x + c] / 255.f;
    }
  }
}

void resize_normalize_chw(const Image& img, int w, int h, const float mean[3], const float stdv[3], float* out) {
  const cv::Mat src(img.height, img.width, CV_8UC3, const_cast<uint8_t*>(img.rgb.data()));
  cv::Mat resized;
  if (w == img.width && h == img.height) {
    resized = src;
  } else {
    cv::resize(src, resized, cv::Size(w, h), 0, 0, cv::INTER_LINEAR);
  }
  const size_t plane = static_cast<size_t>(w) * static_cast<size_t>(h);
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = resized.ptr<uint8_t>(y);
    for (int x = 0; x < w; ++x) {
      const size_t i = static_cast<size_t>(y) * static_cast<size_t>(w) + static_cast<size_t>(x);
      for (int c = 0; c < 3; ++c) out[c * plane + i] = (row[3 * x + c] / 255.f - mean[c]) / stdv[c];
    }
  }
}

}  // namespace cvp
