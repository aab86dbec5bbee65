#include <gtest/gtest.h>

#include <random>

#include "image.hpp"
#include "test_util.hpp"

using cvp::decode_image;
using cvp::Image;
using cvp::ImageLimits;
using grpc::StatusCode;

namespace {

uint32_t crc32(const unsigned char* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

void put_be32(std::string& s, size_t at, uint32_t v) {
  s[at] = static_cast<char>(v >> 24);
  s[at + 1] = static_cast<char>(v >> 16);
  s[at + 2] = static_cast<char>(v >> 8);
  s[at + 3] = static_cast<char>(v);
}

// Rewrites IHDR width/height and fixes its CRC, so only the dimension cap can refuse the file.
std::string png_with_dims(uint32_t w, uint32_t h) {
  std::string png = cvp::test::encode_png(cvp::test::solid_rgb(4, 4, 1, 2, 3), 4, 4);
  put_be32(png, 16, w);
  put_be32(png, 20, h);
  put_be32(png, 29, crc32(reinterpret_cast<const unsigned char*>(png.data()) + 12, 17));
  return png;
}

// Rewrites the SOF0 frame dimensions of a baseline JPEG.
std::string jpeg_with_dims(uint16_t w, uint16_t h) {
  std::string j = cvp::test::encode_jpeg(cvp::test::solid_rgb(16, 16, 9, 9, 9), 16, 16);
  for (size_t i = 2; i + 9 < j.size(); ++i) {
    if (static_cast<uint8_t>(j[i]) == 0xFF && static_cast<uint8_t>(j[i + 1]) == 0xC0) {
      j[i + 5] = static_cast<char>(h >> 8);
      j[i + 6] = static_cast<char>(h & 0xFF);
      j[i + 7] = static_cast<char>(w >> 8);
      j[i + 8] = static_cast<char>(w & 0xFF);
      return j;
    }
  }
  throw std::runtime_error("no SOF0");
}

StatusCode code_of(const std::string& bytes, const ImageLimits& lim = {}) {
  Image img;
  return decode_image(bytes, lim, &img).error_code();
}

}  // namespace

TEST(ImageDecode, ValidPngIsExact) {
  auto px = cvp::test::solid_rgb(7, 5, 10, 200, 30);
  px[0] = 99;
  Image img;
  ASSERT_TRUE(decode_image(cvp::test::encode_png(px, 7, 5), {}, &img).ok());
  EXPECT_EQ(img.width, 7);
  EXPECT_EQ(img.height, 5);
  EXPECT_EQ(img.rgb, px);
}

TEST(ImageDecode, ValidJpegDecodesToApproximateColours) {
  Image img;
  ASSERT_TRUE(decode_image(cvp::test::encode_jpeg(cvp::test::solid_rgb(33, 17, 200, 40, 90), 33, 17), {}, &img).ok());
  EXPECT_EQ(img.width, 33);
  EXPECT_EQ(img.height, 17);
  EXPECT_NEAR(img.rgb[0], 200, 4);
  EXPECT_NEAR(img.rgb[1], 40, 4);
  EXPECT_NEAR(img.rgb[2], 90, 4);
}

TEST(ImageDecode, EmptyAndWrongTypeAreInvalidArgument) {
  EXPECT_EQ(code_of(""), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code_of("GIF89a\x01\x00\x01\x00"), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code_of("BM not a bitmap either"), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code_of("{\"json\": true}"), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code_of(std::string("\xFF\xD8\xFF", 3)), StatusCode::INVALID_ARGUMENT);  // JPEG magic only
  EXPECT_EQ(code_of(std::string("\x89PNG\r\n\x1a\n", 8)), StatusCode::INVALID_ARGUMENT);
}

TEST(ImageDecode, TruncatedDataIsInvalidArgument) {
  const auto px = cvp::test::solid_rgb(64, 64, 1, 2, 3);
  const std::string jpg = cvp::test::encode_jpeg(px, 64, 64);
  const std::string png = cvp::test::encode_png(px, 64, 64);
  for (double frac : {0.3, 0.6, 0.9}) {
    EXPECT_EQ(code_of(jpg.substr(0, static_cast<size_t>(jpg.size() * frac))), StatusCode::INVALID_ARGUMENT) << frac;
    EXPECT_EQ(code_of(png.substr(0, static_cast<size_t>(png.size() * frac))), StatusCode::INVALID_ARGUMENT) << frac;
  }
}

TEST(ImageDecode, CorruptPngCrcIsInvalidArgument) {
  std::string png = cvp::test::encode_png(cvp::test::solid_rgb(8, 8, 1, 2, 3), 8, 8);
  png[png.size() - 20] ^= 0x5A;  // inside IDAT
  EXPECT_EQ(code_of(png), StatusCode::INVALID_ARGUMENT);
}

TEST(ImageDecode, HugeDimensionsAreRefusedFromTheHeader) {
  Image img;
  auto st = decode_image(png_with_dims(100000, 100000), {}, &img);
  EXPECT_EQ(st.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(img.rgb.empty());  // nothing allocated
  st = decode_image(png_with_dims(16000, 16000), {}, &img);  // under the side cap, over pixels
  EXPECT_EQ(st.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("pixels"), std::string::npos) << st.error_message();
  EXPECT_TRUE(img.rgb.empty());
  st = decode_image(jpeg_with_dims(60000, 60000), {}, &img);
  EXPECT_EQ(st.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("exceed"), std::string::npos) << st.error_message();
  EXPECT_TRUE(img.rgb.empty());
  EXPECT_EQ(code_of(png_with_dims(0, 10)), StatusCode::INVALID_ARGUMENT);
}

TEST(ImageDecode, ConfigurableCaps) {
  const std::string png = cvp::test::encode_png(cvp::test::solid_rgb(20, 20, 1, 2, 3), 20, 20);
  ImageLimits small;
  small.max_pixels = 100;
  EXPECT_EQ(code_of(png, small), StatusCode::INVALID_ARGUMENT);
  ImageLimits tiny_bytes;
  tiny_bytes.max_bytes = 10;
  EXPECT_EQ(code_of(png, tiny_bytes), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code_of(png), StatusCode::OK);
}

TEST(ImageDecode, RandomCorruptionNeverCrashes) {
  std::mt19937 rng(5);
  const auto px = cvp::test::solid_rgb(24, 24, 50, 60, 70);
  const std::string seeds[] = {cvp::test::encode_jpeg(px, 24, 24), cvp::test::encode_png(px, 24, 24)};
  int refused = 0;
  for (const auto& seed : seeds) {
    for (int i = 0; i < 300; ++i) {
      std::string s = seed;
      const int flips = 1 + static_cast<int>(rng() % 8);
      for (int f = 0; f < flips; ++f) s[rng() % s.size()] = static_cast<char>(rng());
      const auto c = code_of(s);
      ASSERT_TRUE(c == StatusCode::OK || c == StatusCode::INVALID_ARGUMENT);
      refused += c == StatusCode::INVALID_ARGUMENT;
    }
  }
  EXPECT_GT(refused, 0);
}
