#include "core/flow/validate.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

#include "core/plan/graph.h"
#include "core/table/expr.h"

namespace alambic {
namespace {

// `name` with control characters shown as \xHH, for messages.
std::string EscapeName(std::string_view name) {
  std::string out;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      out += fmt::format("\\x{:02x}", u);
    else
      out.push_back(c);
  }
  return out;
}

bool HasType(const nlohmann::json& v, ParamType t) {
  switch (t) {
    case ParamType::kString:
      return v.is_string();
    case ParamType::kInt:
      return v.is_number_integer();
    case ParamType::kNumber:
      return v.is_number();
    case ParamType::kBool:
      return v.is_boolean();
    case ParamType::kStringList:
      return v.is_array() &&
             std::all_of(v.begin(), v.end(), [](const auto& e) { return e.is_string(); });
    case ParamType::kMap:
      return v.is_object();
    case ParamType::kList:
      return v.is_array();
    case ParamType::kAny:
      return true;
  }
  return false;
}

std::string Describe(const nlohmann::json& v) {
  if (v.is_string()) return fmt::format("the string \"{}\"", v.get<std::string>());
  if (v.is_boolean()) return fmt::format("the boolean {}", v.dump());
  if (v.is_number()) return fmt::format("the number {}", v.dump());
  if (v.is_array()) return "a list";
  if (v.is_object()) return "a mapping";
  return "null";
}

std::string Join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

void CheckParams(const RecipeSpec& r, const RecipeKind& kind, std::vector<Diagnostic>* out) {
  const auto& specs = kind.params();
  auto loc_of = [&](const std::string& key) {
    auto it = r.param_locs.find(key);
    return it == r.param_locs.end() ? r.params_loc : it->second;
  };
  bool ok = true;
  for (const auto& [key, value] : r.params.items()) {
    // An init-capture: clang before 16 cannot capture a structured binding.
    auto spec = std::find_if(specs.begin(), specs.end(),
                             [&name = key](const ParamSpec& s) { return s.name == name; });
    if (spec == specs.end()) {
      std::vector<std::string> names;
      for (const auto& s : specs) names.push_back(s.name);
      out->push_back({loc_of(key), fmt::format("recipe {}: unknown parameter '{}' for kind {} ({})",
                                               r.name, key, kind.name(),
                                               names.empty() ? "it takes no parameters"
                                                             : "expected one of: " + Join(names))});
      ok = false;
    } else if (!HasType(value, spec->type)) {
      out->push_back(
          {loc_of(key), fmt::format("recipe {}: parameter '{}' must be {}, got {}", r.name, key,
                                    ParamTypeName(spec->type), Describe(value))});
      ok = false;
    }
  }
  for (const auto& s : specs)
    if (s.required && !r.params.contains(s.name)) {
      out->push_back(
          {r.params_loc, fmt::format("recipe {}: missing required parameter '{}' for kind {}",
                                     r.name, s.name, kind.name())});
      ok = false;
    }
  if (!ok) return;
  Status st = kind.CheckParams(r.params);
  if (!st.ok()) {
    // Point at the parameter the message names, when it names one.
    SourceLoc loc = r.params_loc;
    for (const auto& [key, l] : r.param_locs)
      if (st.message().find("'" + key + "'") != std::string::npos) loc = l;
    out->push_back({loc, fmt::format("recipe {}: {}", r.name, st.message())});
  }
}

// Output lists up to this long are checked for repeats without a set.
constexpr size_t kShortList = 16;

std::string CountRule(int lo, int hi, const char* what) {
  if (hi == lo) return fmt::format("exactly {} {}", lo, what);
  if (hi < 0) return fmt::format("at least {} {}", lo, what);
  if (lo == 0) return fmt::format("at most {} {}", hi, what);
  return fmt::format("between {} and {} {}", lo, hi, what);
}

// Why `name` (of a flow, recipe or dataset, which become file and directory
// names) is not allowed, or "" when it is: it must be 1 to 200 bytes, hold no
// '/', '\\' or control character, and not start with '.' (no "..", no hidden
// files beside the store's own).
std::string BadName(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > 200) return "is longer than 200 bytes";
  if (name.front() == '.') return "starts with '.'";
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == '\\') return "holds a path separator";
    if (u < 0x20 || u == 0x7f) return "holds a control character";
  }
  return "";
}

void CheckName(const SourceLoc& loc, std::string_view what, const std::string& name,
               std::vector<Diagnostic>* out) {
  if (std::string why = BadName(name); !why.empty())
    out->push_back({loc, fmt::format("{} name '{}' {}: names may not be empty, start with '.' or "
                                     "hold '/', '\\' or control characters",
                                     what, EscapeName(name), why)});
}

}  // namespace

