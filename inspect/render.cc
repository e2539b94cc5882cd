#include "inspect/render.h"

#include <algorithm>

#include "common/json.h"
#include "inspect/render_util.h"

namespace hyperplace::inspect {
namespace {

// ---- text ----

// Cluster strings are printable ASCII in the terminal, whatever they hold.
std::string Printable(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) c = '?';
  }
  return out;
}

// Display width: the tree's box-drawing characters are three bytes and one column each.
std::size_t Columns(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80 ? 1 : 0;
  return n;
}

// Cuts a line to kTextColumns columns (never inside a multi-byte character).
std::string Fit(std::string line) {
  if (Columns(line) <= kTextColumns) return line;
  std::size_t cols = 0, i = 0;
  for (; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xc0) == 0x80) continue;
    if (cols == kTextColumns - 1) break;
    ++cols;
  }
  line.resize(i);
  line += '~';
  return line;
}

// Word-wraps `text` into lines of kTextColumns columns, each starting with `indent` (a long word
// is cut by Fit).
void Wrap(const std::string& indent, std::string_view text, std::string& out) {
  const std::size_t room =
      kTextColumns > Columns(indent) + 20 ? kTextColumns - Columns(indent) : 20;
  while (!text.empty()) {
    std::size_t take = text.size();
    if (take > room) {
      take = text.rfind(' ', room);
      if (take == std::string_view::npos || take == 0) take = room;
    }
    out += Fit(indent + std::string(text.substr(0, take))) + "\n";
    text.remove_prefix(take);
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  }
}

std::string TextCapacity(const Capacity& c, bool node) {
  std::string s;
  if (!node) {
    s = std::to_string(c.nodes) + (c.nodes == 1 ? " node " : " nodes ") +
        std::to_string(c.healthy) + " ok";
  }
  for (const Accelerator& a : c.accelerators) {
    if (!s.empty()) s += "  ";
    s += ShortResource(a.resource) + " " + FreeOfTotal(a.free, a.total);
  }
  if (c.slots_total > 0) {
    if (!s.empty()) s += "  ";
    s += "slots " + FreeOfTotal(c.slots_free, c.slots_total);
  }
  if (!s.empty()) s += "  ";
  s += "pods " + std::to_string(c.pods);
  return s;
}

struct TextLine {
  std::string left;   // tree prefix and name
  std::string right;  // figures
  std::string note;   // problems, on a line of their own
  std::string note_prefix;
};

void TextTree(const View& view, std::size_t d, const std::string& prefix,
              std::vector<TextLine>& lines) {
  const DomainView& domain = view.domains[d];
  const std::size_t count = domain.children.size() + domain.nodes.size();
  std::size_t k = 0;
  auto branch = [&](bool last) { return prefix + (last ? "└─ " : "├─ "); };
  auto below = [&](bool last) { return prefix + (last ? "   " : "│  "); };
  for (std::size_t c : domain.children) {
    const bool last = ++k == count;
    const DomainView& child = view.domains[c];
    lines.push_back({branch(last) + Printable(child.name),
                     LevelName(view.levels[static_cast<std::size_t>(child.level)]) + "  " +
                         TextCapacity(child.capacity, false),
                     "", below(last) + "  "});
    TextTree(view, c, below(last), lines);
  }
  for (std::size_t n : domain.nodes) {
    const bool last = ++k == count;
    const NodeView& node = view.nodes[n];
    std::string right = Printable(node.instance_type.empty() ? "-" : node.instance_type);
    right += "  " + TextCapacity(node.capacity, true);
    std::string note;
    for (const std::string& p : node.problems) note += (note.empty() ? "! " : "; ") + Printable(p);
    lines.push_back({branch(last) + Printable(node.name), std::move(right), std::move(note),
                     below(last) + "  "});
  }
}

