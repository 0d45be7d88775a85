#include "ui/common/lineage_view.h"

#include <functional>
#include <set>

#include <fmt/format.h>

#include "ui/common/text_table.h"

namespace alambic {

namespace {

constexpr size_t kShortVersion = 12;
constexpr size_t kShortRun = 8;

std::string NodeLabel(const LineageNode& n) {
  std::string s = n.dataset;
  if (!n.column.empty()) s += "." + n.column;
  s += "@" + n.version_id.substr(0, kShortVersion);
  return s;
}

std::string NodeDetails(const LineageNode& n) {
  if (n.recipe.empty()) return "(version no longer recorded)";
  std::string s = fmt::format("{}/{}, run {}", n.flow, n.recipe, n.run_id.substr(0, kShortRun));
  if (!n.git_commit.empty())
    s += fmt::format(", commit {}{}", n.git_commit.substr(0, kShortRun),
                     n.git_dirty ? "+dirty" : "");
  if (!n.current) s += ", not current";
  return "(" + s + ")";
}

std::string DotQuote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string LineageText(const LineageGraph& g) {
  if (g.nodes.empty()) return "";
  const bool up = g.direction == LineageDirection::kUpstream;
  // Children in the tree: the nodes one step further in the asked direction.
  std::vector<std::vector<std::pair<int, std::string>>> children(g.nodes.size());
  for (const auto& e : g.edges) {
    int parent = up ? e.to : e.from, child = up ? e.from : e.to;
    children[static_cast<size_t>(parent)].emplace_back(child, e.transform);
  }
  std::string out;
  std::set<int> printed;
  std::function<void(int, int, const std::string&)> print = [&](int n, int level,
                                                                const std::string& transform) {
    const LineageNode& node = g.nodes[static_cast<size_t>(n)];
    std::string line(static_cast<size_t>(level) * 2, ' ');
    if (level > 0) line += up ? "<- " : "-> ";
    line += Printable(NodeLabel(node));
    if (!transform.empty()) line += " [" + Printable(transform) + "]";
    const bool again = !printed.insert(n).second;
    line += "  " + (again ? std::string("(see above)") : Printable(NodeDetails(node)));
    out += line + "\n";
    if (again) return;
    for (const auto& [c, t] : children[static_cast<size_t>(n)]) print(c, level + 1, t);
  };
  print(0, 0, "");
  return out;
}

std::string LineageDot(const LineageGraph& g) {
  std::string out = "digraph lineage {\n  rankdir=LR;\n  node [shape=box];\n";
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const LineageNode& n = g.nodes[i];
    std::string label = NodeLabel(n);
    if (!n.recipe.empty()) label += "\n" + n.flow + "/" + n.recipe;
    out += fmt::format("  n{} [label={}{}];\n", i, DotQuote(label), i == 0 ? ", style=bold" : "");
  }
  for (const auto& e : g.edges)
    out += fmt::format("  n{} -> n{}{};\n", e.from, e.to,
                       e.transform.empty() ? "" : " [label=" + DotQuote(e.transform) + "]");
  return out + "}\n";
}

}  // namespace alambic
