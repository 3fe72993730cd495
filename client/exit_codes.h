// Exit codes scripts can rely on (documented in docs/client.md).
#pragma once

namespace codiff::client {

inline constexpr int kExitOk = 0;           // every input succeeded (or was skipped)
inline constexpr int kExitSomeFailed = 1;   // at least one input failed; each is named
inline constexpr int kExitUsage = 2;        // bad command line; nothing was attempted
inline constexpr int kExitUnreachable = 3;  // the server could not be reached at all

}  // namespace codiff::client
