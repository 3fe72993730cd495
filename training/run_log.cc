#include "training/run_log.h"

#include <cstdio>
#include <filesystem>

namespace codiff::training {

RunLog::RunLog(const std::string& run_dir, int64_t first_step, int64_t total_steps, int batch)
    : first_step_(first_step),
      total_steps_(total_steps),
      batch_(batch),
      start_(std::chrono::steady_clock::now()) {
  std::filesystem::create_directories(run_dir);
  out_.open((std::filesystem::path(run_dir) / "log.jsonl").string(), std::ios::app);
}

void RunLog::Step(int64_t step, const std::map<std::string, double>& losses, int print_every) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int64_t done = step + 1 - first_step_;
  const double images_per_s = elapsed > 0 ? done * batch_ / elapsed : 0.0;
  const double eta = done > 0 ? elapsed / done * (total_steps_ - step - 1) : 0.0;
  nlohmann::json line = {{"event", "step"}, {"step", step}, {"images_per_s", images_per_s}};
  for (const auto& [name, value] : losses) line[name] = value;
  out_ << line.dump() << '\n';
  out_.flush();
  if (print_every > 0 && ((step + 1) % print_every == 0 || step + 1 == total_steps_)) {
    std::string text;
    for (const auto& [name, value] : losses) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), " %s %.5f", name.c_str(), value);
      text += buf;
    }
    std::fprintf(stderr, "step %lld/%lld%s | %.2f img/s | ETA %.0f s\n",
                 static_cast<long long>(step + 1), static_cast<long long>(total_steps_),
                 text.c_str(), images_per_s, eta);
  }
}

void RunLog::Event(const std::string& kind, nlohmann::json fields) {
  fields["event"] = kind;
  out_ << fields.dump() << '\n';
  out_.flush();
}

}  // namespace codiff::training
