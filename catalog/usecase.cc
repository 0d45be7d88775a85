#include "catalog/usecase.h"

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/table/decode.h"

namespace alambic {
namespace {

template <size_t N>
bool OneOf(const std::string& v, const char* const (&allowed)[N]) {
  return std::any_of(std::begin(allowed), std::end(allowed), [&](const char* a) { return v == a; });
}

template <size_t N>
std::string List(const char* const (&allowed)[N]) {
  std::string s;
  for (const char* a : allowed) s += (s.empty() ? "" : ", ") + std::string(a);
  return s;
}

// Reads one card, collecting problems with their place.
class CardReader {
 public:
  CardReader(std::string file, std::vector<Diagnostic>* diags)
      : file_(std::move(file)), diags_(diags) {}

  SourceLoc Loc(const YAML::Node& n) const {
    const YAML::Mark m = n.Mark();
    if (m.line < 0) return {file_, 0, 0};
    return {file_, m.line + 1, m.column + 1};
  }
  void Error(const YAML::Node& n, std::string message) {
    diags_->push_back({Loc(n), std::move(message)});
  }

  bool Text(const YAML::Node& n, const std::string& what, std::string* out) {
    if (!n.IsScalar()) {
      Error(n, fmt::format("{} must be text", what));
      return false;
    }
    *out = n.as<std::string>();
    return true;
  }
  bool Number(const YAML::Node& n, const std::string& what, std::optional<double>* out) {
    double v = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v)) {
      Error(n, fmt::format("{} must be a number", what));
      return false;
    }
    *out = v;
    return true;
  }
  void Date(const YAML::Node& n, const std::string& what, std::string* out) {
    if (!Text(n, what, out)) return;
    static const std::regex kDate(R"((\d{4})-(\d{2})-(\d{2}))");
    std::smatch m;
    if (!std::regex_match(*out, m, kDate) || std::stoi(m[2]) < 1 || std::stoi(m[2]) > 12 ||
        std::stoi(m[3]) < 1 || std::stoi(m[3]) > 31)
      Error(n, fmt::format("{} must be a date YYYY-MM-DD, not '{}'", what, *out));
  }
  void TextList(const YAML::Node& n, const std::string& what, std::vector<std::string>* out) {
    if (n.IsScalar()) {
      out->push_back(n.as<std::string>());
      return;
    }
    if (!n.IsSequence()) return Error(n, fmt::format("{} must be a list", what));
    for (const auto& item : n) {
      std::string s;
      if (Text(item, fmt::format("each of {}", what), &s)) out->push_back(s);
    }
  }
  // Calls fn(key, value) per key of mapping `n`, refusing keys not in `allowed`.
  template <typename Fn>
  void Keys(const YAML::Node& n, const std::string& what, const std::vector<std::string>& allowed,
            Fn fn) {
    if (!n.IsMap()) return Error(n, fmt::format("{} must be a mapping", what));
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        Error(it->first,
              fmt::format("unknown key '{}' in {} (expected one of: {})", key, what, list));
        continue;
      }
      fn(key, it->second, it->first);
    }
  }

 private:
  std::string file_;
  std::vector<Diagnostic>* diags_;
};

const std::vector<std::string> kCardKeys = {
    "usecase", "id",     "title",    "description", "owner", "team",  "direction", "ministry",
    "status",  "reason", "priority", "benefits",    "tags",  "links", "sources"};

}  // namespace