void TextJobs(const View& view, std::string& out) {
  out += Fit("jobs: " + std::to_string(view.jobs.size())) + "\n";
  for (const JobView& job : view.jobs) {
    out += Fit(Printable(job.id)) + "\n";
    std::string line = "  pods " + std::to_string(job.placed) + " placed, " +
                       std::to_string(job.pending) + " pending";
    if (job.total > 0) line += " (group of " + std::to_string(job.total) + ")";
    for (const auto& [key, want] : {std::pair{&job.required_level, job.required},
                                    std::pair{&job.preferred_level, job.preferred}}) {
      if (key->empty()) continue;
      line += std::string(key == &job.required_level ? "; required " : "; preferred ") +
              Printable(LevelName(*key)) + ": " + WantName(want);
    }
    out += Fit(line) + "\n";
    line = "  shares ";
    if (job.shared_levels == 0) {
      line += "no domain";
    } else {
      line += LevelName(view.levels[static_cast<std::size_t>(job.shared_levels - 1)]) + " " +
              Printable(job.shared_path.back());
    }
    line += "; domains at layers 1.." + std::to_string(job.spans.size()) + ":";
    for (std::size_t l = 0; l < job.spans.size(); ++l) {
      line += (l == 0 ? " " : ", ") + std::to_string(job.spans[l]);
    }
    out += Fit(line) + "\n";
    if (job.wider_than_needed) {
      out += Fit("  WIDER THAN NEEDED: " +
                 LevelName(view.levels[static_cast<std::size_t>(job.tighter_level)]) + " " +
                 Printable(job.tighter_domain) + " holds the whole job now") +
             "\n";
    }
    for (const JobPod& pod : job.pods) {
      line = "  " + Printable(pod.name) + "  ";
      line += pod.node.empty() ? "Pending" : Printable(pod.node);
      out += Fit(line) + "\n";
      if (!pod.pending_reason.empty()) Wrap("      ", Printable(pod.pending_reason), out);
    }
  }
}

// ---- JSON ----

void JsonCapacity(const Capacity& c, std::string& out) {
  out += "\"nodes\":" + std::to_string(c.nodes) + ",\"healthyNodes\":" + std::to_string(c.healthy) +
         ",\"pods\":" + std::to_string(c.pods) + ",\"accelerators\":{";
  for (std::size_t i = 0; i < c.accelerators.size(); ++i) {
    const Accelerator& a = c.accelerators[i];
    if (i > 0) out += ',';
    json::AppendJsonString(out, a.resource);
    out += ":{\"free\":" + std::to_string(a.free) + ",\"total\":" + std::to_string(a.total) + "}";
  }
  out += "},\"podSlots\":{\"free\":" + std::to_string(c.slots_free) +
         ",\"total\":" + std::to_string(c.slots_total) + "}";
}

void JsonStrings(const std::vector<std::string>& items, std::string& out) {
  out += '[';
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    json::AppendJsonString(out, items[i]);
  }
  out += ']';
}

void JsonNode(const NodeView& n, std::string& out) {
  out += "{\"name\":";
  json::AppendJsonString(out, n.name);
  out += ",\"instanceType\":";
  json::AppendJsonString(out, n.instance_type);
  out += ",\"healthy\":";
  out += n.healthy ? "true" : "false";
  out += ",\"problems\":";
  JsonStrings(n.problems, out);
  out += ',';
  JsonCapacity(n.capacity, out);
  out += '}';
}

void JsonDomain(const View& view, std::size_t d, std::string& out) {
  const DomainView& domain = view.domains[d];
  out += '{';
  if (domain.level >= 0) {
    out += "\"level\":" + std::to_string(domain.level + 1) + ",\"label\":";
    json::AppendJsonString(out, view.levels[static_cast<std::size_t>(domain.level)]);
    out += ",\"name\":";
    json::AppendJsonString(out, domain.name);
    out += ',';
  }
  JsonCapacity(domain.capacity, out);
  out += ",\"domains\":[";
  for (std::size_t i = 0; i < domain.children.size(); ++i) {
    if (i > 0) out += ',';
    JsonDomain(view, domain.children[i], out);
  }
  out += "],\"nodeList\":[";
  for (std::size_t i = 0; i < domain.nodes.size(); ++i) {
    if (i > 0) out += ',';
    JsonNode(view.nodes[domain.nodes[i]], out);
  }
  out += "]}";
}

void JsonOptionalString(const std::string& s, std::string& out) {
  if (s.empty()) {
    out += "null";
  } else {
    json::AppendJsonString(out, s);
  }
}

void JsonLevelRef(const View& view, int level, const std::string& name, std::string& out) {
  out += "{\"level\":" + std::to_string(level + 1) + ",\"label\":";
  json::AppendJsonString(out, view.levels[static_cast<std::size_t>(level)]);
  out += ",\"name\":";
  json::AppendJsonString(out, name);
  out += '}';
}

