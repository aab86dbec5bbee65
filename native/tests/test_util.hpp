// Test helpers: real JPEG/PNG encoders (libjpeg-turbo, libspng) so malformed-input tests start
// from valid files and break them in known ways.
#pragma once
#include <spng.h>
#include <turbojpeg.h>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace cvp::test {

inline std::vector<uint8_t> solid_rgb(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * static_cast<size_t>(h) * 3);
  for (size_t i = 0; i < px.size(); i += 3) {
    px[i] = r;
    px[i + 1] = g;
    px[i + 2] = b;
  }
  return px;
}

inline std::string encode_jpeg(const std::vector<uint8_t>& rgb, int w, int h, int quality = 95) {
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  if (tjCompress2(tj, rgb.data(), w, 0, h, TJPF_RGB, &buf, &size, TJSAMP_444, quality, 0) != 0) {
    tjDestroy(tj);
    throw std::runtime_error("jpeg encode failed");
  }
  std::string out(reinterpret_cast<char*>(buf), size);
  tjFree(buf);
  tjDestroy(tj);
  return out;
}

inline std::string encode_png(const std::vector<uint8_t>& rgb, int w, int h) {
  spng_ctx* ctx = spng_ctx_new(SPNG_CTX_ENCODER);
  spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
  spng_ihdr ihdr{};
  ihdr.width = static_cast<uint32_t>(w);
  ihdr.height = static_cast<uint32_t>(h);
  ihdr.bit_depth = 8;
  ihdr.color_type = SPNG_COLOR_TYPE_TRUECOLOR;
  spng_set_ihdr(ctx, &ihdr);
  int rc = spng_encode_image(ctx, rgb.data(), rgb.size(), SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
  size_t len = 0;
  int err = 0;
  void* png = rc == 0 ? spng_get_png_buffer(ctx, &len, &err) : nullptr;
  spng_ctx_free(ctx);
  if (!png) throw std::runtime_error("png encode failed");
  std::string out(static_cast<char*>(png), len);
  std::free(png);
  return out;
}

}  // namespace cvp::test
