#include <gtest/gtest.h>

#include "image.hpp"

using cvp::compute_letterbox;

TEST(Letterbox, LandscapeMatchesUltralyticsGeometry) {
  const auto lb = compute_letterbox(1280, 720, 640, 640);
  EXPECT_FLOAT_EQ(lb.r, 0.5f);
  EXPECT_EQ(lb.new_w, 640);
  EXPECT_EQ(lb.new_h, 360);
  EXPECT_EQ(lb.left, 0);
  EXPECT_EQ(lb.top, 140);
}

TEST(Letterbox, PortraitAndOddSizesRoundLikeUltralytics) {
  const auto a = compute_letterbox(480, 640, 640, 640);  // r = 1, pad left/right 80
  EXPECT_FLOAT_EQ(a.r, 1.f);
  EXPECT_EQ(a.new_w, 480);
  EXPECT_EQ(a.left, 80);
  EXPECT_EQ(a.top, 0);
  const auto b = compute_letterbox(100, 37, 64, 64);  // r = .64, h = round(23.68) = 24, pad (40)/2
  EXPECT_EQ(b.new_w, 64);
  EXPECT_EQ(b.new_h, 24);
  EXPECT_EQ(b.top, 20);
  const auto c = compute_letterbox(100, 39, 64, 64);  // h = round(24.96) = 25, dh = 19.5 -> round(19.4) = 19
  EXPECT_EQ(c.new_h, 25);
  EXPECT_EQ(c.top, 19);
}

TEST(Letterbox, BoxesMapBackExactly) {
  const int sizes[][2] = {{1280, 720}, {720, 1280}, {640, 640}, {333, 517}, {1920, 1080}, {17, 3}};
  for (const auto& s : sizes) {
    const auto lb = compute_letterbox(s[0], s[1], 640, 640);
    const float boxes[][4] = {{0, 0, 1, 1},
                              {static_cast<float>(s[0]) * 0.25f, static_cast<float>(s[1]) * 0.1f,
                               static_cast<float>(s[0]) * 0.75f, static_cast<float>(s[1]) * 0.9f},
                              {0, 0, static_cast<float>(s[0]), static_cast<float>(s[1])}};
    for (const auto& b : boxes) {
      float x1 = b[0], y1 = b[1], x2 = b[2], y2 = b[3];
      cvp::letterbox_box(lb, &x1, &y1, &x2, &y2);
      // in model space the box must sit inside the content region
      EXPECT_GE(x1, lb.left - 1e-3f);
      EXPECT_LE(x2, static_cast<float>(lb.left) + static_cast<float>(s[0]) * lb.r + 1e-2f);
      cvp::unletterbox_box(lb, &x1, &y1, &x2, &y2);
      EXPECT_NEAR(x1, b[0], 1e-3) << s[0] << "x" << s[1];
      EXPECT_NEAR(y1, b[1], 1e-3);
      EXPECT_NEAR(x2, b[2], 1e-3);
      EXPECT_NEAR(y2, b[3], 1e-3);
    }
  }
}

TEST(Letterbox, BoxesInPaddingAreClippedToTheImage) {
  const auto lb = compute_letterbox(1280, 720, 640, 640);
  float x1 = -10, y1 = 0, x2 = 700, y2 = 639;  // from the top padding to the bottom padding
  cvp::unletterbox_box(lb, &x1, &y1, &x2, &y2);
  EXPECT_FLOAT_EQ(x1, 0.f);
  EXPECT_FLOAT_EQ(y1, 0.f);
  EXPECT_FLOAT_EQ(x2, 1280.f);
  EXPECT_FLOAT_EQ(y2, 720.f);
}

TEST(Letterbox, PixelsArePaddedGreyAndContentKeepsColour) {
  cvp::Image img;
  img.width = 8;
  img.height = 4;
  img.rgb.assign(8 * 4 * 3, 0);
  for (size_t i = 0; i < img.rgb.size(); i += 3) img.rgb[i] = 255;  // pure red
  const auto lb = compute_letterbox(8, 4, 8, 8);                   // r = 1, top = 2
  ASSERT_EQ(lb.top, 2);
  std::vector<float> chw(3 * 64);
  cvp::letterbox_to_chw(img, lb, chw.data());
  EXPECT_FLOAT_EQ(chw[0], 114.f / 255.f);            // R, row 0: padding
  EXPECT_FLOAT_EQ(chw[2 * 8 + 3], 1.f);              // R, row 2: content
  EXPECT_FLOAT_EQ(chw[64 + 2 * 8 + 3], 0.f);         // G, content
  EXPECT_FLOAT_EQ(chw[128 + 7 * 8 + 7], 114.f / 255.f);  // B, last row: padding
}

TEST(Letterbox, ResizeNormalizeAppliesMeanStd) {
  cvp::Image img;
  img.width = 2;
  img.height = 2;
  img.rgb.assign(12, 0);
  for (size_t i = 0; i < 12; i += 3) img.rgb[i + 1] = 255;  // green
  const float mean[3] = {0.5f, 0.5f, 0.5f}, stdv[3] = {0.5f, 0.25f, 1.f};
  std::vector<float> out(3 * 16);
  cvp::resize_normalize_chw(img, 4, 4, mean, stdv, out.data());
  EXPECT_FLOAT_EQ(out[0], -1.f);       // (0 - .5) / .5
  EXPECT_FLOAT_EQ(out[16 + 5], 2.f);   // (1 - .5) / .25
  EXPECT_FLOAT_EQ(out[32 + 15], -0.5f);
}
