#include "core/vcs/promotion.h"

#include <algorithm>
#include <functional>
#include <set>

#include <fmt/format.h>

#include "core/base/crash_point.h"
#include "core/vcs/flow_history.h"
#include "core/vcs/git.h"

namespace alambic {

namespace {

using nlohmann::json;

constexpr size_t kShortCommit = 10;
constexpr const char* kPersonalTag = "personal";

std::string Short(const std::string& commit) { return commit.substr(0, kShortCommit); }

bool Green(const RecipeRunRecord& r) { return r.status == "succeeded" || r.status == "up_to_date"; }

std::string Joined(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// The first line of a (possibly multi-line) message.
std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

GateResult Committed(const PromotionEvidence& e) {
  GateResult g{kGateCommitted, true, true, "", {}};
  if (!e.commit_is_head) {
    g.reason = fmt::format("commit {} is not HEAD: the working tree is not used", Short(e.commit));
    return g;
  }
  if (e.uncommitted.empty()) {
    g.reason =
        fmt::format("the flow's files are committed at {} with no change since", Short(e.commit));
    return g;
  }
  g.passed = false;
  g.reason = fmt::format("{} of the flow's files have uncommitted changes; commit them first",
                         e.uncommitted.size());
  for (const auto& p : e.uncommitted) g.details.push_back(p + ": uncommitted change");
  return g;
}

GateResult DatalabRun(const PromotionEvidence& e) {
  GateResult g{kGateDatalabRun, true, true, "", {}};
  if (e.runs.empty()) {
    g.passed = false;
    g.reason = fmt::format(
        "no {} run of flow {} from commit {} with a clean working tree; run `alambic run {}` "
        "there first",
        e.datalab, e.flow_name, Short(e.commit), e.flow_name);
    return g;
  }
  std::set<std::string> run_ids;
  for (const auto& r : e.flow.recipes) {
    auto it = e.runs.find(r.name);
    if (it == e.runs.end()) {
      g.details.push_back(
          fmt::format("recipe {} has not run at commit {}", r.name, Short(e.commit)));
      continue;
    }
    run_ids.insert(it->second.run_id.substr(0, 8));
    if (!Green(it->second))
      g.details.push_back(fmt::format(
          "recipe {}: {} in run {}{}", r.name, it->second.status, it->second.run_id.substr(0, 8),
          it->second.error.empty() ? "" : ": " + FirstLine(it->second.error)));
  }
  g.passed = g.details.empty();
  g.reason = g.passed
                 ? fmt::format("all {} recipes succeeded or were up to date at {} (run {})",
                               e.flow.recipes.size(), Short(e.commit),
                               Joined({run_ids.begin(), run_ids.end()}))
                 : fmt::format("{} of {} recipes have no successful {} run at {}", g.details.size(),
                               e.flow.recipes.size(), e.datalab, Short(e.commit));
  return g;
}

// The failed rules of a check recipe run, from its metrics.
std::vector<std::string> FailedRules(const std::string& recipe, const json& metrics,
                                     const std::string& severity) {
  std::vector<std::string> out;
  if (!metrics.is_object() || !metrics.contains("checks") || !metrics["checks"].is_array())
    return out;
  for (const auto& c : metrics["checks"]) {
    if (!c.is_object() || c.value("passed", true)) continue;
    if (c.value("severity", std::string("error")) != severity) continue;
    std::string name = c.value("name", std::string());
    std::string message = c.value("message", std::string());
    out.push_back(fmt::format("{}: {}{}{}", recipe, severity == "warn" ? "warning: " : "",
                              name.empty() ? "" : name + ": ", FirstLine(message)));
  }
  return out;
}

GateResult Checks(const PromotionEvidence& e) {
  GateResult g{kGateChecks, true, true, "", {}};
  int checks = 0;
  std::vector<std::string> warnings;
  for (const auto& r : e.flow.recipes) {
    if (r.kind != "check") continue;
    ++checks;
    auto it = e.runs.find(r.name);
    if (it == e.runs.end()) {
      g.details.push_back(fmt::format("{}: has not run at commit {}", r.name, Short(e.commit)));
      continue;
    }
    const RecipeRunRecord& run = it->second;
    if (!Green(run)) {
      auto failed = FailedRules(r.name, run.metrics, "error");
      if (failed.empty())
        failed.push_back(fmt::format("{}: {}{}", r.name, run.status,
                                     run.error.empty() ? "" : ": " + FirstLine(run.error)));
      for (auto& f : failed) g.details.push_back(std::move(f));
      continue;
    }
    for (auto& w : FailedRules(r.name, run.metrics, "warn")) warnings.push_back(std::move(w));
  }
  g.passed = g.details.empty();
  if (checks == 0) {
    g.reason = "the flow has no check recipe";
  } else if (g.passed) {
    g.reason = fmt::format("{} check recipe{} green{}", checks, checks == 1 ? "" : "s",
                           warnings.empty() ? "" : fmt::format(" ({} warnings)", warnings.size()));
    g.details = std::move(warnings);
  } else {
    g.reason =
        fmt::format("{} failing check{}", g.details.size(), g.details.size() == 1 ? "" : "s");
  }
  return g;
}

std::vector<std::pair<std::string, std::string>> SchemaColumns(const std::string& schema) {
  std::vector<std::pair<std::string, std::string>> out;
  json j = json::parse(schema, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& f : j)
    if (f.is_object() && f.contains("name") && f["name"].is_string())
      out.emplace_back(f["name"].get<std::string>(), f.value("type", std::string()));
  return out;
}

// Follows column lineage upwards to a column tagged personal, stopping at
// pseudonymisation (masking) and at indirect edges (join keys, filters), which
// do not carry values into the column.
class PersonalDataTracer {
 public:
  explicit PersonalDataTracer(const PromotionEvidence& e) : e_(e) {
    for (const auto& [name, ds] : e.flow.datasets)
      for (const auto& c : ds.columns)
        if (std::find(c.tags.begin(), c.tags.end(), kPersonalTag) != c.tags.end())
          personal_.insert({name, c.name});
  }

  bool Personal(const std::string& dataset, const std::string& column) const {
    return personal_.count({dataset, column}) > 0;
  }

  // The path from (dataset, column) to a personal column, or nothing.
  std::optional<std::vector<std::string>> Trace(const std::string& dataset,
                                                const std::string& column) {
    const Key key{dataset, column};
    if (auto m = memo_.find(key); m != memo_.end()) return m->second;
    if (Personal(dataset, column))
      return memo_[key] = std::vector<std::string>{dataset + "." + column + " (personal)"};
    if (!visiting_.insert(key).second) return std::nullopt;  // a cycle: nothing new there
    std::optional<std::vector<std::string>> found;
    auto v = e_.versions.find(dataset);
    if (v != e_.versions.end()) {
      for (const auto& edge : v->second.column_lineage) {
        if (found) break;
        if (edge.column != column) continue;
        if (edge.transform == "masking" || edge.transform == "join_key" ||
            edge.transform == "filter")
          continue;
        std::vector<std::string> inputs;
        if (edge.input_column.empty()) {  // opaque: any column of the input
          inputs = ColumnsOf(edge.input_dataset);
        } else {
          inputs.push_back(edge.input_column);
        }
        for (const auto& ic : inputs) {
          auto up = Trace(edge.input_dataset, ic);
          if (!up) continue;
          std::vector<std::string> path{
              fmt::format("{}.{} ({})", dataset, column,
                          edge.input_column.empty() ? "opaque: any column of " + edge.input_dataset
                                                    : edge.transform)};
          path.insert(path.end(), up->begin(), up->end());
          found = std::move(path);
          break;
        }
      }
    }
    visiting_.erase(key);
    memo_[key] = found;
    return found;
  }

 private:
  using Key = std::pair<std::string, std::string>;
  std::vector<std::string> ColumnsOf(const std::string& dataset) const {
    std::vector<std::string> out;
    if (auto v = e_.versions.find(dataset); v != e_.versions.end())
      for (auto& [name, type] : SchemaColumns(v->second.schema)) out.push_back(name);
    for (const auto& [d, c] : personal_)
      if (d == dataset && std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
    return out;
  }

  const PromotionEvidence& e_;
  std::set<Key> personal_;
  std::map<Key, std::optional<std::vector<std::string>>> memo_;
  std::set<Key> visiting_;
};

// A gate that reads what the datalab run recorded cannot be judged without one.
std::optional<GateResult> NotJudged(const PromotionEvidence& e, const char* gate) {
  if (!e.runs.empty()) return std::nullopt;
  GateResult g{gate, false, false, "not judged: no datalab run at this commit", {}};
  return g;
}

GateResult DataPolicy(const PromotionEvidence& e) {
  if (auto nj = NotJudged(e, kGateDataPolicy)) return *nj;
  GateResult g{kGateDataPolicy, true, true, "", {}};
  PersonalDataTracer tracer(e);
  int derived = 0, personal_sources = 0;
  for (const auto& r : e.flow.recipes) {
    const bool source = r.inputs.empty();
    for (const auto& out : r.outputs) {
      auto v = e.versions.find(out);
      if (source) {
        for (const auto& [name, type] : v == e.versions.end()
                                            ? std::vector<std::pair<std::string, std::string>>{}
                                            : SchemaColumns(v->second.schema))
          personal_sources += tracer.Personal(out, name) ? 1 : 0;
        continue;
      }
      ++derived;
      if (v == e.versions.end()) {
        g.details.push_back(
            fmt::format("{} (recipe {}): no version at commit {} to follow its lineage", out,
                        r.name, Short(e.commit)));
        continue;
      }
      for (const auto& [column, type] : SchemaColumns(v->second.schema)) {
        if (tracer.Personal(out, column)) {
          g.details.push_back(fmt::format(
              "{}.{} (recipe {}) is tagged personal in a derived dataset", out, column, r.name));
          continue;
        }
        auto path = tracer.Trace(out, column);
        if (!path) continue;
        g.details.push_back(fmt::format("{}.{} (recipe {}) carries {} un-pseudonymised: {}", out,
                                        column, r.name, path->back(), Joined(*path, " <- ")));
      }
    }
  }
  g.passed = g.details.empty();
  g.reason = g.passed ? fmt::format(
                            "no personal column reaches the {} derived datasets "
                            "un-pseudonymised ({} personal source columns)",
                            derived, personal_sources)
                      : fmt::format("{} column{} carry personal data un-pseudonymised",
                                    g.details.size(), g.details.size() == 1 ? "" : "s");
  return g;
}

GateResult Schema(const PromotionEvidence& e, bool allow_breaking) {
  if (auto nj = NotJudged(e, kGateSchema)) return *nj;
  GateResult g{kGateSchema, true, true, "", {}};
  if (!e.current) {
    g.reason = "first release: no schema to stay compatible with";
    return g;
  }
  const json now = ReleaseSchemas(e);
  const json& before = e.current->schemas;
  std::vector<std::string> breaking;
  int added = 0;
  for (auto it = before.begin(); it != before.end(); ++it) {
    const std::string& dataset = it.key();
    if (!now.contains(dataset)) {
      breaking.push_back(fmt::format("{}: dataset removed", dataset));
      continue;
    }
    std::map<std::string, std::string> cols;
    for (const auto& c : now[dataset]) cols[c.value("name", "")] = c.value("type", "");
    for (const auto& c : it.value()) {
      const std::string name = c.value("name", ""), type = c.value("type", "");
      auto found = cols.find(name);
      if (found == cols.end())
        breaking.push_back(fmt::format("{}: column {} removed", dataset, name));
      else if (found->second != type)
        breaking.push_back(
            fmt::format("{}: column {} retyped {} -> {}", dataset, name, type, found->second));
    }
    added += static_cast<int>(cols.size()) - static_cast<int>(it.value().size());
  }
  const std::string against = fmt::format("release {}", e.current->number);
  if (breaking.empty()) {
    g.reason = fmt::format("compatible with {}{}", against,
                           added > 0 ? fmt::format(" ({} columns added)", added) : "");
    return g;
  }
  g.details = std::move(breaking);
  g.passed = allow_breaking;
  g.reason = allow_breaking
                 ? fmt::format("{} breaking change{} against {}, allowed by --allow-breaking",
                               g.details.size(), g.details.size() == 1 ? "" : "s", against)
                 : fmt::format(
                       "{} breaking change{} against {}; promote with --allow-breaking "
                       "once its consumers are ready",
                       g.details.size(), g.details.size() == 1 ? "" : "s", against);
  return g;
}

json GatesJson(const std::vector<GateResult>& gates) {
  json out = json::array();
  for (const auto& g : gates)
    out.push_back({{"gate", g.gate},
                   {"passed", g.passed},
                   {"judged", g.judged},
                   {"reason", g.reason},
                   {"details", g.details}});
  return out;
}

// The highest N of the tags release/FLOW/N.
Result<int> HighestTaggedRelease(const std::filesystem::path& root, const std::string& flow) {
  const std::string prefix = ReleaseTag(flow, 0).substr(0, ReleaseTag(flow, 0).size() - 1);
  ALAMBIC_ASSIGN_OR_RETURN(auto tags, GitListTags(root, prefix));
  int highest = 0;
  for (const auto& t : tags) {
    const std::string rest = t.name.substr(prefix.size());
    if (rest.empty() || rest.size() > 9 ||
        !std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    highest = std::max(highest, std::stoi(rest));
  }
  return highest;
}

}  // namespace

std::string ReleaseTag(const std::string& flow, int number) {
  return fmt::format("release/{}/{}", flow, number);
}

json ReleaseSchemas(const PromotionEvidence& e) {
  json out = json::object();
  for (const auto& r : e.flow.recipes)
    for (const auto& d : r.outputs) {
      auto v = e.versions.find(d);
      if (v == e.versions.end()) continue;
      json cols = json::array();
      for (const auto& [name, type] : SchemaColumns(v->second.schema))
        cols.push_back({{"name", name}, {"type", type}});
      out[d] = std::move(cols);
    }
  return out;
}

std::vector<GateResult> EvaluateGates(const PromotionEvidence& e, bool allow_breaking) {
  return {Committed(e), DatalabRun(e), Checks(e), DataPolicy(e), Schema(e, allow_breaking)};
}

Result<PromoteOutcome> Promote(Catalog& catalog, const std::filesystem::path& root,
                               const std::string& datalab, const PromoteOptions& o,
                               const Actor& who) {
  PromotionEvidence e;
  e.flow_name = o.flow;
  e.datalab = datalab;
  ALAMBIC_ASSIGN_OR_RETURN(e.commit,
                           GitResolveRevision(root, o.commit.empty() ? "HEAD" : o.commit));
  ALAMBIC_ASSIGN_OR_RETURN(std::string head, GitResolveRevision(root, "HEAD"));
  e.commit_is_head = e.commit == head;
  ALAMBIC_ASSIGN_OR_RETURN(e.flow, LoadFlowAt(root, e.commit, o.flow));
  if (e.commit_is_head) {
    std::vector<std::string> files = FlowFiles(e.flow);
    ALAMBIC_ASSIGN_OR_RETURN(e.uncommitted, GitUncommittedPaths(root, files));
  }
  ALAMBIC_ASSIGN_OR_RETURN(auto runs, catalog.LatestRecipeRunsAtCommit(datalab, o.flow, e.commit));
  for (auto& r : runs) {
    for (const auto& [dataset, id] : r.outputs) {
      ALAMBIC_ASSIGN_OR_RETURN(auto v, catalog.FindVersion(datalab, dataset, id));
      if (!v) continue;
      ALAMBIC_RETURN_IF_ERROR(catalog.LoadLineage(&*v));
      e.versions[dataset] = std::move(*v);
    }
    std::string name = r.recipe;
    e.runs.emplace(std::move(name), std::move(r));
  }
  ALAMBIC_ASSIGN_OR_RETURN(e.current, catalog.ActiveRelease(o.flow, o.to));

  PromoteOutcome outcome;
  outcome.commit = e.commit;
  outcome.gates = EvaluateGates(e, o.allow_breaking);
  const bool admitted = std::all_of(outcome.gates.begin(), outcome.gates.end(),
                                    [](const GateResult& g) { return g.passed; });
  AuditEntry audit;
  audit.user = who.user;
  audit.host = who.host;
  audit.action = "promote";
  audit.environment = o.to;
  audit.flow = o.flow;
  audit.target = e.commit;
  audit.detail = {{"commit", e.commit}, {"gates", GatesJson(outcome.gates)}, {"note", o.note}};
  if (!admitted) {
    audit.outcome = "refused";
    ALAMBIC_RETURN_IF_ERROR(catalog.AppendAudit(audit));
    return outcome;
  }

  ALAMBIC_ASSIGN_OR_RETURN(int next, catalog.NextReleaseNumber(o.flow, o.to));
  ALAMBIC_ASSIGN_OR_RETURN(int tagged, HighestTaggedRelease(root, o.flow));
  ReleaseRecord rel;
  rel.flow = o.flow;
  rel.environment = o.to;
  rel.number = std::max(next, tagged + 1);
  rel.git_commit = e.commit;
  rel.tag = ReleaseTag(o.flow, rel.number);
  rel.gates = GatesJson(outcome.gates);
  rel.schemas = ReleaseSchemas(e);
  rel.user = who.user;
  rel.host = who.host;
  rel.note = o.note;
  std::string message = fmt::format("Release {} of flow {} to {}\n\n", rel.number, o.flow, o.to);
  if (!o.note.empty()) message += o.note + "\n\n";
  for (const auto& g : outcome.gates)
    message += fmt::format("{}: {}: {}\n", g.gate, g.passed ? "pass" : "fail", g.reason);
  message += fmt::format("\nPromoted by {}@{}\n", who.user, who.host);
  ALAMBIC_RETURN_IF_ERROR(GitCreateAnnotatedTag(root, rel.tag, e.commit, message));
  CrashPoint("promotion");
  // The release, its activation and its audit entry in one transaction: never a
  // release running in production that the audit log does not name.
  audit.outcome = "ok";
  audit.target = rel.tag;
  audit.detail["release"] = rel.number;
  ALAMBIC_RETURN_IF_ERROR(catalog.AddRelease(rel, who, &audit));
  CrashPoint("promotion_recorded");
  ALAMBIC_ASSIGN_OR_RETURN(outcome.release, catalog.ActiveRelease(o.flow, o.to));
  return outcome;
}

Result<ReleaseCheckout> CheckoutActiveRelease(Catalog& catalog, const std::filesystem::path& root,
                                              const std::string& flow, const std::string& env) {
  ALAMBIC_ASSIGN_OR_RETURN(auto active, catalog.ActiveRelease(flow, env));
  if (!active)
    return Status::NotFound(fmt::format(
        "flow {} has no release in the {}: only released code runs there; promote it with "
        "`alambic promote {} --to {}`",
        flow, env, flow, env));
  auto tagged = GitResolveRevision(root, active->tag);
  if (!tagged.ok())
    return Status::Failed(
        fmt::format("release {} of flow {}: its tag {} is missing; refusing to run", active->number,
                    flow, active->tag));
  if (*tagged != active->git_commit)
    return Status::Failed(fmt::format(
        "release {} of flow {}: tag {} names commit {} but the release was made from {}; "
        "refusing to run a moved tag",
        active->number, flow, active->tag, Short(*tagged), Short(active->git_commit)));
  ReleaseCheckout out;
  ALAMBIC_ASSIGN_OR_RETURN(
      out.code_root,
      GitCheckoutInto(root, root / ".alambic" / "checkouts" / env / flow, active->git_commit));
  out.release = std::move(*active);
  return out;
}

}  // namespace alambic
