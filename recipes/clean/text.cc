// The clean recipe (recipes/clean/kind.cc). Text steps: trim, upper, lower, strip_accents,
// normalise_whitespace, replace, regex_replace, regex_extract, split.
#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "core/table/regex.h"
#include "core/table/text.h"
#include "recipes/clean/step.h"

namespace alambic::clean {

namespace {

void NormaliseWhitespace(std::string_view in, std::string* out) {
  bool pending_space = false;
  ForEachCodePoint(in, [&](uint32_t cp, std::string_view bytes) {
    if (cp != kInvalidCodePoint && IsSpace(cp)) {
      pending_space = !out->empty();
      return;
    }
    if (pending_space) out->push_back(' ');
    pending_space = false;
    out->append(bytes);
  });
}

void Trim(std::string_view in, std::string* out) {
  size_t begin = in.size(), end = 0;
  for (size_t pos = 0; pos < in.size();) {
    uint32_t cp = 0;
    size_t len = 1;
    bool valid = DecodeUtf8(in, pos, &cp, &len);
    if (!valid || !IsSpace(cp)) {
      begin = std::min(begin, pos);
      end = pos + len;
    }
    pos += len;
  }
  if (begin < end) out->append(in.substr(begin, end - begin));
}

template <uint32_t (*Map)(uint32_t)>
void MapCase(std::string_view in, std::string* out) {
  ForEachCodePoint(in, [&](uint32_t cp, std::string_view bytes) {
    if (cp == kInvalidCodePoint) {
      out->append(bytes);
    } else {
      AppendUtf8(Map(cp), out);
    }
  });
}

}  // namespace

std::string Lowered(std::string_view s) {
  std::string out;
  MapCase<ToLower>(s, &out);
  return out;
}

namespace {

// Applies fn(text, &out) -> bool (false: null) to every non-null cell of a utf8
// column; counts the cells whose value or null-ness changed.
template <typename Fn>
ColumnPtr MapText(const Column& c, Fn fn, int64_t* changed) {
  ColumnBuilder b(TypeId::kUtf8);
  b.Reserve(c.length);
  std::string buf;
  for (int64_t i = 0; i < c.length; ++i) {
    if (c.IsNull(i)) {
      b.AppendNull();
      continue;
    }
    std::string_view v = c.String(i);
    buf.clear();
    if (!fn(v, &buf)) {
      b.AppendNull();
      ++*changed;
      continue;
    }
    if (buf != v) ++*changed;
    b.AppendString(buf);
  }
  return b.Finish();
}

Result<std::shared_ptr<const Regex>> CompilePattern(const Step& s) {
  auto re = Regex::Compile(s.Str("pattern"));
  if (!re.ok()) return re.status().WithContext("option 'pattern'");
  return re;
}

Status CheckRegex(const Step& s, size_t group) {
  ALAMBIC_ASSIGN_OR_RETURN(auto re, CompilePattern(s));
  if (group > re->groups())
    return Status::Invalid(
        fmt::format("option 'group': the pattern has {} group(s), not {}", re->groups(), group));
  return Status::Ok();
}

}  // namespace

Status CheckReplace(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Need(s, "find", &json::is_string, "a string"));
  ALAMBIC_RETURN_IF_ERROR(Maybe(s, "with", &json::is_string, "a string"));
  if (s.Str("find").empty()) return Status::Invalid("option 'find' must not be empty");
  return Status::Ok();
}

Status CheckRegexReplace(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Need(s, "pattern", &json::is_string, "a string"));
  ALAMBIC_RETURN_IF_ERROR(Maybe(s, "with", &json::is_string, "a string"));
  ALAMBIC_ASSIGN_OR_RETURN(auto re, CompilePattern(s));
  return RegexReplacement::Parse(s.Str("with"), *re).status().WithContext("option 'with'");
}

