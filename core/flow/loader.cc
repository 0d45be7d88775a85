#include "core/flow/loader.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace alambic {

std::string SourceLoc::ToString() const {
  if (line <= 0) return file;
  return fmt::format("{}:{}:{}", file, line, column);
}

const Flow* Workspace::FindFlow(const std::string& name) const {
  for (const auto& f : flows)
    if (f.name == name) return &f;
  return nullptr;
}

namespace {

class Reader {
 public:
  Reader(std::string file, std::vector<Diagnostic>* diags)
      : file_(std::move(file)), diags_(diags) {}

  SourceLoc Loc(const YAML::Node& n) const {
    YAML::Mark m = n.Mark();
    if (m.is_null()) return {file_, 0, 0};
    return {file_, m.line + 1, m.column + 1};
  }
  void Error(const YAML::Node& n, std::string msg) { diags_->push_back({Loc(n), std::move(msg)}); }
  void Error(SourceLoc loc, std::string msg) {
    diags_->push_back({std::move(loc), std::move(msg)});
  }

  // Iterates a mapping, reporting duplicate and unknown keys.
  template <typename Fn>
  void ForEachKey(const YAML::Node& map, const std::string& what,
                  const std::vector<std::string>& known, Fn&& fn) {
    if (!map.IsMap()) {
      Error(map, fmt::format("{} must be a mapping", what));
      return;
    }
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const std::string key = it->first.Scalar();
      if (!seen.insert(key).second) {
        Error(it->first, fmt::format("duplicate key '{}' in {}", key, what));
        continue;
      }
      if (!known.empty() && std::find(known.begin(), known.end(), key) == known.end()) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        Error(it->first,
              fmt::format("unknown key '{}' in {} (expected one of: {})", key, what, list));
        continue;
      }
      fn(key, it->first, it->second);
    }
  }

  bool String(const YAML::Node& n, const std::string& what, std::string* out) {
    if (!n.IsScalar()) {
      Error(n, fmt::format("{} must be a string", what));
      return false;
    }
    *out = n.Scalar();
    return true;
  }

  bool StringList(const YAML::Node& n, const std::string& what, std::vector<std::string>* out,
                  std::vector<SourceLoc>* locs = nullptr) {
    if (n.IsScalar()) {  // a single name is accepted for a one-element list
      out->push_back(n.Scalar());
      if (locs) locs->push_back(Loc(n));
      return true;
    }
    if (!n.IsSequence()) {
      Error(n, fmt::format("{} must be a list of names", what));
      return false;
    }
    for (const auto& e : n) {
      if (!e.IsScalar()) {
        Error(e, fmt::format("{} must be a list of names", what));
        return false;
      }
      out->push_back(e.Scalar());
      if (locs) locs->push_back(Loc(e));
    }
    return true;
  }

  bool Number(const YAML::Node& n, const std::string& what, double* out) {
    nlohmann::json j = ToJson(n);
    if (!j.is_number() || j.get<double>() < 0) {
      Error(n, fmt::format("{} must be a non-negative number", what));
      return false;
    }
    *out = j.get<double>();
    return true;
  }

  bool Int(const YAML::Node& n, const std::string& what, int* out) {
    nlohmann::json j = ToJson(n);
    if (!j.is_number_integer() || j.get<int64_t>() < 0 || j.get<int64_t>() > 1000) {
      Error(n, fmt::format("{} must be an integer between 0 and 1000", what));
      return false;
    }
    *out = j.get<int>();
    return true;
  }

  // YAML to JSON with YAML 1.2 core-schema typing of plain scalars; quoted
  // scalars are always strings.
  nlohmann::json ToJson(const YAML::Node& n) {
    switch (n.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar: {
        const std::string& s = n.Scalar();
        if (n.Tag() != "?") return s;  // quoted or explicitly tagged
        if (s == "~" || s == "null" || s == "Null" || s == "NULL" || s.empty()) return nullptr;
        if (s == "true" || s == "True" || s == "TRUE") return true;
        if (s == "false" || s == "False" || s == "FALSE") return false;
        int64_t i;
        auto r = std::from_chars(s.data(), s.data() + s.size(), i);
        if (r.ec == std::errc() && r.ptr == s.data() + s.size() && !(s.size() > 1 && s[0] == '0'))
          return i;
        double d;
        auto rd = std::from_chars(s.data(), s.data() + s.size(), d);
        if (rd.ec == std::errc() && rd.ptr == s.data() + s.size() &&
            s.find_first_of("0123456789") != std::string::npos &&
            s.find_first_of("xXpP") == std::string::npos)
          return d;
        return s;
      }
      case YAML::NodeType::Sequence: {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& e : n) arr.push_back(ToJson(e));
        return arr;
      }
      case YAML::NodeType::Map: {
        nlohmann::json obj = nlohmann::json::object();
        std::set<std::string> seen;
        for (auto it = n.begin(); it != n.end(); ++it) {
          std::string key = it->first.Scalar();
          if (!seen.insert(key).second) {
            Error(it->first, fmt::format("duplicate key '{}'", key));
            continue;
          }
          obj[key] = ToJson(it->second);
        }
        return obj;
      }
    }
    return nullptr;
  }

  void Policy(const std::string& key, const YAML::Node& v, ExecPolicy* p, const std::string& who) {
    if (key == "timeout") {
      double d;
      if (Number(v, who + " timeout (seconds)", &d)) p->timeout_seconds = d;
    } else if (key == "retries") {
      int i;
      if (Int(v, who + " retries", &i)) p->retries = i;
    } else if (key == "retry_backoff") {
      double d;
      if (Number(v, who + " retry_backoff (seconds)", &d)) p->retry_backoff_seconds = d;
    }
  }

 private:
  std::string file_;
  std::vector<Diagnostic>* diags_;
};