std::vector<Diagnostic> ValidateWorkspace(const Workspace& ws, const RecipeRegistry& kinds,
                                          const DatasetSchemas& current, const FlowGraph* graph) {
  std::vector<Diagnostic> out;
  size_t recipes = 0;
  for (const auto& flow : ws.flows) recipes += flow.recipes.size();
  // Dataset -> its first producer; names point into `ws`.
  std::unordered_map<std::string_view, const RecipeSpec*> producer;
  producer.reserve(recipes);
  // The last kind looked up: consecutive recipes often share theirs.
  const std::string* last_kind_name = nullptr;
  const RecipeKind* last_kind = nullptr;
  for (const auto& flow : ws.flows) {
    CheckName({flow.file, 1, 1}, "flow", flow.name, &out);
    for (const auto& r : flow.recipes) {
      if (!r.name.empty()) CheckName(r.loc, "recipe", r.name, &out);
      for (size_t i = 0; i < r.outputs.size(); ++i)
        CheckName(i < r.output_locs.size() ? r.output_locs[i] : r.loc, "dataset", r.outputs[i],
                  &out);
    }
    for (const auto& [name, ds] : flow.datasets) CheckName(ds.loc, "dataset", name, &out);
    std::unordered_map<std::string_view, const RecipeSpec*> names;
    names.reserve(flow.recipes.size());
    for (const auto& r : flow.recipes) {
      if (r.name.empty()) continue;
      auto [it, inserted] = names.emplace(r.name, &r);
      if (!inserted)
        out.push_back({r.loc, fmt::format("duplicate recipe name '{}' in flow {} (first at {})",
                                          r.name, flow.name, it->second->loc.ToString())});
      if (!last_kind_name || *last_kind_name != r.kind) {
        last_kind_name = &r.kind;
        last_kind = kinds.Find(r.kind);
      }
      const RecipeKind* kind = last_kind;
      if (!kind && !r.kind.empty()) {
        out.push_back(
            {r.kind_loc, fmt::format("recipe {}: unknown recipe kind '{}' (known kinds: {})",
                                     r.name, r.kind, Join(kinds.Names()))});
      } else if (kind) {
        CheckParams(r, *kind, &out);
        const int ni = static_cast<int>(r.inputs.size()), no = static_cast<int>(r.outputs.size());
        if (ni < kind->min_inputs() || (kind->max_inputs() >= 0 && ni > kind->max_inputs()))
          out.push_back(
              {r.loc,
               fmt::format("recipe {}: kind {} takes {}, got {}", r.name, r.kind,
                           CountRule(kind->min_inputs(), kind->max_inputs(), "inputs"), ni)});
        if (no < kind->min_outputs() || (kind->max_outputs() >= 0 && no > kind->max_outputs()))
          out.push_back(
              {r.loc,
               fmt::format("recipe {}: kind {} makes {}, got {}", r.name, r.kind,
                           CountRule(kind->min_outputs(), kind->max_outputs(), "outputs"), no)});
      }
      std::set<std::string_view> own;  // only for long output lists
      for (size_t i = 0; i < r.outputs.size(); ++i) {
        const auto& d = r.outputs[i];
        const SourceLoc& loc = i < r.output_locs.size() ? r.output_locs[i] : r.loc;
        const bool twice =
            r.outputs.size() <= kShortList
                ? std::find(r.outputs.begin(), r.outputs.begin() + static_cast<std::ptrdiff_t>(i),
                            d) != r.outputs.begin() + static_cast<std::ptrdiff_t>(i)
                : !own.insert(d).second;
        if (twice) {
          out.push_back({loc, fmt::format("recipe {}: output '{}' is listed twice", r.name, d)});
          continue;
        }
        auto [pit, fresh] = producer.emplace(d, &r);
        if (!fresh)
          out.push_back(
              {loc, fmt::format("dataset '{}' is produced by two recipes: {} ({}) and {}", d,
                                pit->second->name, pit->second->loc.ToString(), r.name)});
      }
      if (kind && kind->requires_script() && r.script.empty())
        out.push_back(
            {r.loc, fmt::format("recipe {}: kind {} needs a script (script: recipes/{}.lua)",
                                r.name, r.kind, r.name)});
      if (!r.script.empty()) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(ws.root / r.script, ec))
          out.push_back(
              {r.loc, fmt::format("recipe {}: script '{}' does not exist", r.name, r.script)});
      }
    }
  }
  std::vector<std::string> produced;  // for "did you mean", only when needed
  for (const auto& flow : ws.flows)
    for (const auto& r : flow.recipes)
      for (size_t i = 0; i < r.inputs.size(); ++i)
        if (!producer.count(r.inputs[i])) {
          if (produced.empty()) {
            for (const auto& entry : producer) produced.emplace_back(entry.first);
            std::sort(produced.begin(), produced.end());
          }
          const std::string close = ClosestName(r.inputs[i], produced);
          out.push_back(
              {i < r.input_locs.size() ? r.input_locs[i] : r.loc,
               fmt::format("recipe {}: unknown input dataset '{}' (no recipe produces it{})",
                           r.name, r.inputs[i],
                           close.empty() ? "" : "; did you mean '" + close + "'?")});
        }
  for (const auto& flow : ws.flows)
    for (const auto& [name, ds] : flow.datasets)
      if (!producer.count(name))
        out.push_back(
            {ds.loc, fmt::format("dataset '{}' is declared but no recipe produces it", name)});

  std::optional<FlowGraph> own;
  if (!graph) graph = &own.emplace(ws);
  const FlowGraph& g = *graph;
  std::vector<int> cycle = g.FindCycle();
  if (!cycle.empty()) {
    std::string text = g.node(cycle[0]).recipe->name;
    for (size_t i = 1; i < cycle.size(); ++i) {
      const RecipeSpec& from = *g.node(cycle[i - 1]).recipe;
      const RecipeSpec& to = *g.node(cycle[i]).recipe;
      std::string via;
      for (const auto& o : from.outputs)
        if (std::find(to.inputs.begin(), to.inputs.end(), o) != to.inputs.end()) via = o;
      text += fmt::format(" -[{}]-> {}", via, to.name);
    }
    out.push_back({g.node(cycle[0]).recipe->loc, "cycle: " + text});
  }
  if (out.empty()) out = TypeCheckWorkspace(ws, kinds, current, &g);
  std::stable_sort(out.begin(), out.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.loc.file, a.loc.line, a.loc.column) <
           std::tie(b.loc.file, b.loc.line, b.loc.column);
  });
  return out;
}

}  // namespace alambic