void JsonJob(const View& view, const JobView& job, std::string& out) {
  out += "{\"id\":";
  json::AppendJsonString(out, job.id);
  out += ",\"namespace\":";
  json::AppendJsonString(out, job.namespace_name);
  out += ",\"groupSize\":" + std::to_string(job.total) +
         ",\"placed\":" + std::to_string(job.placed) +
         ",\"pending\":" + std::to_string(job.pending);
  out += ",\"requiredTopology\":";
  JsonOptionalString(job.required_level, out);
  out += ",\"requiredMet\":";
  out += WantJson(job.required);
  out += ",\"preferredTopology\":";
  JsonOptionalString(job.preferred_level, out);
  out += ",\"preferredMet\":";
  out += WantJson(job.preferred);
  out += ",\"sharedLevels\":" + std::to_string(job.shared_levels) + ",\"sharedDomain\":";
  if (job.shared_levels == 0) {
    out += "null";
  } else {
    JsonLevelRef(view, job.shared_levels - 1, job.shared_path.back(), out);
  }
  out += ",\"domainsPerLevel\":[";
  for (std::size_t l = 0; l < job.spans.size(); ++l) {
    if (l > 0) out += ',';
    out += std::to_string(job.spans[l]);
  }
  out += "],\"widerThanNeeded\":";
  out += job.wider_than_needed ? "true" : "false";
  out += ",\"tighterDomain\":";
  if (job.wider_than_needed) {
    JsonLevelRef(view, job.tighter_level, job.tighter_domain, out);
  } else {
    out += "null";
  }
  out += ",\"pods\":[";
  for (std::size_t i = 0; i < job.pods.size(); ++i) {
    const JobPod& p = job.pods[i];
    if (i > 0) out += ',';
    out += "{\"name\":";
    json::AppendJsonString(out, p.name);
    out += ",\"node\":";
    JsonOptionalString(p.node, out);
    out += ",\"pendingReason\":";
    JsonOptionalString(p.pending_reason, out);
    out += '}';
  }
  out += "]}";
}

// ---- Mermaid ----

// Label text inside "...": everything but a few plain characters as an entity code (#35;), so
// no cluster string can end the label or inject markup.
std::string MermaidText(std::string_view s) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == ' ' ||
        c == '.' || c == '-' || c == '_' || c == '/' || c == ':' || c == ',' || c == '=' ||
        c == '(' || c == ')') {
      out += c;
    } else {
      out += "#" + std::to_string(u) + ";";
    }
  }
  return out;
}

std::string MermaidCapacity(const Capacity& c, bool node) {
  std::string s;
  if (!node)
    s += "<br/>" + std::to_string(c.nodes) + " nodes, " + std::to_string(c.healthy) + " healthy";
  for (const Accelerator& a : c.accelerators) {
    s += "<br/>" + ShortResource(a.resource) + " " + FreeOfTotal(a.free, a.total) + " free";
  }
  if (c.slots_total > 0) {
    s += "<br/>pod slots " + FreeOfTotal(c.slots_free, c.slots_total) + " free";
  }
  return s;
}

// Draws the domains under d down to level `deepest` (View::levels index), then, with `with_nodes`,
// the nodes directly under each drawn domain.
void MermaidDomain(const View& view, std::size_t d, int deepest, bool with_nodes,
                   std::string& out) {
  const DomainView& domain = view.domains[d];
  for (std::size_t c : domain.children) {
    const DomainView& child = view.domains[c];
    if (child.level > deepest) continue;
    out += "  d" + std::to_string(c) + "[\"" +
           MermaidText(LevelName(view.levels[static_cast<std::size_t>(child.level)]) + ": " +
                       child.name) +
           MermaidCapacity(child.capacity, false) + "\"]";
    if (child.capacity.healthy < child.capacity.nodes) out += ":::degraded";
    out += "\n  d" + std::to_string(d) + " --> d" + std::to_string(c) + "\n";
    MermaidDomain(view, c, deepest, with_nodes, out);
  }
  if (!with_nodes) return;
  for (std::size_t n : domain.nodes) {
    const NodeView& node = view.nodes[n];
    out += "  n" + std::to_string(n) + "[\"" + MermaidText(node.name);
    if (!node.instance_type.empty()) out += "<br/>" + MermaidText(node.instance_type);
    out += MermaidCapacity(node.capacity, true);
    for (const std::string& p : node.problems) out += "<br/>" + MermaidText(p);
    out += "\"]";
    if (!node.healthy) out += ":::unhealthy";
    out += "\n  d" + std::to_string(d) + " --> n" + std::to_string(n) + "\n";
  }
}

}  // namespace

