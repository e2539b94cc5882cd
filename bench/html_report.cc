#include "bench/html_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "common/html.h"

namespace hyperplace::bench {
namespace {

using html::Escape;

std::string Num(double v, const char* fmt = "%.1f") {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string MicrosLabel(double us) { return FormatMicros(us); }

// Tick values for a linear axis over [lo, hi]: 1, 2 or 5 times a power of ten, about 5 ticks.
std::vector<double> LinearTicks(double lo, double hi) {
  std::vector<double> ticks;
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / 5;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push_back(t);
  return ticks;
}

const char* kPercentileLabels[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"};

}  // namespace

std::string SvgLineChart(const std::vector<ChartSeries>& series, const ChartOptions& o) {
  const double left = 64, right = 30, top = 26, bottom = 40;
  const double w = o.width - left - right, h = o.height - top - bottom;
  double xmin = std::numeric_limits<double>::max(), xmax = std::numeric_limits<double>::lowest();
  double ymin = std::numeric_limits<double>::max(), ymax = std::numeric_limits<double>::lowest();
  for (const ChartSeries& s : series) {
    for (const auto& [x, y] : s.points) {
      if (o.log_y && y <= 0) continue;
      xmin = std::min(xmin, x);
      xmax = std::max(xmax, x);
      ymin = std::min(ymin, y);
      ymax = std::max(ymax, y);
    }
  }
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(o.width) +
                    "\" height=\"" + std::to_string(o.height) + "\" viewBox=\"0 0 " +
                    std::to_string(o.width) + " " + std::to_string(o.height) +
                    "\" class=\"chart\">";
  svg += "<text x=\"" + Num(left) + "\" y=\"16\" class=\"title\">" + Escape(o.title) + "</text>";
  if (xmin > xmax) {
    svg += "<text x=\"" + Num(left + w / 2) + "\" y=\"" + Num(top + h / 2) +
           "\" text-anchor=\"middle\">no data</text></svg>";
    return svg;
  }
  if (o.percentile_x) {
    xmin = 0;
    xmax = std::max(1.0, std::ceil(xmax));
  } else if (xmax <= xmin) {
    xmax = xmin + 1;
  }
  double ylo, yhi;
  if (o.log_y) {
    ylo = std::pow(10, std::floor(std::log10(ymin)));
    yhi = std::pow(10, std::ceil(std::log10(ymax)));
    if (yhi <= ylo) yhi = ylo * 10;
  } else {
    ylo = 0;
    yhi = ymax > 0 ? ymax * 1.1 : 1;
  }
  auto X = [&](double x) { return left + (x - xmin) / (xmax - xmin) * w; };
  auto Y = [&](double y) {
    if (o.log_y) {
      return top + h - (std::log10(y) - std::log10(ylo)) / (std::log10(yhi) - std::log10(ylo)) * h;
    }
    return top + h - (y - ylo) / (yhi - ylo) * h;
  };
  // Grid and axes.
  svg += "<rect x=\"" + Num(left) + "\" y=\"" + Num(top) + "\" width=\"" + Num(w) + "\" height=\"" +
         Num(h) + "\" class=\"frame\"/>";
  std::vector<double> yticks;
  if (o.log_y) {
    const int decades = static_cast<int>(std::round(std::log10(yhi / ylo)));
    for (double d = ylo; d <= yhi * 1.0001; d *= 10) {
      yticks.push_back(d);
      if (decades <= 2 && d * 2 < yhi) yticks.push_back(d * 2);
      if (decades <= 2 && d * 5 < yhi) yticks.push_back(d * 5);
    }
  } else {
    yticks = LinearTicks(ylo, yhi);
  }
  for (double t : yticks) {
    const double y = Y(t);
    svg += "<line x1=\"" + Num(left) + "\" x2=\"" + Num(left + w) + "\" y1=\"" + Num(y) +
           "\" y2=\"" + Num(y) + "\" class=\"grid\"/>";
    svg += "<text x=\"" + Num(left - 6) + "\" y=\"" + Num(y + 4) +
           "\" text-anchor=\"end\" class=\"tick\">" + Escape(MicrosLabel(t)) + "</text>";
  }
  std::vector<double> xticks;
  if (o.percentile_x) {
    for (int k = 0; k <= static_cast<int>(xmax); ++k) xticks.push_back(k);
  } else {
    xticks = LinearTicks(xmin, xmax);
  }
  for (double t : xticks) {
    const double x = X(t);
    svg += "<line x1=\"" + Num(x) + "\" x2=\"" + Num(x) + "\" y1=\"" + Num(top) + "\" y2=\"" +
           Num(top + h) + "\" class=\"grid\"/>";
    std::string label;
    if (o.percentile_x) {
      const int k = static_cast<int>(t);
      label = k < 7 ? kPercentileLabels[k] : "";
    } else {
      label = Num(t, "%g");
    }
    svg += "<text x=\"" + Num(x) + "\" y=\"" + Num(top + h + 16) +
           "\" text-anchor=\"middle\" class=\"tick\">" + Escape(label) + "</text>";
  }
  svg += "<text x=\"" + Num(left + w / 2) + "\" y=\"" + Num(o.height - 4) +
         "\" text-anchor=\"middle\" class=\"axis\">" + Escape(o.x_label) + "</text>";
  svg += "<text x=\"12\" y=\"" + Num(top + h / 2) + "\" transform=\"rotate(-90 12 " +
         Num(top + h / 2) + ")\" text-anchor=\"middle\" class=\"axis\">" + Escape(o.y_label) +
         "</text>";
  // Series, then a legend in the top right.
  double legend_x = left + w - 8;
  for (auto it = series.rbegin(); it != series.rend(); ++it) {
    const ChartSeries& s = *it;
    std::string points;
    for (const auto& [x, y] : s.points) {
      if (o.log_y && y <= 0) continue;
      points += Num(X(x), "%.1f") + "," + Num(Y(std::max(y, ylo)), "%.1f") + " ";
    }
    if (!points.empty()) {
      svg += "<polyline fill=\"none\" stroke=\"" + s.color + "\" stroke-width=\"1.6\"" +
             (s.dashed ? " stroke-dasharray=\"5 3\"" : "") + " points=\"" + points + "\"/>";
    }
    const double text_w = 7.0 * static_cast<double>(s.name.size()) + 22;
    legend_x -= text_w;
    svg += "<line x1=\"" + Num(legend_x) + "\" x2=\"" + Num(legend_x + 14) + "\" y1=\"" +
           Num(top + 10) + "\" y2=\"" + Num(top + 10) + "\" stroke=\"" + s.color +
           "\" stroke-width=\"2\"" + (s.dashed ? " stroke-dasharray=\"4 2\"" : "") + "/>";
    svg += "<text x=\"" + Num(legend_x + 18) + "\" y=\"" + Num(top + 14) + "\" class=\"legend\">" +
           Escape(s.name) + "</text>";
  }
  svg += "</svg>";
  return svg;
}

std::string RenderHtml(const Results& r) {
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  h += "<title>hyperplace benchmark " + Escape(r.created) + "</title>";
  h += R"(<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f5f5f5}
.pass{color:#fff;background:#2a7d2a;padding:1px 6px;border-radius:3px}
.miss{color:#fff;background:#b22;padding:1px 6px;border-radius:3px}
.na{color:#fff;background:#888;padding:1px 6px;border-radius:3px}
.info{color:#fff;background:#357;padding:1px 6px;border-radius:3px}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;margin:14px 0}
.card h3{margin:0 0 6px;font-size:15px}.meta{color:#555;font-size:12px}
.chart .title{font-size:13px;font-weight:600}.chart .tick{font-size:10px;fill:#555}
.chart .axis{font-size:11px;fill:#333}.chart .legend{font-size:11px}
.chart .grid{stroke:#eee}.chart .frame{fill:none;stroke:#bbb}
.err{color:#b22}code{font-size:12px}
</style></head><body>)";
  h += "<h1>hyperplace load test</h1>";
  h += "<p class=\"meta\">" + Escape(r.created) +
       (r.label.empty() ? "" : " &middot; " + Escape(r.label)) + " &middot; " +
       std::to_string(r.host.cpus) + " CPUs (" + Escape(r.host.cpu_model) + ") &middot; " +
       Escape(r.host.kernel) + " &middot; load average at start " +
       Num(r.host.load1_start, "%.2f") + " / " + Num(r.host.load5_start, "%.2f") + " / " +
       Num(r.host.load15_start, "%.2f") + ", at end " + Num(r.host.load1_end, "%.2f") + "</p>";
  if (!r.settings.empty()) {
    h += "<p class=\"meta\">";
    bool first = true;
    for (const auto& [k, v] : r.settings) {
      h += (first ? "" : " &middot; ") + Escape(k) + "=" + Escape(v);
      first = false;
    }
    h += "</p>";
  }

  if (!r.targets.empty()) {
    h += "<h2>DESIGN &sect;5 targets</h2><table><tr><th>target</th><th>goal</th><th>measured</th>"
         "<th>verdict</th><th style=\"text-align:left\">detail</th></tr>";
    for (const TargetCheck& t : r.targets) {
      std::string value = "-";
      if (t.measured)
        value = t.unit == "us" ? FormatMicros(t.value) : Num(t.value, "%.2f") + " " + t.unit;
      const char* badge = !t.measured         ? "<span class=\"na\">n/a</span>"
                          : t.unit == "ratio" ? "<span class=\"info\">info</span>"
                          : t.pass            ? "<span class=\"pass\">PASS</span>"
                                              : "<span class=\"miss\">MISS</span>";
      h += "<tr><td>" + Escape(t.name) + "</td><td>" + Escape(t.target) + "</td><td>" +
           Escape(value) + "</td><td>" + badge + "</td><td style=\"text-align:left\">" +
           Escape(t.detail) + "</td></tr>";
    }
    h += "</table>";
  }

  h += "<h2>Scenarios</h2><table><tr><th>scenario</th><th>load</th><th>ops/s</th><th>p50</th>"
       "<th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>errors</th><th>server CPU</th>"
       "<th>CPU/op</th><th>server RSS</th><th>req bytes</th></tr>";
  for (const ScenarioResult& s : r.scenarios) {
    if (s.skipped) {
      h += "<tr><td>" + Escape(s.id) +
           "</td><td colspan=\"12\" style=\"text-align:left\">skipped: " + Escape(s.note) +
           "</td></tr>";
      continue;
    }
    const std::string load =
        s.load == "open" ? Num(s.rate, "%g") + "/s, " + std::to_string(s.connections) + " conn"
                         : "closed, " + std::to_string(s.connections) + " conn";
    h += "<tr><td><a href=\"#" + Escape(s.id) + "\">" + Escape(s.id) + "</a></td><td>" +
         Escape(load) + "</td><td>" + Num(s.throughput, "%.0f") + "</td><td>" +
         FormatMicros(s.latency.p50_us) + "</td><td>" + FormatMicros(s.latency.p90_us) +
         "</td><td>" + FormatMicros(s.latency.p99_us) + "</td><td>" +
         FormatMicros(s.latency.p999_us) + "</td><td>" + FormatMicros(s.latency.max_us) +
         "</td><td" + (s.total_errors() ? " class=\"err\"" : "") + ">" +
         std::to_string(s.total_errors()) + "</td><td>" + Num(s.server_cpu_percent, "%.0f") +
         "%</td><td>" + FormatMicros(s.server_cpu_us_per_op) + "</td><td>" +
         Num(s.server_rss_max_mib, "%.0f") + " MiB</td><td>" + Num(s.request_bytes, "%.0f") +
         "</td></tr>";
  }
  h += "</table>";

  if (!r.memory.empty()) {
    h += "<h2>Memory</h2><table><tr><th>run</th><th>nodes cached</th><th>pods cached</th>"
         "<th>sync</th><th>RSS settled</th><th>RSS max, names mode</th><th>peak (VmHWM)</th>"
         "<th>RSS max, full-node mode</th></tr>";
    for (const MemoryResult& m : r.memory) {
      h += "<tr><td>" + Escape(m.id) + "</td><td>" + std::to_string(m.nodes_cached) + "</td><td>" +
           std::to_string(m.pods_cached) + "</td><td>" + Num(m.sync_s, "%.1f") + " s</td><td>" +
           Num(m.rss_after_sync_mib) + " MiB</td><td>" + Num(m.rss_max_mib) + " MiB</td><td>" +
           Num(m.peak_rss_mib) + " MiB</td><td>" + Num(m.rss_max_full_mib) + " MiB</td></tr>";
    }
    h += "</table>";
  }
  if (!r.micro.empty()) {
    h += "<h2>Micro-benchmarks</h2><table><tr><th>benchmark</th><th>time</th><th>CPU</th>"
         "<th>throughput</th></tr>";
    for (const MicroResult& m : r.micro) {
      h += "<tr><td>" + Escape(m.name) + "</td><td>" + FormatMicros(m.real_time_ns / 1000) +
           "</td><td>" + FormatMicros(m.cpu_time_ns / 1000) + "</td><td>" +
           (m.bytes_per_second > 0 ? Num(m.bytes_per_second / 1e6, "%.0f") + " MB/s" : "") +
           "</td></tr>";
    }
    h += "</table>";
  }

  h += "<h2>Per scenario</h2>";
  for (const ScenarioResult& s : r.scenarios) {
    if (s.skipped) continue;
    h += "<div class=\"card\" id=\"" + Escape(s.id) + "\"><h3>" + Escape(s.id) + "</h3>";
    h += "<div class=\"meta\">" + Escape(s.target) + " &middot; " + Escape(s.load) + " loop, " +
         std::to_string(s.connections) + " connection(s)" +
         (s.rate > 0 ? ", " + Num(s.rate, "%g") + " ops/s asked" : "") + " &middot; " +
         std::to_string(s.ops) + " ops in " + Num(s.measured_s, "%.1f") + " s after " +
         Num(s.warmup_s, "%.1f") + " s warm-up &middot; " + Num(s.request_bytes, "%.0f") +
         " request bytes/op" +
         (s.pods_cached > 0 ? " &middot; " + std::to_string(s.pods_cached) + " pods cached" : "") +
         " &middot; client CPU " + Num(s.client_cpu_percent, "%.0f") + "%" +
         (s.load == "open" ? " &middot; max send lag " + FormatMicros(s.max_send_lag_us) : "") +
         (s.note.empty() ? "" : " &middot; " + Escape(s.note)) + "</div>";
    if (s.warmup_errors > 0) {
      h += "<div class=\"err\">warm-up errors &times;" + std::to_string(s.warmup_errors) +
           " (not counted in the figures): <code>" + Escape(s.warmup_error_sample) +
           "</code></div>";
    }
    for (const auto& [kind, text] : s.error_samples) {
      h += "<div class=\"err\">" + Escape(kind) + " &times;" + std::to_string(s.errors.at(kind)) +
           ": <code>" + Escape(text) + "</code></div>";
    }
    ChartSeries p50{"p50", "#2a7d2a", false, {}}, p99{"p99", "#d08000", false, {}},
        mx{"max", "#b22", false, {}};
    for (const TimelineRow& t : s.timeline) {
      if (t.ops == 0) continue;
      p50.points.emplace_back(t.t_s, t.p50_us);
      p99.points.emplace_back(t.t_s, t.p99_us);
      mx.points.emplace_back(t.t_s, t.max_us);
    }
    ChartOptions time_opts;
    time_opts.title = "latency over time";
    time_opts.x_label = "seconds after warm-up";
    time_opts.y_label = "latency";
    h += SvgLineChart({p50, p99, mx}, time_opts);

    std::vector<ChartSeries> curves;
    auto curve = [](const ScenarioResult& x, std::string name, std::string color, bool dashed) {
      ChartSeries c{std::move(name), std::move(color), dashed, {}};
      for (const auto& [q, us] : x.percentiles) {
        if (q >= 1) continue;
        c.points.emplace_back(std::log10(1.0 / (1.0 - q)), us);
      }
      return c;
    };
    curves.push_back(curve(s, s.target, "#1f5fa8", false));
    if (s.target == "hyperplace") {
      if (const ScenarioResult* f = r.FindScenario("floor/" + s.id)) {
        curves.push_back(curve(*f, "floor", "#888", true));
      }
    }
    ChartOptions pct_opts;
    pct_opts.title = "latency by percentile (max " + FormatMicros(s.latency.max_us) + ")";
    pct_opts.x_label = "percentile";
    pct_opts.y_label = "latency";
    pct_opts.percentile_x = true;
    h += SvgLineChart(curves, pct_opts);
    h += "</div>";
  }
  h += "<p class=\"meta\">Generated by hpbench. Latency: closed loop from send to reply; open "
       "loop from each request's intended send time (coordinated omission corrected). Server "
       "CPU is utime+stime of the server process over the measured interval (100% = one core); "
       "CPU/op divides it by the operations.</p>";
  h += "</body></html>\n";
  return h;
}

}  // namespace hyperplace::bench