RecipeSpec ParseRecipe(Reader& r, const YAML::Node& node) {
  RecipeSpec rs;
  rs.loc = r.Loc(node);
  rs.params_loc = rs.loc;
  rs.kind_loc = rs.loc;
  const std::vector<std::string> known = {"name",          "kind",       "inputs",  "outputs",
                                          "params",        "script",     "timeout", "retries",
                                          "retry_backoff", "description"};
  r.ForEachKey(node, "recipe", known,
               [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
                 if (key == "name") {
                   r.String(v, "recipe name", &rs.name);
                 } else if (key == "kind") {
                   rs.kind_loc = r.Loc(v);
                   r.String(v, "recipe kind", &rs.kind);
                 } else if (key == "inputs") {
                   r.StringList(v, "inputs", &rs.inputs, &rs.input_locs);
                 } else if (key == "outputs") {
                   r.StringList(v, "outputs", &rs.outputs, &rs.output_locs);
                 } else if (key == "params") {
                   rs.params_loc = r.Loc(v);
                   if (v.IsNull()) return;
                   if (!v.IsMap()) {
                     r.Error(v, "params must be a mapping");
                     return;
                   }
                   rs.params = r.ToJson(v);
                   for (auto it = v.begin(); it != v.end(); ++it)
                     rs.param_locs[it->first.Scalar()] = r.Loc(it->second);
                 } else if (key == "script") {
                   r.String(v, "script", &rs.script);
                 } else if (key == "description") {
                   r.String(v, "description", &rs.description);
                 } else {
                   r.Policy(key, v, &rs.policy, "recipe");
                 }
               });
  if (rs.name.empty() && node.IsMap()) r.Error(node, "recipe has no name");
  if (rs.kind.empty() && node.IsMap() && !rs.name.empty())
    r.Error(node, fmt::format("recipe {} has no kind", rs.name));
  if (!rs.params.is_object()) rs.params = nlohmann::json::object();
  return rs;
}

DatasetSpec ParseDataset(Reader& r, const std::string& name, const YAML::Node& node) {
  DatasetSpec ds;
  ds.name = name;
  ds.loc = r.Loc(node);
  if (node.IsNull()) return ds;
  r.ForEachKey(node, fmt::format("dataset {}", name), {"description", "columns"},
               [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
                 if (key == "description") {
                   r.String(v, "description", &ds.description);
                   return;
                 }
                 r.ForEachKey(
                     v, fmt::format("columns of dataset {}", name), {},
                     [&](const std::string& col, const YAML::Node& k, const YAML::Node& cv) {
                       ColumnSpec cs;
                       cs.name = col;
                       cs.loc = r.Loc(k);
                       if (!cv.IsNull())
                         r.ForEachKey(
                             cv, fmt::format("column {}.{}", name, col), {"tags", "description"},
                             [&](const std::string& ck, const YAML::Node&, const YAML::Node& x) {
                               if (ck == "tags")
                                 r.StringList(x, "tags", &cs.tags);
                               else
                                 r.String(x, "description", &cs.description);
                             });
                       ds.columns.push_back(std::move(cs));
                     });
               });
  return ds;
}

}  // namespace

