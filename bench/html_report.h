// `hpbench --html FILE`: one self-contained HTML page (inline CSS and SVG, no scripts, no external
// assets) with the targets, the summary table, memory and micro-benchmark tables, and per
// scenario a latency-over-time chart (p50, p99 and max per window) and a percentile plot (the
// floor's curve dashed beside hyperplace's when both ran).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "bench/report.h"

namespace hyperplace::bench {

std::string RenderHtml(const Results& results);

// One SVG line chart, exposed for tests. Series are (x, y) points; y must be > 0 on a log axis.
struct ChartSeries {
  std::string name;
  std::string color;  // CSS color
  bool dashed = false;
  std::vector<std::pair<double, double>> points;
};
struct ChartOptions {
  std::string title;
  std::string x_label, y_label;
  bool log_y = true;
  // Percentile plots: x is log10(1 / (1 - q)); ticks are labelled 90%, 99%, 99.9%, ...
  bool percentile_x = false;
  int width = 560, height = 250;
};
std::string SvgLineChart(const std::vector<ChartSeries>& series, const ChartOptions& options);

}  // namespace hyperplace::bench
