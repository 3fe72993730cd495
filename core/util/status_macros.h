// Propagation helpers for absl::Status, which Abseil does not ship publicly.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CODIFF_CONCAT_INNER(a, b) a##b
#define CODIFF_CONCAT(a, b) CODIFF_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status codiff_status_ = (expr);          \
    if (!codiff_status_.ok()) return codiff_status_; \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(CODIFF_CONCAT(codiff_statusor_, __LINE__), lhs, expr)
