#include "core/flow/loader.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <memory>
#include <regex>
#include <sstream>
#include <unordered_set>

#include <fmt/format.h>

#include "core/base/secrets.h"
#include "core/flow/flow_cache.h"
#include "core/flow/yaml_reader.h"
#include "core/sched/schedule.h"

namespace alambic {

std::vector<std::filesystem::path> EnvironmentDataRoots(const WorkspaceConfig& config,
                                                        const std::string& environment) {
  std::vector<std::filesystem::path> out = config.data_roots;
  if (auto it = config.environments.find(environment); it != config.environments.end())
    out.insert(out.end(), it->second.data_roots.begin(), it->second.data_roots.end());
  return out;
}

const Flow* Workspace::FindFlow(const std::string& name) const {
  for (const auto& f : flows)
    if (f.name == name) return &f;
  return nullptr;
}

namespace {

// ---- The flow reader --------------------------------------------------------------

// What a mapping is, for messages ("recipe", "dataset x", "column x.y");
// formatted only when a message needs it.
struct What {
  const char* pattern;
  std::string_view a{}, b{};
  std::string str() const { return fmt::format(fmt::runtime(pattern), a, b); }
};

// Keys already seen in one mapping.
class KeySet {
 public:
  // False when `key` was already inserted.
  bool Insert(std::string_view key) {
    if (!set_.empty()) return set_.insert(key).second;
    if (std::find(small_.begin(), small_.end(), key) != small_.end()) return false;
    small_.push_back(key);
    if (small_.size() > kSmall) set_.insert(small_.begin(), small_.end());
    return true;
  }

 private:
  static constexpr size_t kSmall = 16;
  std::vector<std::string_view> small_;
  std::unordered_set<std::string_view> set_;
};

using Keys = std::initializer_list<std::string_view>;

class Reader {
 public:
  Reader(const YTree& tree, std::string file, std::vector<Diagnostic>* diags)
      : t_(tree), file_(std::move(file)), diags_(diags) {}

  const YNode& N(int i) const { return t_[i]; }
  bool IsMap(int i) const { return N(i).type == YNode::Type::kMap; }
  bool IsSeq(int i) const { return N(i).type == YNode::Type::kSequence; }
  bool IsScalar(int i) const { return N(i).type == YNode::Type::kScalar; }
  bool IsNull(int i) const { return N(i).type == YNode::Type::kNull; }
  // yaml-cpp's Scalar(): the text of a scalar, "" for anything else.
  std::string_view Scalar(int i) const { return N(i).scalar; }

  SourceLoc Loc(int i) const {
    const YNode& n = N(i);
    if (n.line == 0) return {file_, 0, 0};
    return {file_, n.line, n.column};
  }
  void Error(int i, std::string msg) { diags_->push_back({Loc(i), std::move(msg)}); }
  void Error(SourceLoc loc, std::string msg) {
    diags_->push_back({std::move(loc), std::move(msg)});
  }

  // Calls fn(value) for each element of a sequence.
  template <typename Fn>
  void ForEachItem(int seq, Fn&& fn) const {
    for (int c = N(seq).first; c >= 0; c = N(c).next) fn(c);
  }

  // Iterates a mapping, reporting duplicate and unknown keys (any key is known
  // when `known` is empty); calls fn(key text, key node, value node).
  template <typename Fn>
  void ForEachKey(int map, const What& what, Keys known, Fn&& fn) {
    if (!IsMap(map)) {
      Error(map, fmt::format("{} must be a mapping", what.str()));
      return;
    }
    KeySet seen;
    for (int k = N(map).first; k >= 0; k = N(N(k).next).next) {
      const int v = N(k).next;
      const std::string_view key = Scalar(k);
      if (!seen.Insert(key)) {
        Error(k, fmt::format("duplicate key '{}' in {}", key, what.str()));
        continue;
      }
      if (known.size() != 0 && std::find(known.begin(), known.end(), key) == known.end()) {
        std::string list;
        for (const auto& name : known) {
          if (!list.empty()) list += ", ";
          list += name;
        }
        Error(k,
              fmt::format("unknown key '{}' in {} (expected one of: {})", key, what.str(), list));
        continue;
      }
      fn(key, k, v);
    }
  }

  bool String(int n, std::string_view what, std::string* out) {
    if (!IsScalar(n)) {
      Error(n, fmt::format("{} must be a string", what));
      return false;
    }
    out->assign(Scalar(n));
    return true;
  }

  bool StringList(int n, std::string_view what, std::vector<std::string>* out,
                  std::vector<SourceLoc>* locs = nullptr) {
    if (IsScalar(n)) {  // a single name is accepted for a one-element list
      out->emplace_back(Scalar(n));
      if (locs) locs->push_back(Loc(n));
      return true;
    }
    if (!IsSeq(n)) {
      Error(n, fmt::format("{} must be a list of names", what));
      return false;
    }
    size_t count = 0;
    for (int e = N(n).first; e >= 0; e = N(e).next) ++count;
    out->reserve(out->size() + count);
    if (locs) locs->reserve(locs->size() + count);
    for (int e = N(n).first; e >= 0; e = N(e).next) {
      if (!IsScalar(e)) {
        Error(e, fmt::format("{} must be a list of names", what));
        return false;
      }
      out->emplace_back(Scalar(e));
      if (locs) locs->push_back(Loc(e));
    }
    return true;
  }

  bool Number(int n, std::string_view who, std::string_view what, double* out) {
    nlohmann::json j = ToJson(n);
    if (!j.is_number() || j.get<double>() < 0) {
      Error(n, fmt::format("{} {} must be a non-negative number", who, what));
      return false;
    }
    *out = j.get<double>();
    return true;
  }

