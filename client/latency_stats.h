// Summaries of measured durations, shared by `codiff bench` and `codiff load`.
#pragma once

#include <vector>

namespace codiff::client {

// The median (mean of the middle two for an even count); 0 for none.
double Median(std::vector<double> values);

// Nearest-rank percentile, p in [0, 100]: the smallest value with at least
// p% of the values at or below it; 0 for none.
double Percentile(std::vector<double> values, double p);

}  // namespace codiff::client
