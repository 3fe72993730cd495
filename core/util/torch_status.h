// LibTorch reports errors by throwing; core's boundary reports them as Status.
#pragma once

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace codiff {

// Runs `fn`, turning any exception into an Internal status whose message starts
// with `what_for` so the caller can tell which step failed.
template <typename Fn>
auto CatchTorchErrors(const std::string& what_for, Fn&& fn)
    -> std::conditional_t<std::is_void_v<std::invoke_result_t<Fn>>, absl::Status,
                          absl::StatusOr<std::invoke_result_t<Fn>>> {
  try {
    if constexpr (std::is_void_v<std::invoke_result_t<Fn>>) {
      std::forward<Fn>(fn)();
      return absl::OkStatus();
    } else {
      return std::forward<Fn>(fn)();
    }
  } catch (const std::exception& e) {
    std::string message = e.what();
    // c10::Error appends a long C++ backtrace; the first line is the reason.
    if (auto newline = message.find('\n'); newline != std::string::npos) {
      message.resize(newline);
    }
    return absl::InternalError(what_for + ": " + message);
  }
}

}  // namespace codiff
