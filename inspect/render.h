// Renderings of a View (topology.h): a text tree for the terminal, JSON for programs (the same
// document `hyperplace topology --output json` prints and GET /debug/topology and /debug/jobs
// answer), a Mermaid flowchart, and a self-contained HTML page with an SVG drawing.
//
// Pure and deterministic: the same View gives the same bytes. Every string from the cluster is
// escaped for its format (labels, taints and messages are untrusted input); the text rendering
// replaces control and non-ASCII bytes with '?' so nothing can drive the terminal.
#pragma once

#include <string>

#include "inspect/topology.h"

namespace hyperplace::inspect {

struct RenderOptions {
  bool tree = true;   // the network tree with capacity and health
  bool jobs = false;  // every job: where its pods sit and how well
};

// At most kTextColumns columns per line; lines too long are cut, ending in "~".
inline constexpr std::size_t kTextColumns = 100;
std::string RenderText(const View& view, const RenderOptions& options);

// {"levels":[...], "cluster":{...}, "jobs":[...]}: "cluster" with the tree, "jobs" with the jobs.
std::string RenderJson(const View& view, const RenderOptions& options);

// A `flowchart TD`; individual nodes are drawn only up to kMermaidNodeLimit nodes in the cluster
// and when every level is drawn (a larger chart is past what Mermaid renders; the deepest domains
// drawn then show their counts).
inline constexpr std::size_t kMermaidNodeLimit = 200;
// What a chart may hold (Mermaid's defaults: maxEdges 500, maxTextSize 50,000): beyond it the
// deepest levels are left out, and a comment line says where the chart stops.
inline constexpr std::size_t kMermaidEdgeLimit = 500;
inline constexpr std::size_t kMermaidTextLimit = 50000;
std::string RenderMermaid(const View& view, const RenderOptions& options);

// One XHTML page (well-formed XML, no scripts, no external resources): the tree as an icicle
// drawing in inline SVG, each domain as wide as its node count and coloured by the share of its
// accelerators that is free, unhealthy nodes red; the jobs as a table. Individual nodes are drawn
// up to kHtmlNodeLimit nodes.
inline constexpr std::size_t kHtmlNodeLimit = 1000;
std::string RenderHtml(const View& view, const RenderOptions& options);

}  // namespace hyperplace::inspect