Flow ParseFlow(const std::string& text, const std::string& file, std::vector<Diagnostic>* diags) {
  Flow flow;
  flow.file = file;
  flow.loc = {file, 1, 1};
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    diags->push_back({{file, e.mark.line + 1, e.mark.column + 1}, e.msg});
    return flow;
  }
  Reader r(file, diags);
  if (!root.IsMap()) {
    diags->push_back(
        {{file, 1, 1}, "a flow file must be a mapping with keys flow, datasets, recipes"});
    return flow;
  }
  const std::vector<std::string> known = {"flow",       "usecase",      "description", "schedule",
                                          "partitions", "datasets",     "recipes",     "timeout",
                                          "retries",    "retry_backoff"};
  r.ForEachKey(
      root, "flow", known, [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) {
        if (key == "flow") {
          flow.loc = r.Loc(k);
          r.String(v, "flow name", &flow.name);
        } else if (key == "usecase") {
          r.String(v, "usecase", &flow.usecase);
        } else if (key == "description") {
          r.String(v, "description", &flow.description);
        } else if (key == "schedule") {
          Schedule s;
          s.loc = r.Loc(v);
          r.ForEachKey(
              v, "schedule", {"cron", "timezone", "catchup"},
              [&](const std::string& sk, const YAML::Node&, const YAML::Node& sv) {
                if (sk == "cron") {
                  if (r.String(sv, "schedule cron", &s.cron)) {
                    std::istringstream ss(s.cron);
                    int fields = 0;
                    for (std::string f; ss >> f;) ++fields;
                    if (fields != 5)
                      r.Error(sv, fmt::format("schedule cron '{}' must have 5 fields "
                                              "(minute hour day-of-month month day-of-week)",
                                              s.cron));
                  }
                } else if (sk == "timezone") {
                  r.String(sv, "schedule timezone", &s.timezone);
                } else if (r.String(sv, "schedule catchup", &s.catchup) && s.catchup != "latest" &&
                           s.catchup != "all" && s.catchup != "none") {
                  r.Error(sv, fmt::format("schedule catchup must be latest, all or none, not '{}'",
                                          s.catchup));
                }
              });
          if (s.cron.empty()) r.Error(v, "schedule has no cron expression");
          flow.schedule = s;
        } else if (key == "partitions") {
          Partitioning p;
          p.loc = r.Loc(v);
          r.ForEachKey(v, "partitions", {"by", "values"},
                       [&](const std::string& pk, const YAML::Node&, const YAML::Node& pv) {
                         if (pk == "by")
                           r.String(pv, "partitions by", &p.by);
                         else
                           r.StringList(pv, "partition values", &p.values);
                       });
          if (p.by.empty()) r.Error(v, "partitions has no 'by'");
          flow.partitioning = p;
        } else if (key == "datasets") {
          r.ForEachKey(v, "datasets", {},
                       [&](const std::string& name, const YAML::Node&, const YAML::Node& dv) {
                         flow.datasets[name] = ParseDataset(r, name, dv);
                       });
        } else if (key == "recipes") {
          if (!v.IsSequence()) {
            r.Error(v, "recipes must be a list");
            return;
          }
          for (const auto& rn : v) {
            if (!rn.IsMap()) {
              r.Error(rn, "a recipe must be a mapping with name, kind, inputs, outputs, params");
              continue;
            }
            flow.recipes.push_back(ParseRecipe(r, rn));
          }
        } else {
          r.Policy(key, v, &flow.policy, "flow");
        }
      });
  if (flow.name.empty()) diags->push_back({{file, 1, 1}, "flow file has no 'flow:' name"});
  return flow;
}