UseCaseCard ParseUseCase(const std::string& text, const std::string& file,
                         std::vector<Diagnostic>* diags) {
  UseCaseCard card;
  card.file = file;
  card.loc = {file, 1, 1};
  if (auto not_utf8 = NotUtf8Diagnostic(text, file)) {
    diags->push_back(std::move(*not_utf8));
    return card;
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    diags->push_back({{file, e.mark.line + 1, e.mark.column + 1}, "YAML: " + e.msg});
    return card;
  }
  CardReader r(file, diags);
  if (!root.IsMap()) {
    diags->push_back({{file, 1, 1}, "a use-case card must be a mapping (usecase: ID, title: ...)"});
    return card;
  }
  bool has_id = false;
  r.Keys(
      root, "the card", kCardKeys,
      [&](const std::string& key, const YAML::Node& v, const YAML::Node& k) {
        if (key == "usecase" || key == "id") {
          if (has_id) return r.Error(k, "give the id once (usecase: or id:)");
          has_id = true;
          card.loc = r.Loc(v);
          if (r.Text(v, "the id", &card.id)) {
            static const std::regex kId("[a-z0-9][a-z0-9_-]*");
            if (!std::regex_match(card.id, kId))
              r.Error(v,
                      fmt::format("id '{}': use lower-case letters, digits, '-' and '_'", card.id));
          }
        } else if (key == "title") {
          r.Text(v, "title", &card.title);
        } else if (key == "description") {
          r.Text(v, "description", &card.description);
        } else if (key == "owner") {
          r.Text(v, "owner", &card.owner);
        } else if (key == "team") {
          r.Text(v, "team", &card.team);
        } else if (key == "direction") {
          r.Text(v, "direction", &card.direction);
        } else if (key == "ministry") {
          r.Text(v, "ministry", &card.ministry);
        } else if (key == "status") {
          if (r.Text(v, "status", &card.status) && !OneOf(card.status, kUseCaseStatuses))
            r.Error(v, fmt::format("unknown status '{}' (expected one of: {})", card.status,
                                   List(kUseCaseStatuses)));
        } else if (key == "reason") {
          r.Text(v, "reason", &card.reason);
        } else if (key == "priority") {
          if (r.Text(v, "priority", &card.priority) && !OneOf(card.priority, kUseCasePriorities))
            r.Error(v, fmt::format("unknown priority '{}' (expected one of: {})", card.priority,
                                   List(kUseCasePriorities)));
        } else if (key == "tags") {
          r.TextList(v, "tags", &card.tags);
        } else if (key == "benefits") {
          r.Keys(v, "benefits", {"expected", "measured", "kpis"},
                 [&](const std::string& bk, const YAML::Node& bv, const YAML::Node&) {
                   if (bk == "expected") {
                     r.Text(bv, "benefits expected", &card.expected_benefits);
                   } else if (bk == "measured") {
                     r.Text(bv, "benefits measured", &card.measured_benefits);
                   } else if (!bv.IsSequence()) {
                     r.Error(bv, "benefits kpis must be a list of {name, unit, expected, ...}");
                   } else {
                     for (const auto& kv : bv) {
                       Kpi kpi;
                       r.Keys(kv, "a kpi", {"name", "unit", "expected", "measured", "date"},
                              [&](const std::string& kk, const YAML::Node& x, const YAML::Node&) {
                                if (kk == "name") r.Text(x, "kpi name", &kpi.name);
                                if (kk == "unit") r.Text(x, "kpi unit", &kpi.unit);
                                if (kk == "expected") r.Number(x, "kpi expected", &kpi.expected);
                                if (kk == "measured") r.Number(x, "kpi measured", &kpi.measured);
                                if (kk == "date") r.Date(x, "kpi date", &kpi.date);
                              });
                       if (kv.IsMap() && kpi.name.empty()) r.Error(kv, "a kpi needs a name");
                       card.kpis.push_back(std::move(kpi));
                     }
                   }
                 });
        } else if (key == "links") {
          if (!v.IsSequence()) return r.Error(v, "links must be a list of {title, url, type}");
          for (const auto& lv : v) {
            UseCaseLink link;
            r.Keys(lv, "a link", {"title", "url", "type"},
                   [&](const std::string& lk, const YAML::Node& x, const YAML::Node&) {
                     if (lk == "title") r.Text(x, "link title", &link.title);
                     if (lk == "url") r.Text(x, "link url", &link.url);
                     if (lk == "type" && r.Text(x, "link type", &link.type) &&
                         !OneOf(link.type, kUseCaseLinkTypes))
                       r.Error(x, fmt::format("unknown link type '{}' (expected one of: {})",
                                              link.type, List(kUseCaseLinkTypes)));
                   });
            if (lv.IsMap() && link.url.empty()) r.Error(lv, "a link needs a url");
            card.links.push_back(std::move(link));
          }
        } else if (key == "sources") {
          if (!v.IsSequence()) return r.Error(v, "sources must be a list");
          for (const auto& sv : v) {
            UseCaseSource src;
            if (sv.IsScalar()) {
              src.name = sv.as<std::string>();
            } else {
              r.Keys(sv, "a source", {"name", "description", "dataset"},
                     [&](const std::string& sk, const YAML::Node& x, const YAML::Node&) {
                       if (sk == "name") r.Text(x, "source name", &src.name);
                       if (sk == "description") r.Text(x, "source description", &src.description);
                       if (sk == "dataset") r.Text(x, "source dataset", &src.dataset);
                     });
              if (sv.IsMap() && src.name.empty()) r.Error(sv, "a source needs a name");
            }
            card.sources.push_back(std::move(src));
          }
        }
      });
  const YAML::Node& at = root;
  if (!has_id) r.Error(at, "the card has no id (usecase: ID)");
  if (card.title.empty()) r.Error(at, "the card has no title");
  if (card.owner.empty()) r.Error(at, "the card has no owner");
  if (card.status.empty())
    r.Error(at, "the card has no status (one of: " + List(kUseCaseStatuses) + ")");
  if (card.status == "abandoned" && card.reason.empty())
    r.Error(at["status"], "an abandoned use case needs a reason (reason: why it stopped)");
  return card;
}

