// Progress reporting of a run: a human-readable line on stderr (step,
// losses, images/s, ETA) and a JSON-lines log (run_dir/log.jsonl) for tools.
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace codiff::training {

class RunLog {
 public:
  // Appends to run_dir/log.jsonl (a resumed run continues the same file).
  RunLog(const std::string& run_dir, int64_t first_step, int64_t total_steps, int batch);

  // One training step's losses; prints a progress line every `print_every`.
  void Step(int64_t step, const std::map<std::string, double>& losses, int print_every);
  // Any other event (validation, checkpoint, notes) as one JSON line.
  void Event(const std::string& kind, nlohmann::json fields);

 private:
  std::ofstream out_;
  int64_t first_step_;
  int64_t total_steps_;
  int batch_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace codiff::training
