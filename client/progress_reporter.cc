#include "client/progress_reporter.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace codiff::client {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kRedrawPeriod = std::chrono::milliseconds(100);
constexpr auto kLogPeriod = std::chrono::seconds(5);

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string FormatEta(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const int64_t s = static_cast<int64_t>(std::ceil(seconds));
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

}  // namespace

ProgressReporter::ProgressReporter(int total, Verbosity verbosity, bool live, std::FILE* out)
    : total_(total),
      verbosity_(verbosity),
      live_(live && verbosity != Verbosity::kQuiet),
      out_(out),
      start_(Clock::now()),
      last_log_(start_) {}

ProgressReporter::~ProgressReporter() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

void ProgressReporter::Start() {
  std::lock_guard<std::mutex> lock(mutex_);
  started_ = true;
  start_ = Clock::now();
  last_log_ = start_;
  if (verbosity_ != Verbosity::kQuiet) ticker_ = std::thread([this] { Tick(); });
}

void ProgressReporter::Tick() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, kRedrawPeriod);
    if (stopping_) break;
    if (live_) {
      DrawLocked();
    } else if (Clock::now() - last_log_ >= kLogPeriod) {
      last_log_ = Clock::now();
      std::fprintf(out_, "codiff: %s\n", StatusLocked(/*for_log=*/true).c_str());
      std::fflush(out_);
    }
  }
}

int ProgressReporter::TerminalWidth() const {
  winsize ws{};
  if (ioctl(fileno(out_), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

std::string ProgressReporter::StatusLocked(bool for_log) const {
  const int done = succeeded_ + failed_ + skipped_;
  const double elapsed = Seconds(Clock::now() - start_);
  const double rate = elapsed > 0 ? processed_ / elapsed : 0;
  const double eta = rate > 0 ? (total_ - done) / rate : NAN;
  std::string line = absl::StrFormat("%s%d/%d done", for_log ? "progress " : "", done, total_);
  if (failed_ > 0) absl::StrAppend(&line, ", ", failed_, " failed");
  if (skipped_ > 0) absl::StrAppend(&line, ", ", skipped_, " skipped");
  absl::StrAppend(&line, absl::StrFormat(", %.1f images/s, ETA %s", rate, FormatEta(eta)));
  return line;
}

void ProgressReporter::DrawLocked() {
  std::string line = "codiff: " + StatusLocked(/*for_log=*/false);
  // A line wider than the terminal wraps, and \r then redraws only its last
  // part: keep it one column short of the width.
  const size_t width = static_cast<size_t>(std::max(10, TerminalWidth() - 1));
  if (line.size() > width) line.resize(width);
  std::fprintf(out_, "\r%s\033[K", line.c_str());
  std::fflush(out_);
  line_drawn_ = true;
}

void ProgressReporter::PrintLocked(const std::string& line) {
  if (line_drawn_) std::fputs("\r\033[K", out_);
  std::fprintf(out_, "%s\n", line.c_str());
  if (live_ && started_ && !stopping_) {
    DrawLocked();
  } else {
    std::fflush(out_);
  }
}

void ProgressReporter::Succeeded(const std::string& input, const std::string& output,
                                 const std::string& unchanged_reason,
                                 const std::string& mode_note) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++succeeded_;
  ++processed_;
  if (!unchanged_reason.empty()) {
    ++unchanged_;
    if (verbosity_ != Verbosity::kQuiet) {
      PrintLocked("codiff: " + input + " -> " + output + " unchanged: " + unchanged_reason +
                  " (--restore-high-quality restores it anyway)");
    }
    return;
  }
  if (verbosity_ == Verbosity::kVerbose) {
    PrintLocked("codiff: restored " + input + " -> " + output +
                (mode_note.empty() ? "" : " (" + mode_note + ")"));
  }
}

void ProgressReporter::Skipped(const std::string& input, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++skipped_;
  if (verbosity_ == Verbosity::kVerbose) PrintLocked("codiff: skipped " + input + ": " + reason);
}

void ProgressReporter::Failed(const std::string& input, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++failed_;
  if (started_) ++processed_;
  PrintLocked("codiff: FAILED " + input + ": " + reason);
}

void ProgressReporter::Detail(const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (verbosity_ == Verbosity::kVerbose) PrintLocked("codiff: " + message);
}

int ProgressReporter::failed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failed_;
}

void ProgressReporter::Finish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  if (line_drawn_) std::fputs("\r\033[K", out_);
  line_drawn_ = false;
  if (verbosity_ != Verbosity::kQuiet) {
    const double elapsed = Seconds(Clock::now() - start_);
    const std::string unchanged =
        unchanged_ > 0 ? absl::StrCat(" (", unchanged_, " returned unchanged)") : std::string();
    std::fprintf(out_,
                 "codiff: %d of %d restored%s, %d skipped, %d failed in %.1f s (%.1f images/s)\n",
                 succeeded_, total_, unchanged.c_str(), skipped_, failed_, elapsed,
                 elapsed > 0 ? processed_ / elapsed : 0.0);
  }
  std::fflush(out_);
}

}  // namespace codiff::client
