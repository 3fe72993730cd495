// The tokens a server accepts in `authorization: Bearer <token>` metadata,
// read from a file (one per line). No gRPC here, so it is unit-tested alone;
// server/auth_interceptor.h applies it to calls.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace codiff::server {

class BearerTokens {
 public:
  // One token per line; surrounding spaces and a trailing \r are dropped,
  // blank lines and lines starting with '#' are skipped. A file without a
  // token, or a token with spaces or control characters inside, is an error
  // (a server that meant to require tokens must not start open).
  static absl::StatusOr<BearerTokens> Load(const std::string& path);
  static absl::StatusOr<BearerTokens> Parse(absl::string_view text);

  // True when `authorization` is "Bearer <t>" (scheme case-insensitive) and
  // <t> equals one of the tokens. Every token is compared, each in time that
  // depends only on the presented token's length, so the timing says nothing
  // about which token (or which prefix of one) matched.
  bool Accepts(absl::string_view authorization) const;

  size_t size() const { return tokens_.size(); }

 private:
  std::vector<std::string> tokens_;
};

// Compares without an early exit: time depends on `presented`'s length only.
bool ConstantTimeEquals(absl::string_view presented, absl::string_view expected);

}  // namespace codiff::server