Status CheckRegexExtract(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Need(s, "pattern", &json::is_string, "a string"));
  ALAMBIC_RETURN_IF_ERROR(Maybe(s, "group", &json::is_number_integer, "an integer"));
  ALAMBIC_RETURN_IF_ERROR(CheckInto(s));
  if (s.Int("group", 1) < 0) return Status::Invalid("option 'group' must be 0 or more");
  return CheckRegex(s, static_cast<size_t>(s.Int("group", 1)));
}

Status CheckSplit(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Need(s, "by", &json::is_string, "a string"));
  ALAMBIC_RETURN_IF_ERROR(Need(s, "into", &json::is_array, "a list of column names"));
  if (s.Str("by").empty()) return Status::Invalid("option 'by' must not be empty");
  const json& into = s.options["into"];
  if (into.empty()) return Status::Invalid("option 'into' must name at least one column");
  std::unordered_set<std::string> seen;
  for (const auto& v : into) {
    if (!v.is_string() || v.get<std::string>().empty())
      return Status::Invalid("option 'into' must be a list of column names");
    if (!seen.insert(v.get<std::string>()).second)
      return Status::Invalid(fmt::format("option 'into' names '{}' twice", v.get<std::string>()));
  }
  return Status::Ok();
}

namespace {

template <void (*Fn)(std::string_view, std::string*)>
Status RunTextStep(const Step& s, const StepEnv& env, Work& w, Report& r) {
  int64_t changed = 0;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.TextColumn(s, w, c));
    auto& wc = w.cols[static_cast<size_t>(i)];
    wc.col = MapText(
        *wc.col,
        [](std::string_view v, std::string* out) {
          Fn(v, out);
          return true;
        },
        &changed);
  }
  r["changed"] = changed;
  return Status::Ok();
}

}  // namespace

Status RunReplace(const Step& s, const StepEnv& env, Work& w, Report& r) {
  const std::string find = s.Str("find"), with = s.Str("with");
  int64_t changed = 0;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.TextColumn(s, w, c));
    auto& wc = w.cols[static_cast<size_t>(i)];
    wc.col = MapText(
        *wc.col,
        [&](std::string_view v, std::string* out) {
          size_t pos = 0;
          for (size_t hit; (hit = v.find(find, pos)) != std::string_view::npos;
               pos = hit + find.size()) {
            out->append(v.substr(pos, hit - pos));
            out->append(with);
          }
          out->append(v.substr(pos));
          return true;
        },
        &changed);
  }
  r["changed"] = changed;
  return Status::Ok();
}

Status RunRegexReplace(const Step& s, const StepEnv& env, Work& w, Report& r) {
  auto re = CompilePattern(s);
  if (!re.ok()) return env.Error(s, re.status().message());
  auto with = RegexReplacement::Parse(s.Str("with"), **re);
  if (!with.ok()) return env.Error(s, "option 'with': " + with.status().message());
  Regex::Matcher m(**re);
  int64_t changed = 0;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.TextColumn(s, w, c));
    auto& wc = w.cols[static_cast<size_t>(i)];
    const Column& src = *wc.col;
    ColumnBuilder b(TypeId::kUtf8);
    b.Reserve(src.length);
    std::string buf;
    for (int64_t row = 0; row < src.length; ++row) {
      if (src.IsNull(row)) {
        b.AppendNull();
        continue;
      }
      const std::string_view v = src.String(row);
      buf.clear();
      Status st = m.ReplaceAll(v, *with, &buf);
      if (!st.ok())
        return env.Error(s, fmt::format("column '{}', row {}: {}", c, row + 1, st.message()));
      if (buf != v) ++changed;
      b.AppendString(buf);
    }
    wc.col = b.Finish();
  }
  r["changed"] = changed;
  return Status::Ok();
}