namespace {

std::string ReadText(const std::filesystem::path& p, bool* ok) {
  std::ifstream in(p, std::ios::binary);
  *ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void ParseConfig(const std::string& text, const std::filesystem::path& root, WorkspaceConfig* cfg,
                 std::vector<Diagnostic>* diags) {
  const std::string file = "alambic.yaml";
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    diags->push_back({{file, e.mark.line + 1, e.mark.column + 1}, e.msg});
    return;
  }
  Reader r(file, diags);
  if (node.IsNull()) return;
  r.ForEachKey(
      node, "alambic.yaml",
      {"name", "default_environment", "environments", "data_roots", "gc", "connections", "secrets"},
      [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
        if (key == "name") {
          r.String(v, "name", &cfg->name);
        } else if (key == "default_environment") {
          r.String(v, "default_environment", &cfg->default_environment);
        } else if (key == "environments") {
          r.ForEachKey(v, "environments", {},
                       [&](const std::string& env, const YAML::Node&, const YAML::Node&) {
                         cfg->environments[env] = EnvironmentSpec{env};
                       });
        } else if (key == "data_roots") {
          std::vector<std::string> roots;
          r.StringList(v, "data_roots", &roots);
          for (const auto& d : roots) {
            std::filesystem::path p(d);
            cfg->data_roots.push_back(p.is_absolute() ? p : root / p);
          }
        } else if (key == "gc") {
          r.ForEachKey(v, "gc", {"keep_runs"},
                       [&](const std::string&, const YAML::Node&, const YAML::Node& gv) {
                         r.Int(gv, "gc keep_runs", &cfg->gc_keep_runs);
                       });
        }
        // connections and secrets are read by the subsystems that use them.
      });
  if (cfg->environments.empty()) {
    cfg->environments["datalab"] = {"datalab"};
    cfg->environments["warehouse"] = {"warehouse"};
  }
  if (!cfg->environments.count(cfg->default_environment))
    diags->push_back({{file, 1, 1},
                      fmt::format("default_environment '{}' is not among the environments",
                                  cfg->default_environment)});
}

}  // namespace

std::filesystem::path FindWorkspaceRoot(const std::filesystem::path& start) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(start, ec);
  for (auto cur = p; !cur.empty(); cur = cur.parent_path()) {
    if (std::filesystem::exists(cur / "alambic.yaml", ec)) return cur;
    if (cur == cur.parent_path()) break;
  }
  return p;
}

LoadedWorkspace LoadWorkspace(const std::filesystem::path& root_in) {
  namespace fs = std::filesystem;
  LoadedWorkspace out;
  std::error_code ec;
  fs::path root = fs::absolute(root_in, ec).lexically_normal();
  if (!root.empty() && root.filename().empty()) root = root.parent_path();
  out.workspace.root = root;
  bool ok = false;
  std::string cfg = ReadText(root / "alambic.yaml", &ok);
  if (!ok) {
    out.diagnostics.push_back({{(root / "alambic.yaml").string(), 0, 0},
                               "not an Alambic workspace (no alambic.yaml; create one with "
                               "'alambic init DIR')"});
    return out;
  }
  ParseConfig(cfg, root, &out.workspace.config, &out.diagnostics);

  std::vector<fs::path> files;
  for (auto it = fs::directory_iterator(root / "flows", ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    auto ext = it->path().extension();
    if (it->is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  std::map<std::string, SourceLoc> flow_names;
  for (const auto& f : files) {
    std::string rel = fs::relative(f, root).string();
    std::string text = ReadText(f, &ok);
    if (!ok) {
      out.diagnostics.push_back({{rel, 0, 0}, "cannot read file"});
      continue;
    }
    Flow flow = ParseFlow(text, rel, &out.diagnostics);
    if (!flow.name.empty()) {
      auto [it, inserted] = flow_names.emplace(flow.name, flow.loc);
      if (!inserted) {
        out.diagnostics.push_back({flow.loc, fmt::format("duplicate flow name '{}' (also in {})",
                                                         flow.name, it->second.ToString())});
        continue;
      }
    }
    out.workspace.flows.push_back(std::move(flow));
  }
  return out;
}

}  // namespace alambic
