// The HTML page: an icicle drawing of the network tree (one row per level, each domain as wide as
// its share of the nodes) in inline SVG, and the jobs as a table. Written as well-formed XHTML so
// an XML parser can check it; no scripts, fonts or anything fetched.
#include "common/html.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "inspect/render.h"
#include "inspect/render_util.h"

namespace hyperplace::inspect {
namespace {

constexpr double kWidth = 1120;
constexpr int kGutter = 64;  // the row names, left of the drawing
constexpr int kRowHeight = 56;
constexpr int kTop = 4;

using html::Escape;

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// The accelerator with the smallest share free (ties: the first by name), or null. Devices and
// their cores (aws.amazon.com/neuron, neuroncore) are two views of one chip, so shares are not
// summed across resources.
const Accelerator* Scarcest(const Capacity& c) {
  const Accelerator* best = nullptr;
  for (const Accelerator& a : c.accelerators) {
    if (a.total <= 0) continue;
    // Cross-multiplied in 128 bits: amounts go up to 2^63 - 1.
    if (best == nullptr ||
        static_cast<__int128>(a.free) * best->total < static_cast<__int128>(best->free) * a.total) {
      best = &a;
    }
  }
  return best;
}

// Green in proportion to the share free of the scarcest accelerator; grey with none at all.
std::string Fill(const Capacity& c) {
  if (c.nodes > 0 && c.healthy == 0) return "#f4c7c3";
  const Accelerator* a = Scarcest(c);
  if (a == nullptr) return "#e3e3e3";
  const double free = static_cast<double>(a->free) / static_cast<double>(a->total);
  char buf[40];
  std::snprintf(buf, sizeof buf, "hsl(135,45%%,%d%%)", static_cast<int>(92 - 50 * free));
  return buf;
}

std::string Summary(const Capacity& c) {
  std::string s = std::to_string(c.nodes) + " nodes, " + std::to_string(c.healthy) + " healthy";
  for (const Accelerator& a : c.accelerators) {
    s += ", " + ShortResource(a.resource) + " " + std::to_string(a.free) + " of " +
         std::to_string(a.total) + " free";
  }
  if (c.slots_total > 0) {
    s += ", pod slots " + std::to_string(c.slots_free) + " of " + std::to_string(c.slots_total) +
         " free";
  }
  return s + ", " + std::to_string(c.pods) + " pods";
}

struct Drawing {
  const View& view;
  double unit;   // pixels per node
  int node_row;  // row of the nodes; -1: not drawn
  std::string& out;

