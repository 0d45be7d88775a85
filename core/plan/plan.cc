#include "core/plan/plan.h"

#include <algorithm>
#include <set>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

#include "core/base/hash.h"
#include "core/net/http_client.h"

namespace alambic {

const char* DecisionName(Decision d) {
  switch (d) {
    case Decision::kRun:
      return "run";
    case Decision::kUpToDate:
      return "up to date";
    case Decision::kNotSelected:
      return "not selected";
  }
  return "?";
}

bool PlanState::LastBuildProduced(const std::string& flow_recipe,
                                  const std::vector<std::string>& datasets,
                                  const std::vector<std::string>& versions) const {
  const RecipeState* last = LastBuild(flow_recipe);
  if (!last || last->outputs.size() != datasets.size()) return false;
  for (size_t k = 0; k < datasets.size(); ++k) {
    auto it = last->outputs.find(datasets[k]);
    if (it == last->outputs.end() || it->second != versions[k]) return false;
  }
  return true;
}

std::string ParamsHash(const RecipeSpec& recipe) {
  Hasher h;
  h.Field(recipe.params.dump());  // nlohmann::json objects keep keys sorted: canonical
  return h.HexDigest();
}

namespace {

// Characters of a version id shown in reasons.
constexpr size_t kShortVersion = 12;

// Resolves "recipe" or "flow/recipe" to graph indices.
Result<std::vector<int>> Resolve(const FlowGraph& g, const std::vector<std::string>& names,
                                 const char* option) {
  std::vector<int> out;
  for (const auto& n : names) {
    auto slash = n.find('/');
    std::string flow = slash == std::string::npos ? "" : n.substr(0, slash);
    std::string rec = slash == std::string::npos ? n : n.substr(slash + 1);
    std::vector<int> matches;
    for (int i = 0; i < g.size(); ++i)
      if (g.node(i).recipe->name == rec && (flow.empty() || g.node(i).flow->name == flow))
        matches.push_back(i);
    if (matches.empty()) return Status::Invalid(fmt::format("{}: no recipe named '{}'", option, n));
    if (matches.size() > 1)
      return Status::Invalid(
          fmt::format("{}: recipe name '{}' is in several flows; write FLOW/{}", option, n, rec));
    out.push_back(matches[0]);
  }
  return out;
}

// A fingerprinter's error with "recipe NAME: " in front, unless the kind already put it there
// (kinds name the recipe in their own messages).
Status InRecipe(const Status& st, const std::string& recipe) {
  const std::string prefix = fmt::format("recipe {}", recipe);
  if (st.message().rfind(prefix + ": ", 0) == 0) return st;
  return st.WithContext(prefix);
}

// "secret pseudo_key changed" (or "... added", "... removed"), from two salt objects.
std::string SaltChange(const std::string& before, const std::string& now) {
  auto parse = [](const std::string& s) {
    nlohmann::json j = s.empty() ? nlohmann::json::object()
                                 : nlohmann::json::parse(s, nullptr, /*allow_exceptions=*/false);
    return j.is_object() ? j : nlohmann::json::object();
  };
  const nlohmann::json a = parse(before), b = parse(now);
  std::vector<std::string> parts;
  for (const auto& [what, id] : b.items()) {
    if (!a.contains(what))
      parts.push_back(what + " added");
    else if (a[what] != id)
      parts.push_back(what + " changed");
  }
  for (const auto& [what, id] : a.items())
    if (!b.contains(what)) parts.push_back(what + " removed");
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out.empty() ? "version salts changed" : out;
}

}  // namespace

Result<Plan> MakePlan(const Workspace& ws, const FlowGraph& g, const RecipeRegistry& kinds,
                      const PlanState& state, Fingerprinter& fingerprints, const PlanOptions& opt) {
  std::set<std::string> flows(opt.flows.begin(), opt.flows.end());
  for (const auto& f : flows)
    if (!ws.FindFlow(f)) return Status::Invalid(fmt::format("no flow named '{}'", f));
  auto in_flows = [&](int i) { return flows.empty() || flows.count(g.node(i).flow->name) > 0; };

  const size_t n = static_cast<size_t>(g.size());
  std::vector<char> selected(n, 0);
  if (!opt.only.empty()) {
    ALAMBIC_ASSIGN_OR_RETURN(auto only, Resolve(g, opt.only, "--only"));
    for (int i : only) selected[static_cast<size_t>(i)] = 1;
  } else {
    for (size_t i = 0; i < n; ++i) selected[i] = in_flows(static_cast<int>(i));
    if (!opt.from.empty()) {
      ALAMBIC_ASSIGN_OR_RETURN(auto from, Resolve(g, opt.from, "--from"));
      std::vector<char> mark(n, 0);
      for (int i : from) g.MarkDescendants(i, &mark);
      for (size_t i = 0; i < n; ++i) selected[i] &= mark[i];
    }
    if (!opt.to.empty()) {
      ALAMBIC_ASSIGN_OR_RETURN(auto to, Resolve(g, opt.to, "--to"));
      std::vector<char> mark(n, 0);
      for (int i : to) g.MarkAncestors(i, &mark);
      for (size_t i = 0; i < n; ++i) selected[i] &= mark[i];
    }
  }

  Plan plan;
  plan.recipes.reserve(n);
  // Dataset (names owned by `ws`) -> the version id feeding its consumers.
  std::unordered_map<std::string_view, std::string> version;
  version.reserve(n);
  // Each recipe's decision, for the reasons of its consumers.
  std::vector<Decision> decisions(n, Decision::kUpToDate);
  for (int i : g.TopologicalOrder()) {
    const auto idx = static_cast<size_t>(i);
    const RecipeNode& node = g.node(i);
    const RecipeSpec& r = *node.recipe;
    RecipePlan rp;
    rp.node = i;
    rp.input_versions.reserve(r.inputs.size());
    for (const auto& in : r.inputs) {
      auto it = version.find(in);
      rp.input_versions.push_back(it == version.end() ? state.Current(in) : it->second);
    }
    if (!selected[idx]) {
      rp.decision = Decision::kNotSelected;
      rp.reason = Reason::kNotSelected;
      rp.explanation = "not selected";
      for (const auto& out : r.outputs) {
        rp.output_versions.push_back(state.Current(out));
        version[out] = rp.output_versions.back();
      }
      decisions[idx] = rp.decision;
      if (in_flows(i)) plan.recipes.push_back(std::move(rp));
      continue;
    }
    const RecipeKind* kind = kinds.Find(r.kind);
    if (!kind)
      return Status::Invalid(fmt::format("recipe {}: unknown recipe kind '{}'", r.name, r.kind));
    for (size_t k = 0; k < r.inputs.size(); ++k)
      if (rp.input_versions[k].empty()) {
        int p = g.ProducerOf(r.inputs[k]);
        return Status::Invalid(fmt::format(
            "recipe {}: input '{}' has never been built and its producer {} is not selected; "
            "run without --only/--from or include it",
            r.name, r.inputs[k], p < 0 ? std::string("(none)") : g.node(p).Label()));
      }
    rp.params_hash = ParamsHash(r);
    std::vector<std::string> code_files = kind->CodeFiles(r.params);
    if (!r.script.empty()) code_files.push_back(r.script);
    if (!code_files.empty()) {
      Hasher h;
      for (const auto& f : code_files) {
        auto fh = fingerprints.FileHash(f);
        if (!fh.ok())
          return fh.status().WithContext(fmt::format("recipe {}: code file {}", r.name, f));
        h.Field(f).Field(*fh);
      }
      rp.code_hash = h.HexDigest();
    }
    if (std::string cv = kind->code_version(); !cv.empty())
      rp.code_hash = Hasher().Field(rp.code_hash).Field(cv).HexDigest();
    {
      auto salts = fingerprints.VersionSalts(r, *kind);
      if (!salts.ok()) return InRecipe(salts.status(), r.name);
      if (!salts->empty()) {
        nlohmann::json j = nlohmann::json::object();
        for (const auto& s : *salts) j[s.what] = s.id;
        rp.salt = j.dump();
      }
    }
    if (kind->is_source()) {
      auto fp = fingerprints.SourceFingerprint(r, *kind);
      if (!fp.ok()) return InRecipe(fp.status(), r.name);
      rp.source_fingerprint = *fp;
    }
    bool all_published = true;
    rp.output_versions.reserve(r.outputs.size());
    for (const auto& out : r.outputs) {
      Hasher h;
      h.Field(kEngineFormatVersion)
          .Field(r.kind)
          .Field(rp.params_hash)
          .Field(rp.code_hash)
          .Field(rp.source_fingerprint);
      // Only recipes with salts hash them: other versions stay as they were.
      if (!rp.salt.empty()) h.Field("salt").Field(rp.salt);
      for (size_t k = 0; k < r.inputs.size(); ++k) h.Field(r.inputs[k]).Field(rp.input_versions[k]);
      h.Field(out);
      rp.output_versions.push_back(h.HexDigest());
      version[out] = rp.output_versions.back();
      if (all_published && !state.Published(out, rp.output_versions.back())) all_published = false;
    }

    // An effect outside the store is up to date only if its target still holds
    // what the expected version wrote (as make: a missing target is stale).
    std::string target_reason;
    if (!opt.force && all_published) {
      auto target = fingerprints.Target(r, *kind);
      if (!target.ok()) return InRecipe(target.status(), r.name);
      if (*target) {
        const EffectTarget& t = **target;
        const std::string short_version = rp.output_versions.empty()
                                              ? std::string()
                                              : rp.output_versions.front().substr(0, kShortVersion);
        if (t.fingerprint.empty()) {
          rp.reason = Reason::kTargetMissing;
          target_reason = fmt::format("target {} is missing", t.label);
        } else if (!state.LastBuildProduced(node.Label(), r.outputs, rp.output_versions)) {
          // Another version was written over it since this one was built.
          rp.reason = Reason::kTargetChanged;
          target_reason = fmt::format("target {} differs from version {}", t.label, short_version);
          if (const RecipeState* last = state.LastBuild(node.Label());
              last && !last->outputs.empty())
            target_reason += fmt::format(" (version {} was written since)",
                                         last->outputs.begin()->second.substr(0, kShortVersion));
        } else {
          nlohmann::json m = state.LastBuildMetrics(node.Label());
          auto it = m.is_object() ? m.find(kTargetFingerprintMetric) : m.end();
          if (it == m.end() || !it->is_string() || it->get<std::string>() != t.fingerprint) {
            rp.reason = Reason::kTargetChanged;
            target_reason =
                fmt::format("target {} differs from version {}", t.label, short_version);
            if (it == m.end()) target_reason += " (what that version wrote was not recorded)";
          }
        }
      }
    }

    if (opt.force) {
      rp.decision = Decision::kRun;
      rp.reason = Reason::kForced;
      rp.explanation = "forced";
    } else if (!target_reason.empty()) {
      rp.decision = Decision::kRun;
      rp.explanation = std::move(target_reason);
    } else if (all_published) {
      rp.decision = Decision::kUpToDate;
      rp.reason = Reason::kUpToDate;
      rp.explanation = state.LastBuildProduced(node.Label(), r.outputs, rp.output_versions)
                           ? "up to date"
                           : "up to date (this version was built before)";
    } else {
      rp.decision = Decision::kRun;
      const RecipeState* last = state.LastBuild(node.Label());
      if (!last) {
        rp.reason = Reason::kNeverBuilt;
        rp.explanation = "never built";
      } else if (last->params_hash != rp.params_hash) {
        rp.reason = Reason::kParamsChanged;
        rp.explanation = "params changed";
      } else if (last->code_hash != rp.code_hash) {
        rp.reason = Reason::kCodeChanged;
        rp.explanation = "code changed (" + [&] {
          std::string s;
          for (const auto& f : code_files) s += (s.empty() ? "" : ", ") + f;
          if (!kind->code_version().empty())
            s += (s.empty() ? "" : ", ") + fmt::format("kind {} {}", r.kind, kind->code_version());
          return s;
        }() + ")";
      } else if (last->salt != rp.salt) {
        rp.reason = Reason::kSaltChanged;
        rp.explanation = SaltChange(last->salt, rp.salt);
      } else if (kind->is_source() && last->source_fingerprint != rp.source_fingerprint) {
        rp.reason = Reason::kSourceChanged;
        rp.explanation = "source data changed";
        if (r.params.contains("path") && r.params["path"].is_string())
          rp.explanation += " (" + r.params["path"].get<std::string>() + ")";
        else if (r.params.contains("url") && r.params["url"].is_string())
          rp.explanation += " (" + RedactedUrl(r.params["url"].get<std::string>()) + ")";
        else if (r.params.contains("connection") && r.params["connection"].is_string())
          rp.explanation += " (connection " + r.params["connection"].get<std::string>() + ")";
      } else {
        rp.reason = Reason::kOutputMissing;
        rp.explanation = "output version missing from the store";
        for (size_t k = 0; k < r.inputs.size(); ++k) {
          auto it = last->inputs.find(r.inputs[k]);
          if (it != last->inputs.end() && it->second == rp.input_versions[k]) continue;
          int p = g.ProducerOf(r.inputs[k]);
          if (p >= 0 && decisions[static_cast<size_t>(p)] == Decision::kRun) {
            rp.reason = Reason::kUpstreamWillChange;
            rp.explanation = fmt::format("upstream will change ({} rebuilds {})",
                                         g.node(p).recipe->name, r.inputs[k]);
          } else {
            rp.reason = Reason::kInputNewVersion;
            rp.explanation = fmt::format("input {} has a new version", r.inputs[k]);
          }
          break;
        }
      }
    }
    if (rp.decision == Decision::kRun) ++plan.to_run;
    decisions[idx] = rp.decision;
    if (in_flows(i) || selected[idx]) plan.recipes.push_back(std::move(rp));
  }
  return plan;
}

}  // namespace alambic
