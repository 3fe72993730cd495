#include "core/image/parse_counters.h"

#include <atomic>

namespace codiff::image {
namespace {

std::atomic<int64_t> header_parses{0};
std::atomic<int64_t> decodes{0};

}  // namespace

ParseCounters CurrentParseCounters() {
  return {header_parses.load(std::memory_order_relaxed), decodes.load(std::memory_order_relaxed)};
}

namespace internal {
void CountHeaderParse() { header_parses.fetch_add(1, std::memory_order_relaxed); }
void CountDecode() { decodes.fetch_add(1, std::memory_order_relaxed); }
}  // namespace internal

}  // namespace codiff::image