  // One box; its data-* attributes carry its figures (data-free and data-total: of the scarcest
  // accelerator, data-resource).
  void Box(int row, double x, double w, const std::string& cls, const std::string& name,
           const std::string& label, const Capacity& c, const std::string& title) {
    const int y = kTop + row * kRowHeight;
    x += kGutter;
    const Accelerator* scarcest = Scarcest(c);
    out += "<g class=\"" + cls + "\" data-name=\"" + Escape(name) + "\" data-nodes=\"" +
           std::to_string(c.nodes) + "\" data-healthy=\"" + std::to_string(c.healthy) + "\"";
    if (scarcest != nullptr) {
      out += " data-resource=\"" + Escape(scarcest->resource) + "\" data-free=\"" +
             std::to_string(scarcest->free) + "\" data-total=\"" + std::to_string(scarcest->total) +
             "\"";
    }
    out += "><title>" + Escape(title) + "</title><rect x=\"" + Number(x) + "\" y=\"" +
           std::to_string(y) + "\" width=\"" + Number(std::max(w - 1, 0.5)) + "\" height=\"" +
           std::to_string(kRowHeight - 4) + "\" fill=\"" + Fill(c) + "\"" +
           (c.healthy < c.nodes ? " stroke=\"#b3261e\" stroke-width=\"2\"" : "") + "/>";
    // Text only where it fits (about 6.5 px per character at 11 px).
    const std::size_t fits = static_cast<std::size_t>(std::max(0.0, (w - 6) / 6.5));
    // A node's name is cut at the front: hyperpod-i-… names differ at the end.
    auto line = [&](const std::string& t, int dy, bool keep_end = false) {
      if (fits < 4) return;
      // Cut by characters, never inside one: a UTF-8 sequence split in two is not XML.
      std::vector<std::size_t> starts;  // byte offset of each character
      for (std::size_t b = 0; b < t.size(); ++b) {
        if ((static_cast<unsigned char>(t[b]) & 0xC0) != 0x80) starts.push_back(b);
      }
      std::string shown = t;
      if (starts.size() > fits) {
        shown = keep_end ? "~" + t.substr(starts[starts.size() - (fits - 1)])
                         : t.substr(0, starts[fits - 1]) + "~";
      }
      out += "<text x=\"" + Number(x + 3) + "\" y=\"" + std::to_string(y + dy) + "\">" +
             Escape(shown) + "</text>";
    };
    line(label, 16, /*keep_end=*/cls != "domain");
    std::string free;
    for (const Accelerator& a : c.accelerators) {
      free += (free.empty() ? "" : " ") + ShortResource(a.resource) + " " +
              FreeOfTotal(a.free, a.total);
    }
    const bool node = cls != "domain";
    if (!free.empty()) line(node ? free : free + " free", 31);
    line(node ? std::to_string(c.pods) + (c.pods == 1 ? " pod" : " pods")
              : std::to_string(c.nodes) + " nodes, " + std::to_string(c.healthy) + " healthy",
         46);
    out += "</g>\n";
  }