  bool Int(int n, std::string_view what, int* out) {
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
  nlohmann::json ToJson(int i) {
    const YNode& n = N(i);
    switch (n.type) {
      case YNode::Type::kNull:
        return nullptr;
      case YNode::Type::kScalar: {
        const std::string_view s = n.scalar;
        if (!n.plain) return std::string(s);  // quoted or explicitly tagged
        if (s == "~" || s == "null" || s == "Null" || s == "NULL" || s.empty()) return nullptr;
        if (s == "true" || s == "True" || s == "TRUE") return true;
        if (s == "false" || s == "False" || s == "FALSE") return false;
        int64_t v;
        auto r = std::from_chars(s.data(), s.data() + s.size(), v);
        if (r.ec == std::errc() && r.ptr == s.data() + s.size() && !(s.size() > 1 && s[0] == '0'))
          return v;
        double d;
        auto rd = std::from_chars(s.data(), s.data() + s.size(), d);
        if (rd.ec == std::errc() && rd.ptr == s.data() + s.size() &&
            s.find_first_of("0123456789") != std::string_view::npos &&
            s.find_first_of("xXpP") == std::string_view::npos)
          return d;
        return std::string(s);
      }
      case YNode::Type::kSequence: {
        nlohmann::json arr = nlohmann::json::array();
        for (int e = n.first; e >= 0; e = N(e).next) arr.push_back(ToJson(e));
        return arr;
      }
      case YNode::Type::kMap: {
        nlohmann::json obj = nlohmann::json::object();
        KeySet seen;
        for (int k = n.first; k >= 0; k = N(N(k).next).next) {
          const std::string_view key = Scalar(k);
          if (!seen.Insert(key)) {
            Error(k, fmt::format("duplicate key '{}'", key));
            continue;
          }
          obj[std::string(key)] = ToJson(N(k).next);
        }
        return obj;
      }
    }
    return nullptr;
  }

  void Policy(std::string_view key, int v, ExecPolicy* p, std::string_view who) {
    if (key == "timeout") {
      double d;
      if (Number(v, who, "timeout (seconds)", &d)) p->timeout_seconds = d;
    } else if (key == "retries") {
      int i;
      if (Int(v, fmt::format("{} retries", who), &i)) p->retries = i;
    } else if (key == "retry_backoff") {
      double d;
      if (Number(v, who, "retry_backoff (seconds)", &d)) p->retry_backoff_seconds = d;
    }
  }

 private:
  const YTree& t_;
  std::string file_;
  std::vector<Diagnostic>* diags_;
};

// `resources: {cpus, mem, time}` of a recipe, or an executor's defaults.
bool ParseResource(Reader& r, std::string_view key, int v, std::string_view where,
                   JobResources* res) {
  const std::string what = fmt::format("{}.{}", where, key);
  if (key == "cpus") {
    const nlohmann::json j = r.ToJson(v);
    if (!j.is_number_integer() || j.get<int64_t>() < 1 || j.get<int64_t>() > 100000) {
      r.Error(v, fmt::format("{} must be a whole number of CPUs (1 or more)", what));
      return true;
    }
    res->cpus = j.get<int>();
  } else if (key == "mem") {
    std::string m = r.ToJson(v).is_number_integer() ? std::string(r.Scalar(v)) : "";
    if (m.empty() && !r.String(v, what, &m)) return true;
    static const std::regex kMem("[0-9]{1,12}[KMGT]?");
    if (!std::regex_match(m, kMem)) {
      r.Error(v, fmt::format("{}: '{}' is not a memory size (e.g. 512M, 4G; megabytes when no "
                             "unit)",
                             what, m));
      return true;
    }
    res->mem = m;
  } else if (key == "time") {
    std::string t = r.ToJson(v).is_number_integer() ? std::string(r.Scalar(v)) : "";
    if (t.empty() && !r.String(v, what, &t)) return true;
    static const std::regex kTime("([0-9]{1,4}-)?[0-9]{1,6}(:[0-9]{1,2}){0,2}");
    if (!std::regex_match(t, kTime)) {
      r.Error(v, fmt::format("{}: '{}' is not a time limit (minutes, MM:SS, HH:MM:SS or "
                             "D-HH:MM:SS, quoted)",
                             what, t));
      return true;
    }
    res->time = t;
  } else {
    return false;
  }
  return true;
}

RecipeSpec ParseRecipe(Reader& r, int node) {
  RecipeSpec rs;
  rs.loc = r.Loc(node);
  rs.params_loc = rs.loc;
  rs.kind_loc = rs.loc;
  r.ForEachKey(node, What{"recipe"},
               {"name", "kind", "inputs", "outputs", "params", "script", "timeout", "retries",
                "retry_backoff", "description", "resources"},
               [&](std::string_view key, int, int v) {
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
                   if (r.IsNull(v)) return;
                   if (!r.IsMap(v)) {
                     r.Error(v, "params must be a mapping");
                     return;
                   }
                   rs.params = r.ToJson(v);
                   for (int k = r.N(v).first; k >= 0; k = r.N(r.N(k).next).next)
                     rs.param_locs[std::string(r.Scalar(k))] = r.Loc(r.N(k).next);
                 } else if (key == "script") {
                   r.String(v, "script", &rs.script);
                 } else if (key == "description") {
                   r.String(v, "description", &rs.description);
                 } else if (key == "resources") {
                   r.ForEachKey(v, What{"recipe resources"}, {"cpus", "mem", "time"},
                                [&](std::string_view rk, int, int rv) {
                                  ParseResource(r, rk, rv, "resources", &rs.resources);
                                });
                 } else {
                   r.Policy(key, v, &rs.policy, "recipe");
                 }
               });
  if (rs.name.empty() && r.IsMap(node)) r.Error(node, "recipe has no name");
  if (rs.kind.empty() && r.IsMap(node) && !rs.name.empty())
    r.Error(node, fmt::format("recipe {} has no kind", rs.name));
  if (!rs.params.is_object()) rs.params = nlohmann::json::object();
  return rs;
}

DatasetSpec ParseDataset(Reader& r, std::string_view name, int node) {
  DatasetSpec ds;
  ds.name = name;
  ds.loc = r.Loc(node);
  if (r.IsNull(node)) return ds;
  r.ForEachKey(node, What{"dataset {}", name}, {"description", "columns"},
               [&](std::string_view key, int, int v) {
                 if (key == "description") {
                   r.String(v, "description", &ds.description);
                   return;
                 }
                 r.ForEachKey(v, What{"columns of dataset {}", name}, {},
                              [&](std::string_view col, int k, int cv) {
                                ColumnSpec cs;
                                cs.name = col;
                                cs.loc = r.Loc(k);
                                if (!r.IsNull(cv))
                                  r.ForEachKey(cv, What{"column {}.{}", name, col},
                                               {"tags", "description"},
                                               [&](std::string_view ck, int, int x) {
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

// `on_change: [{file|http|dataset|sql: ..., every: 5m}, ...]`.
void ParseOnChange(Reader& r, int v, std::vector<ChangeTrigger>* out) {
  if (!r.IsSeq(v)) {
    r.Error(v,
            "schedule on_change must be a list of triggers, e.g. [{file: data/x.csv, every: 5m}]");
    return;
  }
  r.ForEachItem(v, [&](int item) {
    ChangeTrigger t;
    t.loc = r.Loc(item);
    int sources = 0;
    bool ok = true;
    r.ForEachKey(
        item, What{"schedule on_change trigger"}, {"file", "http", "dataset", "sql", "every"},
        [&](std::string_view k, int, int tv) {
          if (k == "every") {
            if (!r.String(tv, "schedule on_change every", &t.every)) {
              ok = false;
              return;
            }
            auto d = sched::ParseWindow(t.every);
            if (!d.ok()) {
              r.Error(tv, fmt::format("schedule on_change every '{}' must be a positive "
                                      "duration, e.g. 30s, 5m, 1h",
                                      t.every));
              ok = false;
            } else if (d->count() < kMinTriggerEverySeconds) {
              r.Error(tv, fmt::format("schedule on_change every '{}' is too short: polling "
                                      "is at most every {}s",
                                      t.every, kMinTriggerEverySeconds));
              ok = false;
            }
            return;
          }
          ++sources;
          t.kind = std::string(k);
          if (k == "sql") {
            r.ForEachKey(tv, What{"schedule on_change sql"}, {"connection", "query"},
                         [&](std::string_view sk, int, int sv) {
                           if (sk == "connection")
                             ok &= r.String(sv, "schedule on_change sql connection", &t.connection);
                           else
                             ok &= r.String(sv, "schedule on_change sql query", &t.target);
                         });
            if (t.connection.empty() || t.target.empty()) {
              r.Error(tv, "schedule on_change sql needs a connection and a query");
              ok = false;
            }
            return;
          }
          if (!r.String(tv, fmt::format("schedule on_change {}", k), &t.target) ||
              t.target.empty()) {
            if (t.target.empty())
              r.Error(tv, fmt::format("schedule on_change {} must not be empty", k));
            ok = false;
            return;
          }
          if (k == "http" && t.target.rfind("http://", 0) != 0 &&
              t.target.rfind("https://", 0) != 0) {
            r.Error(tv, fmt::format("schedule on_change http '{}' must be an http:// or "
                                    "https:// URL",
                                    t.target));
            ok = false;
          }
          if (k == "dataset") {
            const size_t slash = t.target.find('/');
            if (slash == std::string::npos || slash == 0 || slash + 1 == t.target.size() ||
                t.target.find('/', slash + 1) != std::string::npos) {
              r.Error(tv, fmt::format("schedule on_change dataset '{}' must be "
                                      "FLOW/DATASET",
                                      t.target));
              ok = false;
            }
          }
        });
    if (r.IsMap(item) && sources != 1) {
      r.Error(item, "schedule on_change trigger needs exactly one of file, http, dataset, sql");
      ok = false;
    }
    if (ok && r.IsMap(item)) out->push_back(std::move(t));
  });
}

// `schedule: {cron, timezone, start, end, dst_gap, dst_overlap, catchup}`;
// each value checked as core/sched reads it, the error at its place.
Schedule ParseSchedule(Reader& r, int v) {
  Schedule s;
  bool has_on_change = false;  // (its own errors are enough when all its triggers are wrong)
  s.loc = r.Loc(v);
  auto check = [&](int node, const Status& st) {
    if (!st.ok()) r.Error(node, "schedule " + st.message());
  };
  r.ForEachKey(
      v, What{"schedule"},
      {"cron", "timezone", "catchup", "start", "end", "dst_gap", "dst_overlap", "retries",
       "retry_delay", "max_active_runs", "overlap", "timeout", "late_after", "on_change"},
      [&](std::string_view sk, int, int sv) {
        if (sk == "on_change") {
          has_on_change = true;
          ParseOnChange(r, sv, &s.on_change);
        } else if (sk == "retries" || sk == "max_active_runs") {
          const bool retries = sk == "retries";
          const int64_t lo = retries ? 0 : 1, hi = retries ? 100 : 1000;
          nlohmann::json j = r.ToJson(sv);
          if (!j.is_number_integer() || j.get<int64_t>() < lo || j.get<int64_t>() > hi)
            r.Error(sv,
                    fmt::format("schedule {} must be an integer between {} and {}", sk, lo, hi));
          else
            (retries ? s.retries : s.max_active_runs) = j.get<int>();
        } else if (sk == "retry_delay" || sk == "timeout" || sk == "late_after") {
          std::string* out = sk == "retry_delay" ? &s.retry_delay
                             : sk == "timeout"   ? &s.timeout
                                                 : &s.late_after;
          if (r.String(sv, fmt::format("schedule {}", sk), out)) {
            auto d = sched::ParseWindow(*out);
            if (!d.ok())
              r.Error(sv, fmt::format("schedule {} '{}' must be a positive duration, "
                                      "e.g. 90s, 30m, 2h",
                                      sk, *out));
          }
        } else if (sk == "overlap") {
          if (r.String(sv, "schedule overlap", &s.overlap) && s.overlap != "skip" &&
              s.overlap != "queue" && s.overlap != "cancel")
            r.Error(sv, fmt::format("schedule overlap must be skip, queue or cancel, "
                                    "not '{}'",
                                    s.overlap));
        } else if (sk == "cron") {
          if (r.String(sv, "schedule cron", &s.cron))
            check(sv, sched::CronExpr::Parse(s.cron).status());
        } else if (sk == "timezone") {
          if (r.String(sv, "schedule timezone", &s.timezone))
            check(sv, sched::TimeZone::Load(s.timezone).status());
        } else if (sk == "start" || sk == "end") {
          std::string* out = sk == "start" ? &s.start : &s.end;
          if (r.String(sv, fmt::format("schedule {}", sk), out)) {
            auto t = sched::ParseLocalTime(*out);
            if (!t.ok()) r.Error(sv, fmt::format("schedule {} {}", sk, t.status().message()));
          }
        } else if (sk == "dst_gap") {
          if (r.String(sv, "schedule dst_gap", &s.dst_gap))
            check(sv, sched::ParseDstGap(s.dst_gap).status());
        } else if (sk == "dst_overlap") {
          if (r.String(sv, "schedule dst_overlap", &s.dst_overlap))
            check(sv, sched::ParseDstOverlap(s.dst_overlap).status());
        } else if (r.IsMap(sv)) {  // catchup: {policy, max, window}
          r.ForEachKey(sv, What{"schedule catchup"}, {"policy", "max", "window"},
                       [&](std::string_view ck, int, int cv) {
                         if (ck == "policy") {
                           if (r.String(cv, "schedule catchup policy", &s.catchup))
                             check(cv, sched::ParseCatchupMode(s.catchup).status());
                         } else if (ck == "max") {
                           nlohmann::json j = r.ToJson(cv);
                           if (!j.is_number_integer() || j.get<int64_t>() < 1 ||
                               j.get<int64_t>() > sched::kMaxCatchupMax)
                             r.Error(cv, fmt::format("schedule catchup max must be an integer "
                                                     "between 1 and {}",
                                                     sched::kMaxCatchupMax));
                           else
                             s.catchup_max = j.get<int>();
                         } else if (r.String(cv, "schedule catchup window", &s.catchup_window)) {
                           check(cv, sched::ParseWindow(s.catchup_window).status());
                         }
                       });
        } else if (r.String(sv, "schedule catchup", &s.catchup)) {
          check(sv, sched::ParseCatchupMode(s.catchup).status());
        }
      });
  if (s.cron.empty() && !has_on_change)
    r.Error(v, "schedule has no cron expression (nor on_change triggers)");
  auto start = sched::ParseLocalTime(s.start), end = sched::ParseLocalTime(s.end, true);
  if (start.ok() && end.ok() && *end < *start)
    r.Error(v, fmt::format("schedule end {} is before its start {}", s.end, s.start));
  return s;
}

Flow ReadFlow(Reader& r, int root, const std::string& file, Flow flow,
              std::vector<Diagnostic>* diags) {
  if (!r.IsMap(root)) {
    diags->push_back(
        {{file, 1, 1}, "a flow file must be a mapping with keys flow, datasets, recipes"});
    return flow;
  }
  r.ForEachKey(
      root, What{"flow"},
      {"flow", "usecase", "description", "schedule", "partitions", "datasets", "recipes", "timeout",
       "retries", "retry_backoff"},
      [&](std::string_view key, int k, int v) {
        if (key == "flow") {
          flow.loc = r.Loc(k);
          r.String(v, "flow name", &flow.name);
        } else if (key == "usecase") {
          r.String(v, "usecase", &flow.usecase);
        } else if (key == "description") {
          r.String(v, "description", &flow.description);
        } else if (key == "schedule") {
          flow.schedule = ParseSchedule(r, v);
        } else if (key == "partitions") {
          Partitioning p;
          p.loc = r.Loc(v);
          r.ForEachKey(v, What{"partitions"}, {"by", "values"},
                       [&](std::string_view pk, int, int pv) {
                         if (pk == "by")
                           r.String(pv, "partitions by", &p.by);
                         else
                           r.StringList(pv, "partition values", &p.values);
                       });
          if (p.by.empty()) r.Error(v, "partitions has no 'by'");
          flow.partitioning = p;
        } else if (key == "datasets") {
          r.ForEachKey(v, What{"datasets"}, {}, [&](std::string_view name, int, int dv) {
            flow.datasets[std::string(name)] = ParseDataset(r, name, dv);
          });
        } else if (key == "recipes") {
          if (!r.IsSeq(v)) {
            r.Error(v, "recipes must be a list");
            return;
          }
          r.ForEachItem(v, [&](int rn) {
            if (!r.IsMap(rn)) {
              r.Error(rn, "a recipe must be a mapping with name, kind, inputs, outputs, params");
              return;
            }
            flow.recipes.push_back(ParseRecipe(r, rn));
          });
        } else {
          r.Policy(key, v, &flow.policy, "flow");
        }
      });
  if (flow.name.empty()) diags->push_back({{file, 1, 1}, "flow file has no 'flow:' name"});
  return flow;
}

}  // namespace

Flow ParseFlow(const std::string& text, const std::string& file, std::vector<Diagnostic>* diags,
               YamlReader reader) {
  Flow flow;
  flow.file = file;
  flow.loc = {file, 1, 1};
  YTree tree;
  int root = ReadYaml(text, file, reader, &tree, diags);
  if (root < 0) return flow;
  Reader r(tree, file, diags);
  return ReadFlow(r, root, file, std::move(flow), diags);
}

namespace {

bool ReadText(const std::filesystem::path& p, std::string* out) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(p.c_str(), "rb"), &std::fclose);
  if (!f) return false;
  out->clear();
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) out->append(buf, n);
  return !std::ferror(f.get());
}

// Limits in alambic.yaml (`lua:`, `plugins:`) above this are clamped to it,
// so that converting them to integers stays defined.
constexpr double kLimitCeiling = 1e15;

// A path of alambic.yaml: as is when absolute, else under `base`.
std::filesystem::path Under(const std::filesystem::path& base, const std::string& path) {
  std::filesystem::path p(path);
  return p.is_absolute() ? p : base / p;
}

constexpr const char* kLocalExecutor = "local";
constexpr const char* kSlurmExecutor = "slurm";
constexpr const char* kReleasesOnlyByDefault = "warehouse";

// The value node of `key` in mapping `map` (the first, as yaml-cpp looks it
// up), or -1.
int Lookup(const Reader& r, int map, std::string_view key) {
  for (int k = r.N(map).first; k >= 0; k = r.N(r.N(k).next).next)
    if (r.IsScalar(k) && r.Scalar(k) == key) return r.N(k).next;
  return -1;
}

// How a problem of an entry is told: "alambic.yaml:L:C: <what>...".
std::string EntryError(const Reader& r, int node, const std::string& message) {
  return r.Loc(node).ToString() + ": " + message;
}

// "connection 'x'", "secret 'x' (environment warehouse)".
std::string EntryWhat(std::string_view noun, std::string_view name, std::string_view env) {
  return env.empty() ? fmt::format("{} '{}'", noun, name)
                     : fmt::format("{} '{}' (environment {})", noun, name, env);
}

// One entry of `connections:` ({type, path}); a malformed one keeps its
// problem for ResolveConnection() to report if a recipe uses it.
ConnectionEntry ReadConnectionEntry(const Reader& r, int v, std::string_view name,
                                    std::string_view env) {
  const std::string what = EntryWhat("connection", name, env);
  ConnectionEntry e;
  auto fail = [&](int node, const std::string& message) {
    e.error = EntryError(r, node, message);
    return e;
  };
  if (!r.IsMap(v)) return fail(v, fmt::format("{} must be a mapping {{type: ..., ...}}", what));
  const int type = Lookup(r, v, "type");
  if (type < 0 || !r.IsScalar(type))
    return fail(type < 0 ? v : type, fmt::format("{}: type is required", what));
  e.type = std::string(r.Scalar(type));
  if (e.type != kConnectionSqlite && e.type != kConnectionFile && e.type != kConnectionPostgres)
    return fail(type, fmt::format("{}: type '{}' is not supported (expected sqlite, file or "
                                  "postgres)",
                                  what, e.type));
  if (e.type == kConnectionPostgres) {
    for (int k = r.N(v).first; k >= 0; k = r.N(r.N(k).next).next) {
      const std::string_view key = r.Scalar(k);
      if (key == "type") continue;
      const int val = r.N(k).next;
      if (!r.IsScalar(val)) return fail(val, fmt::format("{}: {} must be a string", what, key));
      if (!SetPostgresParam(&e.postgres, key, std::string(r.Scalar(val))))
        return fail(k, fmt::format("{}: unknown key '{}' (expected type, host, port, dbname, "
                                   "user, password, sslmode, sslrootcert, sslcert, sslkey)",
                                   what, key));
    }
    if (!e.postgres.password.empty() && !IsSecretRef(e.postgres.password))
      return fail(Lookup(r, v, "password"),
                  fmt::format("{}: password must be a secret reference (\"secret:NAME\"), "
                              "never the password itself",
                              what));
    if (e.postgres.dbname.empty())
      return fail(v, fmt::format("{}: dbname is required for postgres", what));
    return e;
  }
  for (int k = r.N(v).first; k >= 0; k = r.N(r.N(k).next).next) {
    const std::string_view key = r.Scalar(k);
    if (key != "type" && key != "path")
      return fail(k, fmt::format("{}: unknown key '{}' (expected type, path)", what, key));
  }
  const int path = Lookup(r, v, "path");
  if (path < 0 || !r.IsScalar(path) || r.Scalar(path).empty())
    return fail(path < 0 ? v : path, fmt::format("{}: path is required for {}", what, e.type));
  e.path = std::string(r.Scalar(path));
  return e;
}

// One entry of `secrets:` ({env: VARIABLE} or {file: PATH}); a malformed one
// keeps its problem for ResolveSecret() to report if a recipe uses it.
SecretSource ReadSecretEntry(const Reader& r, int v, std::string_view name, std::string_view env) {
  const std::string what = EntryWhat("secret", name, env);
  SecretSource e;
  auto fail = [&](int node, const std::string& message) {
    e.error = EntryError(r, node, message);
    return e;
  };
  int pairs = 0;
  if (r.IsMap(v))
    for (int k = r.N(v).first; k >= 0; k = r.N(r.N(k).next).next) ++pairs;
  const int var = r.IsMap(v) ? Lookup(r, v, "env") : -1;
  const int file = r.IsMap(v) ? Lookup(r, v, "file") : -1;
  if (pairs != 1 || (var < 0 && file < 0))
    return fail(v, fmt::format("{} must be {{env: VARIABLE}} or {{file: PATH}}", what));
  if (var >= 0) {
    if (!r.IsScalar(var) || r.Scalar(var).empty())
      return fail(var, fmt::format("{}: env must name an environment variable", what));
    e.env_var = std::string(r.Scalar(var));
  } else {
    if (!r.IsScalar(file) || r.Scalar(file).empty())
      return fail(file, fmt::format("{}: file must be a path", what));
    e.file = std::string(r.Scalar(file));
  }
  return e;
}

// The top-level `connections:` or `secrets:` into `cfg`. Not checked here: a
// malformed entry is reported when a recipe resolves it (and a section that is
// not a mapping declares nothing).
void ParseTopLevelEntries(const Reader& r, int node, bool secrets, WorkspaceConfig* cfg) {
  if (!r.IsMap(node)) return;
  for (int k = r.N(node).first; k >= 0; k = r.N(r.N(k).next).next) {
    const std::string name(r.Scalar(k));
    const int v = r.N(k).next;
    if (secrets)
      cfg->secrets.secrets.emplace(name, ReadSecretEntry(r, v, name, ""));
    else
      cfg->connections.connections.emplace(name, ReadConnectionEntry(r, v, name, ""));
  }
}

// The connections (`secrets` false) or secrets of environment `env`: a mapping
// of name -> {type, path} or name -> {env: VAR} | {file: PATH}. Their names go
// to `names`, their entries to `cfg` (ResolveConnection() and ResolveSecret()
// read them).
void ParseEnvironmentEntries(Reader& r, int node, std::string_view env, bool secrets,
                             std::vector<std::string>* names, WorkspaceConfig* cfg) {
  const char* section = secrets ? "environments.{}.secrets" : "environments.{}.connections";
  r.ForEachKey(node, What{section, env}, {}, [&](std::string_view name, int, int v) {
    names->emplace_back(name);
    if (secrets)
      cfg->secrets.environments[std::string(env)].emplace(name, ReadSecretEntry(r, v, name, env));
    else
      cfg->connections.environments[std::string(env)].emplace(name,
                                                              ReadConnectionEntry(r, v, name, env));
    const std::string where = fmt::format("{}.{}", What{section, env}.str(), name);
    int count = 0;
    bool has_type = false, has_path = false, postgres = false;
    if (!secrets && r.IsMap(v)) {
      const int t = Lookup(r, v, "type");
      postgres = t >= 0 && r.IsScalar(t) && r.Scalar(t) == kConnectionPostgres;
    }
    auto entry = [&](std::string_view key, int, int ev) {
      ++count;
      has_type |= key == "type";
      has_path |= key == "path";
      std::string value;
      if (!r.String(ev, fmt::format("{}.{}", where, key), &value)) return;
      if (value.empty()) {
        r.Error(ev, fmt::format("{}.{} must not be empty", where, key));
      } else if (key == "type" && value != kConnectionSqlite && value != kConnectionFile &&
                 value != kConnectionPostgres) {
        r.Error(ev, fmt::format("{}.type: '{}' is not supported (expected sqlite, file or "
                                "postgres)",
                                where, value));
      }
    };
    if (secrets) {
      r.ForEachKey(v, What{"{}", where}, {"env", "file"}, entry);
    } else if (postgres) {
      r.ForEachKey(v, What{"{}", where},
                   {"type", "host", "port", "dbname", "user", "password", "sslmode", "sslrootcert",
                    "sslcert", "sslkey"},
                   entry);
    } else {
      r.ForEachKey(v, What{"{}", where}, {"type", "path"}, entry);
    }
    if (!r.IsMap(v)) return;  // reported
    if (secrets && count != 1)
      r.Error(v, fmt::format("{} must be {{env: VARIABLE}} or {{file: PATH}}", where));
    if (!secrets && !postgres && (!has_type || !has_path))
      r.Error(v, fmt::format("{} needs a type and a path", where));
  });
}

// A Slurm name (partition, account, QOS): passed to sbatch as one argument.
void ParseSlurmName(Reader& r, int v, const std::string& what, std::string* out) {
  if (!r.String(v, what, out)) return;
  static const std::regex kName("[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}");
  if (!std::regex_match(*out, kName))
    r.Error(v, fmt::format("{}: '{}' is not a Slurm name (letters, digits, _ . + -)", what, *out));
}

// `executor: local`, `executor: slurm` or `executor: {kind: slurm, ...}`.
void ParseExecutor(Reader& r, int v, const std::string& what,
                   const std::filesystem::path& state_root, EnvironmentSpec* env) {
  auto kind = [&](int n, const std::string& w) {
    if (!r.String(n, w, &env->executor)) return;
    if (env->executor != kLocalExecutor && env->executor != kSlurmExecutor)
      r.Error(n, fmt::format("{}: '{}' is not an executor (expected local or slurm)", w,
                             env->executor));
  };
  if (!r.IsMap(v)) {
    kind(v, what);
    return;
  }
  bool has_kind = false;
  r.ForEachKey(v, What{"{}", what},
               {"kind", "partition", "account", "qos", "cpus", "mem", "time", "max_jobs",
                "poll_seconds", "staging"},
               [&](std::string_view key, int, int ev) {
                 const std::string w = fmt::format("{}.{}", what, key);
                 SlurmSettings& s = env->slurm;
                 if (key == "kind") {
                   has_kind = true;
                   kind(ev, w);
                 } else if (key == "partition") {
                   ParseSlurmName(r, ev, w, &s.partition);
                 } else if (key == "account") {
                   ParseSlurmName(r, ev, w, &s.account);
                 } else if (key == "qos") {
                   ParseSlurmName(r, ev, w, &s.qos);
                 } else if (key == "max_jobs") {
                   const nlohmann::json j = r.ToJson(ev);
                   if (!j.is_number_integer() || j.get<int64_t>() < 1 || j.get<int64_t>() > 1000)
                     r.Error(ev, fmt::format("{} must be an integer between 1 and 1000", w));
                   else
                     s.max_jobs = j.get<int>();
                 } else if (key == "poll_seconds") {
                   double d = 0;
                   if (r.Number(ev, what, "poll_seconds", &d)) {
                     if (d < 0.05 || d > 600)
                       r.Error(ev, fmt::format("{} must be between 0.05 and 600", w));
                     else
                       s.poll_seconds = d;
                   }
                 } else if (key == "staging") {
                   std::string path;
                   if (!r.String(ev, w, &path)) return;
                   if (path.empty()) {
                     r.Error(ev, fmt::format("{} must not be empty", w));
                     return;
                   }
                   s.staging = Under(state_root, path).lexically_normal();
                 } else {
                   ParseResource(r, key, ev, what, &s.defaults);
                 }
               });
  if (!has_kind) r.Error(v, fmt::format("{} needs a kind (local or slurm)", what));
}

// `store: {kind: postgres, connection: NAME, schema: S}` (a path string is a file store).
void ParseStore(Reader& r, int v, const std::string& what, EnvironmentSpec* env) {
  std::string kind;
  env->store_loc = r.Loc(v);
  r.ForEachKey(v, What{"{}", what}, {"kind", "connection", "schema", "path"},
               [&](std::string_view key, int, int sv) {
                 const std::string w = fmt::format("{}.{}", what, key);
                 std::string value;
                 if (!r.String(sv, w, &value)) return;
                 if (value.empty()) {
                   r.Error(sv, fmt::format("{} must not be empty", w));
                   return;
                 }
                 if (key == "kind") {
                   kind = value;
                   if (kind != "postgres" && kind != "file")
                     r.Error(sv, fmt::format("{}: '{}' is not a store kind (expected file or "
                                             "postgres)",
                                             w, kind));
                 } else if (key == "connection") {
                   env->store_connection = value;
                 } else if (key == "schema") {
                   env->store_schema = value;
                 } else if (key == "path") {
                   r.Error(sv, fmt::format("{}: give a file store as a path (store: DIR)", w));
                 }
               });
  if (kind != "postgres") {
    if (kind.empty()) r.Error(v, fmt::format("{} needs a kind (postgres)", what));
    if (kind == "file")
      r.Error(v, fmt::format("{}: give a file store as a path (store: DIR)", what));
    env->store_connection.clear();
    return;
  }
  if (env->store_connection.empty())
    r.Error(v, fmt::format("{} needs a connection (a postgres connection's name)", what));
  if (env->store_schema.empty())
    r.Error(v, fmt::format("{} needs a schema (where the dataset tables go)", what));
}

// One entry of `environments:`; `state_root` is where relative stores resolve.
void ParseEnvironment(Reader& r, int node, const std::filesystem::path& root,
                      const std::filesystem::path& state_root, EnvironmentSpec* env,
                      WorkspaceConfig* cfg) {
  const std::string_view name = env->name;
  r.ForEachKey(node, What{"environments.{}", name},
               {"store", "executor", "releases_only", "data_roots", "connections", "secrets"},
               [&](std::string_view key, int, int v) {
                 const std::string what = fmt::format("environments.{}.{}", name, key);
                 if (key == "store" && r.IsMap(v)) {
                   ParseStore(r, v, what, env);
                 } else if (key == "store") {
                   std::string path;
                   if (!r.String(v, what, &path)) return;
                   if (path.empty()) {
                     r.Error(v, fmt::format("{} must not be empty", what));
                     return;
                   }
                   env->store = Under(state_root, path).lexically_normal();
                 } else if (key == "executor") {
                   ParseExecutor(r, v, what, state_root, env);
                 } else if (key == "releases_only") {
                   const nlohmann::json b = r.ToJson(v);
                   if (b.is_boolean())
                     env->releases_only = b.get<bool>();
                   else
                     r.Error(v, fmt::format("{} must be true or false", what));
                 } else if (key == "data_roots") {
                   std::vector<std::string> roots;
                   r.StringList(v, what, &roots);
                   for (const auto& d : roots) env->data_roots.push_back(Under(root, d));
                 } else if (key == "connections") {
                   ParseEnvironmentEntries(r, v, name, false, &env->connections, cfg);
                 } else if (key == "secrets") {
                   ParseEnvironmentEntries(r, v, name, true, &env->secrets, cfg);
                 }
               });
}

void ParseConfig(const std::string& text, const std::filesystem::path& root,
                 const std::filesystem::path& state_root, WorkspaceConfig* cfg,
                 std::vector<Diagnostic>* diags) {
  const std::string file = "alambic.yaml";
  YTree tree;
  int node = ReadYaml(text, file, YamlReader::kAuto, &tree, diags);
  if (node < 0) return;
  Reader r(tree, file, diags);
  if (r.IsNull(node)) return;
  r.ForEachKey(
      node, What{"alambic.yaml"},
      {"name", "default_environment", "environments", "data_roots", "gc", "lua", "plugins",
       "connections", "secrets", "catalog", "openlineage", "ui"},
      [&](std::string_view key, int, int v) {
        if (key == "ui") {
          // The web server's settings: `alambic serve` reads and checks them (ui/web).
        } else if (key == "name") {
          r.String(v, "name", &cfg->name);
        } else if (key == "default_environment") {
          r.String(v, "default_environment", &cfg->default_environment);
        } else if (key == "environments") {
          r.ForEachKey(v, What{"environments"}, {}, [&](std::string_view env, int k, int ev) {
            EnvironmentSpec spec;
            spec.name = std::string(env);
            spec.loc = r.Loc(k);
            spec.releases_only = env == kReleasesOnlyByDefault;
            if (!r.IsNull(ev)) ParseEnvironment(r, ev, root, state_root, &spec, cfg);
            cfg->environments[spec.name] = std::move(spec);
          });
        } else if (key == "data_roots") {
          std::vector<std::string> roots;
          r.StringList(v, "data_roots", &roots);
          for (const auto& d : roots) {
            cfg->data_roots.push_back(Under(root, d));
          }
        } else if (key == "gc") {
          r.ForEachKey(v, What{"gc"}, {"keep_runs"}, [&](std::string_view, int, int gv) {
            r.Int(gv, "gc keep_runs", &cfg->gc_keep_runs);
          });
        } else if (key == "lua" || key == "plugins") {
          const bool lua = key == "lua";
          ResourceLimits* lim = lua ? &cfg->lua_limits : &cfg->plugin_limits;
          const char* who = lua ? "lua" : "plugins";
          auto fn = [&](std::string_view lk, int, int lv) {
            double d = 0;
            if (lk == "dirs") {
              std::vector<std::string> dirs;
              r.StringList(lv, "plugins dirs", &dirs);
              for (const auto& dir : dirs) {
                std::filesystem::path p(dir);
                cfg->plugin_dirs.push_back(p.is_absolute() ? p : root / p);
              }
            } else if (r.Number(lv, who, lk, &d)) {
              d = std::min(d, kLimitCeiling);  // beyond: no limit in practice
              if (lk == "memory_mb") lim->memory_mb = static_cast<int64_t>(d);
              if (lk == "instructions") lim->instructions = static_cast<int64_t>(d);
              if (lk == "timeout_s") lim->timeout_s = d;
            }
          };
          if (lua)
            r.ForEachKey(v, What{"lua"}, {"memory_mb", "instructions", "timeout_s"}, fn);
          else
            r.ForEachKey(v, What{"plugins"}, {"dirs", "memory_mb", "timeout_s"}, fn);
        } else if (key == "catalog") {
          r.ForEachKey(v, What{"catalog"}, {"path"}, [&](std::string_view, int, int cv) {
            std::string path;
            if (r.String(cv, "catalog path", &path) && !path.empty()) {
              std::filesystem::path p(path);
              cfg->catalog_path = p.is_absolute() ? p : root / p;
            }
          });
        } else if (key == "openlineage") {
          r.ForEachKey(
              v, What{"openlineage"}, {"url", "namespace", "retries", "retry_backoff", "timeout"},
              [&](std::string_view k, int, int ov) {
                if (k == "url") {
                  if (r.String(ov, "openlineage url", &cfg->openlineage_url) &&
                      cfg->openlineage_url.rfind("http://", 0) != 0 &&
                      cfg->openlineage_url.rfind("https://", 0) != 0)
                    r.Error(ov, "openlineage url must start with http:// or https://");
                } else if (k == "namespace") {
                  r.String(ov, "openlineage namespace", &cfg->openlineage_namespace);
                } else if (k == "retries") {
                  r.Int(ov, "openlineage retries", &cfg->openlineage_retries);
                } else if (k == "retry_backoff") {
                  r.Number(ov, "openlineage", "retry_backoff",
                           &cfg->openlineage_retry_backoff_seconds);
                } else if (k == "timeout") {
                  r.Number(ov, "openlineage", "timeout", &cfg->openlineage_timeout_seconds);
                }
              });
        } else if (key == "connections" || key == "secrets") {
          ParseTopLevelEntries(r, v, key == "secrets", cfg);
        }
      });
  if (cfg->environments.empty()) {
    for (const char* name : {"datalab", "warehouse"}) {
      EnvironmentSpec spec;
      spec.name = name;
      spec.releases_only = spec.name == kReleasesOnlyByDefault;
      cfg->environments[name] = std::move(spec);
    }
  }
  for (auto& [name, env] : cfg->environments)
    if (env.store.empty()) env.store = state_root / ".alambic" / "store" / name;
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

namespace {

// Reads alambic.yaml into `out`; false when there is none.
// An absolute, normal path without a trailing separator.
std::filesystem::path NormalRoot(const std::filesystem::path& p) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path root = fs::absolute(p, ec).lexically_normal();
  if (!root.empty() && root.filename().empty()) root = root.parent_path();
  return root;
}

bool ReadConfig(const std::filesystem::path& root_in, const LoadOptions& options,
                LoadedWorkspace* out) {
  namespace fs = std::filesystem;
  const fs::path root = NormalRoot(root_in);
  out->workspace.root = root;
  std::string text;
  if (!ReadText(root / "alambic.yaml", &text)) {
    out->diagnostics.push_back({{(root / "alambic.yaml").string(), 0, 0},
                                "not an Alambic workspace (no alambic.yaml; create one with "
                                "'alambic init DIR')"});
    return false;
  }
  const fs::path state_root = options.state_root.empty() ? root : NormalRoot(options.state_root);
  ParseConfig(text, root, state_root, &out->workspace.config, &out->diagnostics);
  return true;
}

}  // namespace

LoadedWorkspace LoadWorkspaceConfig(const std::filesystem::path& root, const LoadOptions& options) {
  LoadedWorkspace out;
  ReadConfig(root, options, &out);
  return out;
}

LoadedWorkspace LoadWorkspace(const std::filesystem::path& root_in, const LoadOptions& options) {
  namespace fs = std::filesystem;
  LoadedWorkspace out;
  const bool found = ReadConfig(root_in, options, &out);
  if (options.on_config) options.on_config(out);
  if (!found) return out;
  const fs::path& root = out.workspace.root;
  std::error_code ec;
  std::string text;

  std::vector<fs::path> files;
  for (auto it = fs::directory_iterator(root / "flows", ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    auto ext = it->path().extension();
    if (it->is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  const FlowCache cache((options.state_root.empty() ? root : NormalRoot(options.state_root)) /
                        ".alambic" / "cache" / "flows");
  bool stored = false;
  std::vector<std::string> rels;
  std::map<std::string, SourceLoc> flow_names;
  for (const auto& f : files) {
    std::string rel = fs::relative(f, root).string();
    rels.push_back(rel);
    if (!ReadText(f, &text)) {
      out.diagnostics.push_back({{rel, 0, 0}, "cannot read file"});
      continue;
    }
    Flow flow;
    if (!options.flow_cache || !cache.Lookup(rel, text, &flow)) {
      std::vector<Diagnostic> diags;
      flow = ParseFlow(text, rel, &diags);
      if (options.flow_cache && diags.empty()) stored |= cache.Store(rel, text, flow);
      out.diagnostics.insert(out.diagnostics.end(), std::make_move_iterator(diags.begin()),
                             std::make_move_iterator(diags.end()));
    }
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
  // Entries of deleted or renamed flow files go when the cache changes anyway.
  if (stored) cache.Prune(rels);
  return out;
}

}  // namespace alambic