LoadedUseCases LoadUseCases(const std::filesystem::path& root, FileSystem& fs) {
  LoadedUseCases out;
  std::error_code ec;
  const auto dir = root / "usecases";
  auto names = fs.List(dir);
  if (!names.ok()) return out;  // no folder (or not one)
  std::vector<std::filesystem::path> files;
  for (const auto& name : *names) {
    const std::filesystem::path p = dir / name;
    const auto ext = p.extension();
    if ((ext == ".yaml" || ext == ".yml") && fs.IsRegularFile(p)) files.push_back(p);
  }
  std::map<std::string, SourceLoc> seen;
  for (const auto& p : files) {
    const std::string rel = std::filesystem::relative(p, root, ec).generic_string();
    auto text = fs.ReadFile(p);
    if (!text.ok()) {
      out.diagnostics.push_back({{rel, 0, 0}, "cannot read the file"});
      continue;
    }
    UseCaseCard card = ParseUseCase(*text, rel, &out.diagnostics);
    if (!card.id.empty()) {
      auto [it, fresh] = seen.emplace(card.id, card.loc);
      if (!fresh) {
        out.diagnostics.push_back({card.loc, fmt::format("use case '{}' is already defined at {}",
                                                         card.id, it->second.ToString())});
        continue;
      }
    }
    out.cards.push_back(std::move(card));
  }
  return out;
}

nlohmann::json UseCaseJson(const UseCaseCard& c) {
  nlohmann::json kpis = nlohmann::json::array();
  for (const auto& k : c.kpis) {
    nlohmann::json j = {{"name", k.name}, {"unit", k.unit}, {"date", k.date}};
    j["expected"] = k.expected ? nlohmann::json(*k.expected) : nlohmann::json(nullptr);
    j["measured"] = k.measured ? nlohmann::json(*k.measured) : nlohmann::json(nullptr);
    kpis.push_back(std::move(j));
  }
  nlohmann::json links = nlohmann::json::array();
  for (const auto& l : c.links)
    links.push_back({{"title", l.title}, {"url", l.url}, {"type", l.type}});
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& s : c.sources)
    sources.push_back({{"name", s.name}, {"description", s.description}, {"dataset", s.dataset}});
  return {{"id", c.id},
          {"title", c.title},
          {"description", c.description},
          {"owner", c.owner},
          {"team", c.team},
          {"direction", c.direction},
          {"ministry", c.ministry},
          {"status", c.status},
          {"reason", c.reason},
          {"priority", c.priority},
          {"benefits",
           {{"expected", c.expected_benefits}, {"measured", c.measured_benefits}, {"kpis", kpis}}},
          {"tags", c.tags},
          {"links", links},
          {"sources", sources},
          {"file", c.file}};
}

UseCaseCard UseCaseFromJson(const nlohmann::json& j) {
  UseCaseCard c;
  auto s = [&](const nlohmann::json& o, const char* k) {
    return o.contains(k) && o[k].is_string() ? o[k].get<std::string>() : std::string();
  };
  c.id = s(j, "id");
  c.title = s(j, "title");
  c.description = s(j, "description");
  c.owner = s(j, "owner");
  c.team = s(j, "team");
  c.direction = s(j, "direction");
  c.ministry = s(j, "ministry");
  c.status = s(j, "status");
  c.reason = s(j, "reason");
  c.priority = s(j, "priority");
  c.file = s(j, "file");
  if (j.contains("benefits") && j["benefits"].is_object()) {
    const auto& b = j["benefits"];
    c.expected_benefits = s(b, "expected");
    c.measured_benefits = s(b, "measured");
    if (b.contains("kpis") && b["kpis"].is_array())
      for (const auto& k : b["kpis"]) {
        Kpi kpi{s(k, "name"), s(k, "unit"), std::nullopt, std::nullopt, s(k, "date")};
        if (k.contains("expected") && k["expected"].is_number()) kpi.expected = k["expected"];
        if (k.contains("measured") && k["measured"].is_number()) kpi.measured = k["measured"];
        c.kpis.push_back(std::move(kpi));
      }
  }
  if (j.contains("tags") && j["tags"].is_array())
    for (const auto& t : j["tags"])
      if (t.is_string()) c.tags.push_back(t);
  if (j.contains("links") && j["links"].is_array())
    for (const auto& l : j["links"]) c.links.push_back({s(l, "title"), s(l, "url"), s(l, "type")});
  if (j.contains("sources") && j["sources"].is_array())
    for (const auto& x : j["sources"])
      c.sources.push_back({s(x, "name"), s(x, "description"), s(x, "dataset")});
  return c;
}

}  // namespace alambic
