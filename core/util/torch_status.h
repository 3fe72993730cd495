// LibTorch reports errors by throwing; core's boundary reports them as Status.
#pragma once

#include <exception>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace codiff {

// LibTorch's allocation failures: CUDA's caching allocator ("CUDA out of
// memory. Tried to allocate ..."; c10::OutOfMemoryError from 2.0 on) and the
// CPU allocator ("DefaultCPUAllocator: can't allocate memory").
inline bool IsOutOfMemoryMessage(const std::string& message) {
  return message.find("out of memory") != std::string::npos ||
         message.find("can't allocate memory") != std::string::npos;
}

// Runs `fn`, turning any exception into a status whose message starts with
// `what_for` so the caller can tell which step failed: ResourceExhausted for
// an allocation failure (the request may be retried; the process is fine),
// Internal for anything else.
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
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(what_for + ": out of memory (std::bad_alloc)");
  } catch (const std::exception& e) {
    std::string message = e.what();
    // c10::Error appends a long C++ backtrace; the first line is the reason.
    if (auto newline = message.find('\n'); newline != std::string::npos) {
      message.resize(newline);
    }
    if (IsOutOfMemoryMessage(message)) {
      return absl::ResourceExhaustedError(what_for + ": out of memory: " + message);
    }
    return absl::InternalError(what_for + ": " + message);
  }
}

}  // namespace codiff
