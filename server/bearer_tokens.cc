#include "server/bearer_tokens.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace codiff::server {

bool ConstantTimeEquals(absl::string_view presented, absl::string_view expected) {
  unsigned char diff = presented.size() == expected.size() ? 0 : 1;
  if (expected.empty()) return false;
  for (size_t i = 0; i < presented.size(); ++i) {
    diff |= static_cast<unsigned char>(presented[i]) ^
            static_cast<unsigned char>(expected[i % expected.size()]);
  }
  return diff == 0;
}

absl::StatusOr<BearerTokens> BearerTokens::Parse(absl::string_view text) {
  BearerTokens out;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    for (const char c : line) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
        return absl::InvalidArgumentError(
            absl::StrCat("token file line ", line_number,
                         ": a token must not contain spaces or control "
                         "characters"));
      }
    }
    out.tokens_.emplace_back(line);
  }
  if (out.tokens_.empty()) return absl::InvalidArgumentError("the token file holds no token");
  return out;
}

absl::StatusOr<BearerTokens> BearerTokens::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read the token file " + path);
  std::stringstream text;
  text << in.rdbuf();
  auto tokens = Parse(text.str());
  if (!tokens.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", tokens.status().message()));
  }
  return tokens;
}

bool BearerTokens::Accepts(absl::string_view authorization) const {
  constexpr absl::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      !absl::StartsWithIgnoreCase(authorization, kScheme)) {
    return false;
  }
  const absl::string_view presented =
      absl::StripLeadingAsciiWhitespace(authorization.substr(kScheme.size()));
  bool accepted = false;
  for (const std::string& token : tokens_) accepted |= ConstantTimeEquals(presented, token);
  return accepted;
}

}  // namespace codiff::server
