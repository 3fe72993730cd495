// What a long restore run tells the person watching, on stderr.
//
// On a terminal: one live line (done/total, failures, images per second,
// ETA) redrawn in place with \r, cut to the terminal width so it never
// wraps; failures are printed above it as they happen. Elsewhere (a log
// file, CI): plain lines, a progress line every few seconds, and one line
// per file with -v. Failures are always printed, even with -q; the summary
// is printed unless -q.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

namespace codiff::client {

enum class Verbosity { kQuiet, kNormal, kVerbose };

class ProgressReporter {
 public:
  // `total` counts every input, including those rejected before the run.
  ProgressReporter(int total, Verbosity verbosity, bool live, std::FILE* out = stderr);
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  // Starts the clock (and, when live, the redraw thread).
  void Start();
  // A non-empty `unchanged_reason`: the server sent the image back as
  // decoded (written all the same); said on its own line unless -q. A
  // non-empty `mode_note` (the server ran another mode than asked, e.g. an
  // inert generator's perceptual on the fidelity path): shown with -v.
  void Succeeded(const std::string& input, const std::string& output,
                 const std::string& unchanged_reason = "", const std::string& mode_note = "");
  void Skipped(const std::string& input, const std::string& reason);
  void Failed(const std::string& input, const std::string& reason);
  // Retries and similar detail: printed with -v only.
  void Detail(const std::string& message);
  // Stops redrawing and prints the summary.
  void Finish();

  int failed() const;

 private:
  std::string StatusLocked(bool for_log) const;
  void PrintLocked(const std::string& line);
  void DrawLocked();
  void Tick();
  int TerminalWidth() const;

  const int total_;
  const Verbosity verbosity_;
  const bool live_;
  std::FILE* const out_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::thread ticker_;
  bool stopping_ = false;
  bool started_ = false;
  bool line_drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_log_;
  int succeeded_ = 0;
  int unchanged_ = 0;  // of succeeded_
  int failed_ = 0;
  int skipped_ = 0;
  int processed_ = 0;  // finished after Start(): the basis of the rate
};

}  // namespace codiff::client
