#include "tests/training/training_test_util.h"

#include <cmath>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "core/image/image.h"
#include "core/image/image_encoder.h"
#include "tests/test_support.h"

namespace codiff::training::testing {

std::string WriteSyntheticImages(int count, int w, int h, int seed) {
  const std::string dir = codiff::testing::MakeTempDir("train-data");
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int i = 0; i < count; ++i) {
    image::Image img(w, h, 3);
    const double fx = 0.02 + 0.1 * u(rng), fy = 0.02 + 0.1 * u(rng), phase = 6.28 * u(rng);
    const int edge = static_cast<int>(w * (0.3 + 0.4 * u(rng)));
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        for (int c = 0; c < 3; ++c) {
          double v = 128 + 60 * std::sin(fx * x * (c + 1) + phase) * std::cos(fy * y);
          if (x > edge) v = 255 - v * 0.6;
          v += 20 * (u(rng) - 0.5);
          img.at(x, y, c) = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
        }
      }
    }
    image::EncodeOptions o;
    o.format = image::ImageFormat::kPng;
    auto bytes = image::EncodeImage(img, o);
    EXPECT_TRUE(bytes.ok());
    // A nested folder checks the recursive listing.
    const std::string sub = dir + (i % 2 ? "/nested" : "");
    std::filesystem::create_directories(sub);
    std::ofstream(sub + "/img" + std::to_string(i) + ".png", std::ios::binary) << *bytes;
  }
  return dir;
}

Recipe TinyRecipe(const std::string& stage, const std::string& data_dir,
                  const std::string& run_dir) {
  Recipe r;
  r.stage = stage;
  r.preset = "tiny";
  r.seed = 7;
  r.threads = 1;  // libgomp spin-waits make 2 threads ~10x slower on a shared 2-core box
  r.batch = 2;
  r.steps = 12;
  r.checkpoint_every = 0;
  r.log_every = 0;
  r.output = run_dir;
  r.data.dirs = {data_dir};
  r.data.crop = 64;
  r.data.seed = r.seed;
  r.data.workers = 2;
  r.data.cache_sources = true;
  r.stage1.lr = 2e-3;
  r.stage2.lr = 5e-4;
  r.stage2.disc_lr = 5e-4;
  r.validation.every = 0;
  // What checkpoints store and export re-reads.
  r.source = {
      {"stage", stage},
      {"preset", r.preset},
      {"seed", r.seed},
      {"threads", r.threads},
      {"batch", r.batch},
      {"steps", r.steps},
      {"checkpoint_every", r.checkpoint_every},
      {"log_every", r.log_every},
      {"output", r.output},
      {"data", {{"train_dirs", r.data.dirs}, {"crop", r.data.crop}, {"cache_sources", true}}},
      {"validation", {{"every", 0}}},
      {"stage1", {{"lr", r.stage1.lr}}},
      {"stage2", {{"lr", r.stage2.lr}, {"disc_lr", r.stage2.disc_lr}}}};
  return r;
}

}  // namespace codiff::training::testing