std::string RenderText(const View& view, const RenderOptions& options) {
  std::string out;
  const Capacity& all = view.domains[0].capacity;
  if (options.tree) {
    out += "free/total of each accelerator and of pod slots; ok: healthy nodes\n";
    Wrap("", "cluster  " + TextCapacity(all, false), out);
    std::vector<TextLine> lines;
    TextTree(view, 0, "", lines);
    // The figures' column: where the most lines fit aligned (ties: the narrowest). A line whose
    // name is longer, or whose figures do not fit there, is not aligned.
    std::vector<std::size_t> cols(lines.size()), right(lines.size());
    std::vector<std::size_t> candidates;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      cols[i] = Columns(lines[i].left);
      right[i] = Columns(lines[i].right);
      candidates.push_back(cols[i]);
    }
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    std::size_t width = 0, best = 0;
    for (std::size_t w : candidates) {
      std::size_t aligned = 0;
      for (std::size_t i = 0; i < lines.size(); ++i) {
        aligned += cols[i] <= w && w + 2 + right[i] <= kTextColumns ? 1 : 0;
      }
      if (aligned > best) {
        best = aligned;
        width = w;
      }
    }
    // Figures in a column where they fit, right after the name where only that fits, else on
    // a line of their own below it.
    for (const TextLine& l : lines) {
      const std::size_t cols = Columns(l.left);
      const std::size_t right = Columns(l.right);
      if (cols <= width && width + 2 + right <= kTextColumns) {
        out += l.left + std::string(width - cols, ' ') + "  " + l.right + "\n";
      } else if (cols + 2 + right <= kTextColumns) {
        out += l.left + "  " + l.right + "\n";
      } else {
        out += Fit(l.left) + "\n";
        Wrap(l.note_prefix, l.right, out);
      }
      if (!l.note.empty()) Wrap(l.note_prefix, l.note, out);
    }
  }
  if (options.jobs) {
    if (options.tree) out += "\n";
    TextJobs(view, out);
  }
  return out;
}

std::string RenderJson(const View& view, const RenderOptions& options) {
  std::string out = "{\"levels\":";
  JsonStrings(view.levels, out);
  if (options.tree) {
    out += ",\"cluster\":";
    JsonDomain(view, 0, out);
  }
  if (options.jobs) {
    out += ",\"jobs\":[";
    for (std::size_t i = 0; i < view.jobs.size(); ++i) {
      if (i > 0) out += ',';
      JsonJob(view, view.jobs[i], out);
    }
    out += ']';
  }
  out += "}\n";
  return out;
}

std::string RenderMermaid(const View& view, const RenderOptions& /*options: the tree alone*/) {
  // Mermaid refuses a chart past its default maxEdges (500) or maxTextSize (50,000): draw every
  // level (and the nodes, up to kMermaidNodeLimit) when that fits, else the levels from the top
  // that do, with a comment line saying where the chart stops.
  const int levels = static_cast<int>(view.levels.size());
  auto render = [&](int deepest, bool with_nodes) {
    std::string out = "flowchart TD\n";
    if (deepest + 1 < levels) {
      out +=
          "  %% down to " +
          (deepest < 0 ? std::string("the cluster")
                       : MermaidText(LevelName(view.levels[static_cast<std::size_t>(deepest)]))) +
          " only: a chart of the levels below is larger than Mermaid renders\n";
    }
    out += "  d0[\"cluster" + MermaidCapacity(view.domains[0].capacity, false) + "\"]\n";
    MermaidDomain(view, 0, deepest, with_nodes, out);
    out += "  classDef unhealthy fill:#f4c7c3,stroke:#b3261e\n";
    out += "  classDef degraded stroke:#b3261e,stroke-width:2px\n";
    return out;
  };
  auto fits = [](const std::string& chart) {
    std::size_t edges = 0;
    for (std::size_t at = chart.find(" --> "); at != std::string::npos;
         at = chart.find(" --> ", at + 1)) {
      ++edges;
    }
    return edges <= kMermaidEdgeLimit && chart.size() <= kMermaidTextLimit;
  };
  std::string chart = render(levels - 1, view.nodes.size() <= kMermaidNodeLimit);
  for (int deepest = levels - 1; !fits(chart) && deepest >= 0; --deepest) {
    chart = render(deepest, false);
  }
  return chart;
}

}  // namespace hyperplace::inspect