Status RunRegexExtract(const Step& s, const StepEnv& env, Work& w, Report& r) {
  auto re = CompilePattern(s);
  if (!re.ok()) return env.Error(s, re.status().message());
  Regex::Matcher m(**re);
  const size_t group = static_cast<size_t>(s.Int("group", 1));
  int64_t changed = 0, unmatched = 0;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.TextColumn(s, w, c));
    const std::string into = s.Str("into", c);
    ALAMBIC_RETURN_IF_ERROR(env.CanCreate(s, w, into, c));
    const Column& src = *w.cols[static_cast<size_t>(i)].col;
    ColumnBuilder b(TypeId::kUtf8);
    b.Reserve(src.length);
    for (int64_t row = 0; row < src.length; ++row) {
      if (src.IsNull(row)) {
        b.AppendNull();
        continue;
      }
      std::string_view v = src.String(row);
      auto found = m.Search(v);
      if (!found.ok())
        return env.Error(
            s, fmt::format("column '{}', row {}: {}", c, row + 1, found.status().message()));
      std::optional<std::string_view> g;
      if (*found) g = m.Group(v, group);
      if (g) {
        b.AppendString(*g);
      } else {
        ++unmatched;
        b.AppendNull();
      }
    }
    ColumnPtr col = b.Finish();
    changed += CountChanged(w, into, *col);
    Place(w, into, std::move(col), i, i);
  }
  r["changed"] = changed;
  r["unmatched"] = unmatched;
  return Status::Ok();
}

Status RunSplit(const Step& s, const StepEnv& env, Work& w, Report& r) {
  const std::string& column = s.columns[0];
  ALAMBIC_ASSIGN_OR_RETURN(int i, env.TextColumn(s, w, column));
  std::vector<std::string> into;
  for (const auto& v : s.options["into"]) into.push_back(v.get<std::string>());
  for (const auto& name : into) ALAMBIC_RETURN_IF_ERROR(env.CanCreate(s, w, name, column));
  const ColumnPtr src = w.cols[static_cast<size_t>(i)].col;
  const std::string by = s.Str("by");
  std::vector<ColumnBuilder> builders;
  for (size_t k = 0; k < into.size(); ++k) builders.emplace_back(TypeId::kUtf8);
  for (int64_t row = 0; row < src->length; ++row) {
    if (src->IsNull(row)) {
      for (auto& b : builders) b.AppendNull();
      continue;
    }
    std::string_view v = src->String(row);
    size_t k = 0;
    // The last column takes the remainder, delimiters included.
    for (; k + 1 < into.size(); ++k) {
      size_t hit = v.find(by);
      if (hit == std::string_view::npos) break;
      builders[k].AppendString(v.substr(0, hit));
      v.remove_prefix(hit + by.size());
    }
    builders[k++].AppendString(v);
    for (; k < into.size(); ++k) builders[k].AppendNull();
  }
  int64_t changed = 0;
  int after = i;
  for (size_t k = 0; k < into.size(); ++k) {
    ColumnPtr col = builders[k].Finish();
    changed += CountChanged(w, into[k], *col);
    bool exists = w.Find(into[k]) >= 0;
    Place(w, into[k], std::move(col), i, after);  // columns are only inserted after i
    if (!exists) ++after;
  }
  r["changed"] = changed;
  return Status::Ok();
}

Status RunTrim(const Step& s, const StepEnv& env, Work& w, Report& r) {
  return RunTextStep<Trim>(s, env, w, r);
}
Status RunUpper(const Step& s, const StepEnv& env, Work& w, Report& r) {
  return RunTextStep<MapCase<ToUpper>>(s, env, w, r);
}
Status RunLower(const Step& s, const StepEnv& env, Work& w, Report& r) {
  return RunTextStep<MapCase<ToLower>>(s, env, w, r);
}
Status RunStripAccents(const Step& s, const StepEnv& env, Work& w, Report& r) {
  return RunTextStep<StripAccents>(s, env, w, r);
}
Status RunNormaliseWhitespace(const Step& s, const StepEnv& env, Work& w, Report& r) {
  return RunTextStep<NormaliseWhitespace>(s, env, w, r);
}

}  // namespace alambic::clean
