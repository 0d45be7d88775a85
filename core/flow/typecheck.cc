#include "core/flow/typecheck.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "core/plan/graph.h"
#include "core/table/expr.h"

namespace alambic {
namespace {

using json = nlohmann::json;

// What is known of a dataset's schema: every column (complete), or only some
// of them (a collect's `schema` types: the file may hold more).
struct Known {
  Schema schema;
  bool complete = true;
};
using MaybeKnown = std::optional<Known>;

// Columns listed in an "unknown column" message.
constexpr size_t kMaxListed = 10;

std::string Names(const Schema& s) {
  std::string out;
  for (size_t k = 0; k < s.fields.size() && k < kMaxListed; ++k)
    out += (k ? ", " : "") + s.fields[k].name;
  if (s.fields.size() > kMaxListed) out += ", …";
  return out.empty() ? "none" : out;
}

std::vector<std::string> NameList(const Schema& s) {
  std::vector<std::string> out;
  for (const auto& f : s.fields) out.push_back(f.name);
  return out;
}

// A string or a list of strings (else empty).
std::vector<std::string> StringOrList(const json& v) {
  std::vector<std::string> out;
  if (v.is_string()) out.push_back(v.get<std::string>());
  if (v.is_array())
    for (const auto& e : v)
      if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

bool IsNumberLike(TypeId t) {
  return t == TypeId::kInt64 || t == TypeId::kFloat64 || t == TypeId::kBool;
}

class Checker {
 public:
  Checker(const Workspace& ws, const RecipeRegistry& kinds, const DatasetSchemas& current,
          std::vector<Diagnostic>* out)
      : ws_(ws), kinds_(kinds), current_(current), out_(out) {}

  // `graph`: the workspace's, if already built.
  void Run(const FlowGraph* graph) {
    std::optional<FlowGraph> own;
    if (!graph) graph = &own.emplace(ws_);
    const FlowGraph& g = *graph;
    if (!g.FindCycle().empty()) return;  // reported by ValidateWorkspace
    std::vector<const RecipeSpec*> order;
    for (int i : g.TopologicalOrder()) order.push_back(g.node(i).recipe);
    for (const RecipeSpec* r : order) Check(*r);
  }

 private:
  void Report(const RecipeSpec& r, const std::string& param, const std::string& msg) {
    auto it = r.param_locs.find(param);
    const SourceLoc& loc = it == r.param_locs.end() ? r.params_loc : it->second;
    out_->push_back({loc, fmt::format("recipe {}: param '{}': {}", r.name, param, msg)});
  }

  MaybeKnown Input(const RecipeSpec& r, size_t i) const {
    if (i >= r.inputs.size()) return std::nullopt;
    auto it = known_.find(r.inputs[i]);
    if (it == known_.end()) return std::nullopt;
    return it->second;
  }

  void SetOutput(const RecipeSpec& r, size_t i, MaybeKnown k) {
    if (i >= r.outputs.size()) return;
    const std::string& name = r.outputs[i];
    // The current version's schema is what downstream recipes read today;
    // a declared or derived one only where there is no version.
    if (auto it = current_.find(name); it != current_.end()) {
      known_[name] = Known{it->second, true};
      return;
    }
    if (k)
      known_[name] = std::move(*k);
    else
      known_.erase(name);
  }

  // Whether `col` is in `k`; when it is not and `k` is complete, reports it.
  bool HasColumn(const RecipeSpec& r, const std::string& param, const Known& k,
                 const std::string& col, const std::string& input) {
    if (k.schema.FieldIndex(col) >= 0) return true;
    if (k.complete) {
      const std::string close = ClosestName(col, NameList(k.schema));
      Report(r, param,
             fmt::format("column '{}' not in input '{}' ({}columns: {})", col, input,
                         close.empty() ? "" : "did you mean '" + close + "'? ", Names(k.schema)));
    }
    return false;
  }

  // Type-checks `text` against `k`: its type, or nullopt (unknown, or an error
  // reported). With a partial schema, only expressions whose columns are all
  // known are checked.
  std::optional<TypeId> Expression(const RecipeSpec& r, const std::string& param,
                                   const std::string& what, const std::string& text,
                                   const Known& k) {
    auto e = ParseExpr(text);
    if (!e.ok()) return std::nullopt;  // syntax: reported by the kind's own checks
    if (!k.complete)
      for (const auto& c : e->columns())
        if (k.schema.FieldIndex(c) < 0) return std::nullopt;
    auto t = Compile(*e, k.schema);
    if (!t.ok()) {
      Report(r, param, what + t.status().message());
      return std::nullopt;
    }
    return t->type();
  }

  void Check(const RecipeSpec& r) {
    const RecipeKind* kind = kinds_.Find(r.kind);
    std::vector<MaybeKnown> outs(r.outputs.size());
    if (kind && r.inputs.size() >= static_cast<size_t>(std::max(kind->min_inputs(), 0))) {
      const json& p = r.params;
      if (r.kind == "collect") {
        outs = {Collect(p)};
      } else if (r.kind == "formula") {
        outs = {Formula(r, p)};
      } else if (r.kind == "filter") {
        outs = {Filter(r, p)};
      } else if (r.kind == "group") {
        outs = {Group(r, p)};
      } else if (r.kind == "join") {
        outs = Join(r, p);
      } else if (r.kind == "sort") {
        outs = {Sort(r, p)};
      } else if (r.kind == "distinct") {
        outs = {Columns(r, p, "columns")};
      } else if (r.kind == "check" || r.kind == "sync") {
        outs = {Input(r, 0)};
      }
    }
    outs.resize(r.outputs.size());
    for (size_t i = 0; i < r.outputs.size(); ++i) SetOutput(r, i, outs[i]);
  }

  // A collect's `schema: {column: type}` param: those columns, maybe more.
  static MaybeKnown Collect(const json& p) {
    auto it = p.find("schema");
    if (it == p.end() || !it->is_object() || it->empty()) return std::nullopt;
    Known k;
    k.complete = false;
    for (const auto& [name, spec] : it->items()) {
      // "type", or {type: ..., format: ...}
      const json& type = spec.is_object() ? spec.value("type", json()) : spec;
      if (!type.is_string()) continue;
      auto t = ParseTypeName(type.get<std::string>());
      if (t.ok()) k.schema.fields.push_back({name, *t});
    }
    return k;
  }

  MaybeKnown Formula(const RecipeSpec& r, const json& p) {
    MaybeKnown in = Input(r, 0);
    // Lua functions: their result types are known only when they run.
    if (!in || p.contains("functions")) return std::nullopt;
    auto it = p.find("columns");
    if (it == p.end()) return std::nullopt;
    std::vector<std::pair<std::string, std::string>> cols;
    const bool listed = it->is_array();
    if (it->is_object()) {
      for (const auto& [name, e] : it->items())
        if (e.is_string()) cols.push_back({name, e.get<std::string>()});
    } else if (listed) {
      for (const auto& m : *it)
        if (m.is_object() && m.size() == 1 && m.begin()->is_string())
          cols.push_back({m.begin().key(), m.begin()->get<std::string>()});
    } else {
      return std::nullopt;
    }
    Known k = *in;
    auto set = [&](const std::string& name, std::optional<TypeId> t) {
      const int idx = k.schema.FieldIndex(name);
      if (t) {
        if (idx >= 0)
          k.schema.fields[static_cast<size_t>(idx)].type = *t;
        else
          k.schema.fields.push_back({name, *t});
      } else {
        // Unknown type: the column is no longer known.
        if (idx >= 0) k.schema.fields.erase(k.schema.fields.begin() + idx);
        k.complete = false;
      }
    };
    auto check = [&](const std::string& name, const std::string& text) {
      set(name, Expression(r, "columns", fmt::format("column '{}': ", name), text, k));
    };
    if (listed) {
      for (const auto& [name, text] : cols) check(name, text);
      return k;
    }
    // A mapping: each column after the computed columns it uses.
    std::set<std::string> pending;
    for (const auto& c : cols) pending.insert(c.first);
    std::vector<std::vector<std::string>> uses(cols.size());
    for (size_t i = 0; i < cols.size(); ++i)
      if (auto e = ParseExpr(cols[i].second); e.ok()) uses[i] = e->columns();
    std::vector<bool> done(cols.size(), false);
    for (bool progress = true; progress;) {
      progress = false;
      for (size_t i = 0; i < cols.size(); ++i) {
        if (done[i]) continue;
        bool ready = true;
        for (const auto& u : uses[i])
          if (u != cols[i].first && pending.count(u)) ready = false;
        if (!ready) continue;
        check(cols[i].first, cols[i].second);
        pending.erase(cols[i].first);
        done[i] = progress = true;
      }
    }
    if (!pending.empty()) return std::nullopt;  // a cycle: the recipe reports it
    return k;
  }

  MaybeKnown Filter(const RecipeSpec& r, const json& p) {
    MaybeKnown in = Input(r, 0);
    if (!in) return std::nullopt;
    if (auto w = p.find("where"); w != p.end() && w->is_string()) {
      auto t = Expression(r, "where", "", w->get<std::string>(), *in);
      if (t && *t != TypeId::kBool)
        Report(r, "where", fmt::format("the condition must be bool, got {}", TypeName(*t)));
    }
    return Keep(r, p, "keep", *in);
  }

  // The input restricted to the columns listed in `param` (all when absent).
  MaybeKnown Keep(const RecipeSpec& r, const json& p, const char* param, const Known& in) {
    auto it = p.find(param);
    if (it == p.end()) return in;
    Known k;
    k.complete = in.complete;
    for (const auto& c : StringOrList(*it)) {
      if (!HasColumn(r, param, in, c, r.inputs[0])) {
        if (in.complete) return std::nullopt;
        continue;
      }
      k.schema.fields.push_back(in.schema.fields[static_cast<size_t>(in.schema.FieldIndex(c))]);
    }
    return k;
  }

  MaybeKnown Columns(const RecipeSpec& r, const json& p, const char* param) {
    MaybeKnown in = Input(r, 0);
    if (!in) return std::nullopt;
    if (auto it = p.find(param); it != p.end())
      for (const auto& c : StringOrList(*it)) HasColumn(r, param, *in, c, r.inputs[0]);
    return in;
  }

  MaybeKnown Sort(const RecipeSpec& r, const json& p) {
    MaybeKnown in = Input(r, 0);
    if (!in) return std::nullopt;
    auto it = p.find("by");
    if (it == p.end()) return in;
    json by = it->is_array() ? *it : json::array({*it});
    for (const auto& e : by) {
      std::string c;
      if (e.is_string()) {
        c = e.get<std::string>();
        if (!c.empty() && (c[0] == '-' || c[0] == '+') && in->schema.FieldIndex(c) < 0)
          c = c.substr(1);
      } else if (e.is_object() && e.contains("column") && e["column"].is_string()) {
        c = e["column"].get<std::string>();
      }
      if (!c.empty()) HasColumn(r, "by", *in, c, r.inputs[0]);
    }
    return in;
  }

  MaybeKnown Group(const RecipeSpec& r, const json& p) {
    MaybeKnown in = Input(r, 0);
    if (!in) return std::nullopt;
    Known out;
    out.complete = in->complete;
    if (auto it = p.find("keys"); it != p.end())
      for (const auto& c : StringOrList(*it)) {
        if (HasColumn(r, "keys", *in, c, r.inputs[0]))
          out.schema.fields.push_back(
              in->schema.fields[static_cast<size_t>(in->schema.FieldIndex(c))]);
        else
          out.complete = false;
      }
    auto it = p.find("aggregates");
    if (it == p.end() || !it->is_array()) return out;
    for (const auto& a : *it) {
      if (!a.is_object() || !a.contains("name") || !a["name"].is_string() || !a.contains("fn") ||
          !a["fn"].is_string()) {
        out.complete = false;
        continue;
      }
      const std::string name = a["name"].get<std::string>();
      const std::string fn = a["fn"].get<std::string>();
      const std::string what = fmt::format("'{}': ", name);
      if (auto w = a.find("where"); w != a.end() && w->is_string()) {
        auto t = Expression(r, "aggregates", what + "where: ", w->get<std::string>(), *in);
        if (t && *t != TypeId::kBool)
          Report(r, "aggregates",
                 fmt::format("{}where: the condition must be bool, got {}", what, TypeName(*t)));
      }
      std::optional<TypeId> input;
      std::string source;
      bool has_input = false;
      if (auto c = a.find("column"); c != a.end() && c->is_string()) {
        has_input = true;
        source = c->get<std::string>();
        if (HasColumn(r, "aggregates", *in, source, r.inputs[0]))
          input = in->schema.fields[static_cast<size_t>(in->schema.FieldIndex(source))].type;
      } else if (auto e = a.find("expr"); e != a.end() && e->is_string()) {
        has_input = true;
        source = e->get<std::string>();
        input = Expression(r, "aggregates", what, source, *in);
      }
      std::optional<TypeId> result;
      if (fn == "count" || fn == "count_distinct" || fn == "nunique") {
        result = TypeId::kInt64;
      } else if (fn == "sum" || fn == "mean" || fn == "avg" || fn == "stddev" || fn == "std" ||
                 fn == "median") {
        if (input && !IsNumberLike(*input))
          Report(r, "aggregates",
                 fmt::format("{}{} needs numbers, but '{}' is {}", what, fn, source,
                             TypeName(*input)));
        else if (input && fn == "sum")
          result = *input == TypeId::kBool ? TypeId::kInt64 : *input;
        else if (input)
          result = TypeId::kFloat64;
      } else if (fn == "min" || fn == "max" || fn == "first" || fn == "last") {
        result = input;
      }
      if (!has_input && fn != "count") result.reset();
      if (result)
        out.schema.fields.push_back({name, *result});
      else
        out.complete = false;
    }
    return out;
  }

  std::vector<MaybeKnown> Join(const RecipeSpec& r, const json& p) {
    MaybeKnown left = Input(r, 0), right = Input(r, 1);
    std::vector<MaybeKnown> none(r.outputs.size());
    if (r.inputs.size() != 2) return none;
    const bool same_names = p.contains("on");
    const std::string lparam = same_names ? "on" : "left_on";
    const std::string rparam = same_names ? "on" : "right_on";
    std::vector<std::string> lkeys = StringOrList(p.value(lparam, json()));
    std::vector<std::string> rkeys = StringOrList(p.value(rparam, json()));
    if (lkeys.size() != rkeys.size() || lkeys.empty()) return none;
    bool keys_ok = true;
    for (size_t k = 0; k < lkeys.size(); ++k) {
      const bool in_l = left && HasColumn(r, lparam, *left, lkeys[k], r.inputs[0]);
      const bool in_r = right && HasColumn(r, rparam, *right, rkeys[k], r.inputs[1]);
      if (!in_l || !in_r) {
        keys_ok = false;
        continue;
      }
      const TypeId lt =
          left->schema.fields[static_cast<size_t>(left->schema.FieldIndex(lkeys[k]))].type;
      const TypeId rt =
          right->schema.fields[static_cast<size_t>(right->schema.FieldIndex(rkeys[k]))].type;
      if (lt != rt) {
        keys_ok = false;
        // Retype the other side as text when one side is text (codes read as
        // numbers lose their leading zeros), a float side as int64, else the right.
        const bool fix_right = lt == TypeId::kUtf8      ? true
                               : rt == TypeId::kUtf8    ? false
                               : rt == TypeId::kFloat64 ? true
                               : lt == TypeId::kFloat64 ? false
                                                        : true;
        const std::string& ds = fix_right ? r.inputs[1] : r.inputs[0];
        const std::string& col = fix_right ? rkeys[k] : lkeys[k];
        const TypeId want = fix_right ? lt : rt;
        Report(r, lparam,
               fmt::format("key '{}' is {} in input '{}' but key '{}' is {} in input '{}' (declare "
                           "the type where '{}' is collected: schema: {{{}: {}}})",
                           lkeys[k], TypeName(lt), r.inputs[0], rkeys[k], TypeName(rt), r.inputs[1],
                           ds, col, TypeName(want)));
      }
    }
    if (!keys_ok || !left || !right || !left->complete || !right->complete) return none;
    auto str = [&](const char* key, const char* fallback) {
      auto it = p.find(key);
      return it != p.end() && it->is_string() ? it->get<std::string>() : std::string(fallback);
    };
    const std::string type = str("type", "inner");
    std::string lsuffix, rsuffix = "_right";
    if (auto s = p.find("suffixes"); s != p.end() && s->is_array() && s->size() == 2 &&
                                     (*s)[0].is_string() && (*s)[1].is_string()) {
      lsuffix = (*s)[0].get<std::string>();
      rsuffix = (*s)[1].get<std::string>();
    }
    const std::string prefix = str("right_prefix", "");
    const Schema& ls = left->schema;
    const Schema& rs = right->schema;
    const bool with_right = type != "anti" && type != "semi";
    auto is_key = [&](const std::vector<std::string>& keys, const std::string& c) {
      return same_names && std::find(keys.begin(), keys.end(), c) != keys.end();
    };
    std::set<std::string> left_names, right_names;
    for (const auto& f : ls.fields) left_names.insert(f.name);
    std::vector<std::string> rnames(rs.fields.size());
    if (with_right)
      for (size_t j = 0; j < rs.fields.size(); ++j) {
        if (is_key(rkeys, rs.fields[j].name)) continue;
        rnames[j] = prefix + rs.fields[j].name;
        right_names.insert(rnames[j]);
      }
    Known out;
    for (const auto& f : ls.fields) {
      Field o = f;
      if (!is_key(lkeys, f.name) && right_names.count(f.name)) o.name += lsuffix;
      out.schema.fields.push_back(o);
    }
    if (with_right)
      for (size_t j = 0; j < rs.fields.size(); ++j) {
        if (rnames[j].empty()) continue;
        Field o = rs.fields[j];
        o.name = rnames[j];
        if (left_names.count(o.name)) o.name += rsuffix;
        out.schema.fields.push_back(o);
      }
    std::set<std::string> seen;
    for (const auto& f : out.schema.fields)
      if (!seen.insert(f.name).second) return none;  // the recipe reports the clash
    std::vector<MaybeKnown> outs{out};
    if (r.outputs.size() > 1) outs.push_back(left);
    return outs;
  }

  const Workspace& ws_;
  const RecipeRegistry& kinds_;
  const DatasetSchemas& current_;
  std::vector<Diagnostic>* out_;
  std::unordered_map<std::string, Known> known_;
};

}  // namespace

Result<DatasetSchemas> CurrentSchemas(Catalog& catalog, const std::string& env) {
  ALAMBIC_ASSIGN_OR_RETURN(auto current, catalog.CurrentVersions(env));
  DatasetSchemas out;
  for (const auto& c : current) {
    ALAMBIC_ASSIGN_OR_RETURN(auto v, catalog.FindVersion(env, c.dataset, c.version_id));
    if (!v) continue;
    const json fields = json::parse(v->schema, nullptr, false);
    if (!fields.is_array()) continue;
    Schema s;
    bool ok = true;
    for (const auto& f : fields) {
      if (!f.is_object() || !f.contains("name") || !f.contains("type") || !f["name"].is_string() ||
          !f["type"].is_string()) {
        ok = false;
        break;
      }
      auto t = ParseTypeName(f["type"].get<std::string>());
      if (!t.ok()) {
        ok = false;
        break;
      }
      s.fields.push_back({f["name"].get<std::string>(), *t});
    }
    if (ok) out[c.dataset] = std::move(s);
  }
  return out;
}

DatasetSchemas CurrentSchemasOf(const Workspace& ws, const std::string& env) {
  const std::filesystem::path path = ws.root / ".alambic" / "catalog.db";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return {};
  auto catalog = Catalog::OpenReader(path);
  if (!catalog.ok()) return {};
  auto schemas = CurrentSchemas(**catalog, env.empty() ? ws.config.default_environment : env);
  return schemas.ok() ? std::move(*schemas) : DatasetSchemas{};
}

std::vector<Diagnostic> TypeCheckWorkspace(const Workspace& ws, const RecipeRegistry& kinds,
                                           const DatasetSchemas& current, const FlowGraph* graph) {
  std::vector<Diagnostic> out;
  Checker(ws, kinds, current, &out).Run(graph);
  return out;
}

}  // namespace alambic