  // Lays out domain `d` from x; returns the x after it.
  double Domain(std::size_t d, double x) {
    const DomainView& domain = view.domains[d];
    const std::string name = d == 0 ? "cluster" : domain.name;
    const std::string title = d == 0
                                  ? "cluster: " + Summary(domain.capacity)
                                  : LevelName(view.levels[static_cast<std::size_t>(domain.level)]) +
                                        " " + name + ": " + Summary(domain.capacity);
    Box(domain.level + 1, x, domain.capacity.nodes * unit, "domain", name, name, domain.capacity,
        title);
    double at = x;
    for (std::size_t c : domain.children) at = Domain(c, at);
    for (std::size_t n : domain.nodes) {
      const NodeView& node = view.nodes[n];
      if (node_row >= 0) {
        std::string title = node.name + " (" + node.instance_type + "): " + Summary(node.capacity);
        for (const std::string& p : node.problems) title += "; " + p;
        Box(node_row, at, unit, node.healthy ? "node" : "node unhealthy", node.name, node.name,
            node.capacity, title);
      }
      at += unit;
    }
    return at;
  }
};

void JobsTable(const View& view, std::string& out) {
  out +=
      "<h2>Jobs</h2>\n<table id=\"jobs\"><tr><th>job</th><th>placed</th><th>pending</th>"
      "<th>required</th><th>preferred</th><th>shares</th><th>domains per level</th>"
      "<th>spread</th><th>nodes</th></tr>\n";
  for (const JobView& job : view.jobs) {
    out += "<tr><td>" + Escape(job.id) + "</td><td>" + std::to_string(job.placed) + "</td><td>" +
           std::to_string(job.pending) + "</td><td>";
    if (!job.required_level.empty()) {
      out += Escape(LevelName(job.required_level)) + ": " + WantName(job.required);
    }
    out += "</td><td>";
    if (!job.preferred_level.empty()) {
      out += Escape(LevelName(job.preferred_level)) + ": " + WantName(job.preferred);
    }
    out += "</td><td>";
    if (job.shared_levels > 0) {
      out += Escape(LevelName(view.levels[static_cast<std::size_t>(job.shared_levels - 1)]) + " " +
                    job.shared_path.back());
    }
    out += "</td><td>";
    for (std::size_t l = 0; l < job.spans.size(); ++l) {
      out += (l == 0 ? "" : ", ") + std::to_string(job.spans[l]);
    }
    out += "</td><td>";
    if (job.wider_than_needed) {
      out += "<strong>wider than needed</strong>: " +
             Escape(LevelName(view.levels[static_cast<std::size_t>(job.tighter_level)]) + " " +
                    job.tighter_domain) +
             " holds it";
    }
    out += "</td><td>";
    bool first = true;
    for (const JobPod& p : job.pods) {
      out += first ? "" : "<br/>";
      first = false;
      out += Escape(p.name) + " &#8594; " + (p.node.empty() ? "Pending" : Escape(p.node));
      if (!p.pending_reason.empty()) out += " (" + Escape(p.pending_reason) + ")";
    }
    out += "</td></tr>\n";
  }
  out += "</table>\n";
}

}  // namespace

std::string RenderHtml(const View& view, const RenderOptions& options) {
  const Capacity& all = view.domains[0].capacity;
  std::size_t depth = 0;
  for (const NodeView& n : view.nodes) depth = std::max(depth, n.path.size());
  const bool nodes_drawn = !view.nodes.empty() && view.nodes.size() <= kHtmlNodeLimit;
  const int rows = 1 + static_cast<int>(depth) + (nodes_drawn ? 1 : 0);
  const double unit = all.nodes > 0 ? kWidth / all.nodes : kWidth;

  std::string out =
      "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n"
      "<meta charset=\"utf-8\"/>\n"
      // Nothing may be fetched or run, whatever a cluster string turned into.
      "<meta http-equiv=\"Content-Security-Policy\" "
      "content=\"default-src &#39;none&#39;; style-src &#39;unsafe-inline&#39;\"/>\n"
      "<title>hyperplace topology</title>\n<style>\n"
      "body{font-family:sans-serif;margin:16px;color:#222}\n"
      "svg text{font-size:11px;font-family:monospace;fill:#111;pointer-events:none}\n"
      "svg .rowname{fill:#555}\n"
      "table{border-collapse:collapse;font-size:12px}\n"
      "td,th{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top}\n"
      ".legend span{display:inline-block;width:14px;height:14px;vertical-align:middle;"
      "margin:0 4px 0 12px;border:1px solid #999}\n"
      "</style>\n</head>\n<body>\n<h1>Network topology</h1>\n";
  out += "<p id=\"summary\">" + Escape(Summary(all)) + "</p>\n";
  if (options.tree) {
    out +=
        "<p class=\"legend\">Each box is as wide as its node count; colour: share free of its "
        "scarcest accelerator<span style=\"background:hsl(135,45%,42%)\"></span>all"
        "<span style=\"background:hsl(135,45%,67%)\"></span>half"
        "<span style=\"background:hsl(135,45%,92%)\"></span>none"
        "<span style=\"background:#f4c7c3\"></span>unhealthy"
        "<span style=\"background:#e3e3e3\"></span>no accelerators</p>\n";
    const int height = kTop + rows * kRowHeight;
    const std::string width = std::to_string(kGutter + static_cast<int>(kWidth) + 2);
    out += "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"tree\" width=\"" + width +
           "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " + width + " " +
           std::to_string(height) + "\">\n";
    for (int r = 0; r < rows; ++r) {
      std::string name = r == 0 ? "cluster"
                         : (nodes_drawn && r == rows - 1)
                             ? "nodes"
                             : LevelName(view.levels[static_cast<std::size_t>(r - 1)]);
      out += "<text class=\"rowname\" x=\"0\" y=\"" + std::to_string(kTop + r * kRowHeight + 30) +
             "\">" + Escape(name) + "</text>\n";
    }
    Drawing drawing{view, unit, nodes_drawn ? rows - 1 : -1, out};
    drawing.Domain(0, 1);
    out += "</svg>\n";
    if (!nodes_drawn && !view.nodes.empty()) {
      out += "<p>Nodes are not drawn one by one above " + std::to_string(kHtmlNodeLimit) +
             " nodes.</p>\n";
    }
  }
  if (options.jobs) JobsTable(view, out);
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace hyperplace::inspect
