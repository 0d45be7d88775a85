// kind: fuzzy_join — identity matching of two tables (as matchID does for
// civil-status records): for each left row, the right rows whose weighted
// similarity reaches the threshold (score >= threshold): the best one, all of
// them or the K best (`keep`), ranked. Inputs: left, right. Outputs: the
// matched pairs, and optionally the left rows left unmatched.
//
//   fields:     compared fields, each {name, left, right, comparator, weight,
//               days (date), any_order (text), missing}; `left`/`right` name one
//               column or a list of alternative columns (best one counts, e.g.
//               birth name and married name); any_order compares word by word
//               (Monge-Elkan over the side with fewer words)
//   blocking:   a list of keys (one rule) or a list of rules, each a list of
//               key expressions over field names: `f`, `phonetic(f)`,
//               `prefix(f, n)`, `year(f)`, `month(f)`, `date(f)`; candidate
//               pairs share every key of at least one rule (union over rules,
//               each pair compared once)
//   threshold:  minimum score (0..1) of a match
//
// Text fields are compared on their normalised form (similarity.h:
// NormaliseName). The score is sum(weight * similarity) / sum(weight), a
// missing value on either side counting as the field's `missing` similarity.
// Equal scores rank in right row order, so the output does not depend on
// threads.
//
// Comparisons run on a pool of threads over chunks of left rows; the blocking
// index of the right table is built one rule per thread. Cancellation is
// checked between chunks; progress reports left rows done.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "core/recipe/recipe.h"
#include "core/table/expr.h"
#include "core/table/similarity.h"
#include "core/table/text.h"
#include "recipes/builtin_kinds.h"
#include "recipes/relational.h"

namespace alambic {
namespace {

using nlohmann::json;

constexpr int64_t kChunkRows = 256;
constexpr auto kProgressPoll = std::chrono::milliseconds(20);
constexpr double kDefaultMissing = 0.5;
constexpr char kKeySeparator = '\x1f';

enum class Comparator { kExact, kJaroWinkler, kLevenshtein, kDamerau, kDate, kPhonetic };

constexpr std::pair<const char*, Comparator> kComparators[] = {
    {"exact", Comparator::kExact},
    {"jaro_winkler", Comparator::kJaroWinkler},
    {"levenshtein", Comparator::kLevenshtein},
    {"damerau", Comparator::kDamerau},
    {"date", Comparator::kDate},
    {"phonetic", Comparator::kPhonetic}};

struct FieldSpec {
  std::string name;
  std::vector<std::string> left, right;  // alternative columns
  Comparator comparator = Comparator::kJaroWinkler;
  double weight = 1.0;
  int days = 0;
  bool any_order = false;
  double missing = kDefaultMissing;
};

enum class KeyFn { kValue, kPhonetic, kPrefix, kYear, kMonth, kDate };

// Which matches of a left row are kept: the best one, every one reaching the
// threshold, or the K best.
enum class Keep { kBest, kAll, kTop };

struct KeyPart {
  size_t field = 0;
  KeyFn fn = KeyFn::kValue;
  int n = 0;  // prefix length
};

struct Spec {
  std::vector<FieldSpec> fields;
  std::vector<std::vector<KeyPart>> rules;
  double threshold = 0;
  Keep keep = Keep::kBest;
  int64_t top = 1;
  std::string rank_column = "rank";
  std::string right_row_column;  // empty: no right row number in the output
  std::string score_column = "score";
  std::string similarity_prefix = "sim_";
  ClashNaming naming;  // a column name in both inputs (relational.h)
  int threads = 0;
};

Status Err(std::string_view param, std::string_view what) {
  return Status::Invalid(fmt::format("param '{}': {}", param, what));
}

Result<std::vector<std::string>> FuzzyColumnList(const json& v, std::string_view side,
                                                 const std::string& field) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else if (v.is_array() && !v.empty()) {
    for (const auto& c : v) {
      if (!c.is_string())
        return Err("fields", fmt::format("field '{}': '{}' must be a column name or a list of "
                                         "column names",
                                         field, side));
      out.push_back(c.get<std::string>());
    }
  } else {
    return Err("fields", fmt::format("field '{}': '{}' must be a column name or a non-empty list "
                                     "of column names",
                                     field, side));
  }
  for (const auto& c : out)
    if (c.empty())
      return Err("fields", fmt::format("field '{}': empty column name in '{}'", field, side));
  return out;
}

Result<FieldSpec> ParseField(const json& f, size_t index) {
  if (!f.is_object())
    return Err("fields", fmt::format("entry {} must be a mapping {{name, left, right, "
                                     "comparator, weight}}",
                                     index + 1));
  static const std::set<std::string> kKeys = {"name",   "left",      "right",   "comparator",
                                              "weight", "any_order", "missing", "days"};
  FieldSpec s;
  if (auto it = f.find("name"); it != f.end()) {
    if (!it->is_string() || it->get<std::string>().empty())
      return Err("fields", fmt::format("entry {}: 'name' must be a non-empty string", index + 1));
    s.name = it->get<std::string>();
  } else if (auto l = f.find("left"); l != f.end() && l->is_string()) {
    s.name = l->get<std::string>();
  } else {
    return Err("fields",
               fmt::format("entry {}: 'name' is required when 'left' is a list", index + 1));
  }
  for (const auto& [k, v] : f.items())
    if (!kKeys.count(k))
      return Err("fields", fmt::format("field '{}': unknown key '{}' (expected name, left, right, "
                                       "comparator, weight, days, any_order, missing)",
                                       s.name, k));
  auto left = f.find("left");
  if (left == f.end()) return Err("fields", fmt::format("field '{}': 'left' is required", s.name));
  ALAMBIC_ASSIGN_OR_RETURN(s.left, FuzzyColumnList(*left, "left", s.name));
  auto right = f.find("right");
  ALAMBIC_ASSIGN_OR_RETURN(s.right,
                           FuzzyColumnList(right == f.end() ? *left : *right, "right", s.name));
  if (auto it = f.find("comparator"); it != f.end()) {
    std::string c = it->is_string() ? it->get<std::string>() : it->dump();
    bool found = false;
    for (const auto& [n, k] : kComparators)
      if (c == n) {
        s.comparator = k;
        found = true;
      }
    if (!found)
      return Err("fields", fmt::format("field '{}': unknown comparator '{}' (expected exact, "
                                       "jaro_winkler, levenshtein, damerau, date, phonetic)",
                                       s.name, c));
  }
  if (auto it = f.find("weight"); it != f.end()) {
    if (!it->is_number() || it->get<double>() < 0 || !std::isfinite(it->get<double>()))
      return Err("fields", fmt::format("field '{}': 'weight' must be a number >= 0", s.name));
    s.weight = it->get<double>();
  }
  if (auto it = f.find("missing"); it != f.end()) {
    if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 1)
      return Err("fields",
                 fmt::format("field '{}': 'missing' must be a number between 0 and 1", s.name));
    s.missing = it->get<double>();
  }
  if (auto it = f.find("days"); it != f.end()) {
    if (s.comparator != Comparator::kDate)
      return Err("fields",
                 fmt::format("field '{}': 'days' applies to the date comparator only", s.name));
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 36600)
      return Err("fields",
                 fmt::format("field '{}': 'days' must be an integer from 0 to 36600", s.name));
    s.days = it->get<int>();
  }
  if (auto it = f.find("any_order"); it != f.end()) {
    if (!it->is_boolean())
      return Err("fields", fmt::format("field '{}': 'any_order' must be a boolean", s.name));
    if (s.comparator == Comparator::kDate)
      return Err(
          "fields",
          fmt::format("field '{}': 'any_order' does not apply to the date comparator", s.name));
    s.any_order = it->get<bool>();
  }
  return s;
}

std::string_view Trimmed(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// `f`, `fn(f)` or `prefix(f, n)`.
Result<KeyPart> ParseKeyPart(const json& v, const std::vector<FieldSpec>& fields, size_t rule) {
  const std::string where = fmt::format("rule {}", rule + 1);
  if (!v.is_string()) return Err("blocking", where + ": each key must be a string");
  std::string_view text = Trimmed(v.get_ref<const std::string&>());
  KeyPart part;
  std::string_view field = text;
  if (auto open = text.find('('); open != std::string_view::npos) {
    if (text.back() != ')')
      return Err("blocking", fmt::format("{}: key '{}': missing ')' (in a [..] list, quote a key "
                                         "that holds a comma: \"prefix(f, 3)\")",
                                         where, text));
    std::string_view fn = Trimmed(text.substr(0, open));
    std::string_view args = text.substr(open + 1, text.size() - open - 2);
    field = Trimmed(args);
    if (fn == "phonetic") {
      part.fn = KeyFn::kPhonetic;
    } else if (fn == "year") {
      part.fn = KeyFn::kYear;
    } else if (fn == "month") {
      part.fn = KeyFn::kMonth;
    } else if (fn == "date") {
      part.fn = KeyFn::kDate;
    } else if (fn == "prefix") {
      part.fn = KeyFn::kPrefix;
      auto comma = args.find(',');
      int n = 0;
      std::string_view num = comma == std::string_view::npos ? "" : Trimmed(args.substr(comma + 1));
      bool ok = !num.empty() && num.size() < 4 &&
                std::all_of(num.begin(), num.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (ok) n = std::stoi(std::string(num));
      if (!ok || n < 1)
        return Err("blocking",
                   fmt::format("{}: key '{}': prefix takes a field and a length >= 1, e.g. "
                               "prefix(last_name, 3)",
                               where, text));
      part.n = n;
      field = Trimmed(args.substr(0, comma));
    } else {
      return Err("blocking", fmt::format("{}: key '{}': unknown function '{}' (expected "
                                         "phonetic, prefix, year, month, date)",
                                         where, text, fn));
    }
  }
  auto it = std::find_if(fields.begin(), fields.end(),
                         [&](const FieldSpec& f) { return f.name == field; });
  if (it == fields.end()) {
    std::string names;
    for (const auto& f : fields) names += (names.empty() ? "" : ", ") + f.name;
    return Err("blocking", fmt::format("{}: key '{}': unknown field '{}' (fields: {})", where, text,
                                       field, names));
  }
  part.field = static_cast<size_t>(it - fields.begin());
  const bool is_date = it->comparator == Comparator::kDate;
  if ((part.fn == KeyFn::kYear || part.fn == KeyFn::kMonth || part.fn == KeyFn::kDate) && !is_date)
    return Err("blocking", fmt::format("{}: key '{}': year(), month() and date() apply to fields "
                                       "with "
                                       "the date comparator; '{}' is not one",
                                       where, text, field));
  if ((part.fn == KeyFn::kPhonetic || part.fn == KeyFn::kPrefix) && is_date)
    return Err("blocking", fmt::format("{}: key '{}': field '{}' is a date; use year() or "
                                       "month() or date()",
                                       where, text, field));
  return part;
}

Result<std::string> FuzzyStringParam(const json& p, const char* name, std::string def) {
  auto it = p.find(name);
  if (it == p.end()) return def;
  if (!it->is_string()) return Err(name, "must be a string");
  return it->get<std::string>();
}

Result<Spec> ParseSpec(const json& p) {
  if (!p.is_object()) return Status::Invalid("params must be a mapping");
  Spec s;
  auto fields = p.find("fields");
  if (fields == p.end()) return Err("fields", "is required");
  if (!fields->is_array() || fields->empty())
    return Err("fields", "must be a non-empty list of fields to compare");
  std::set<std::string> names;
  double total_weight = 0;
  for (size_t i = 0; i < fields->size(); ++i) {
    ALAMBIC_ASSIGN_OR_RETURN(FieldSpec f, ParseField((*fields)[i], i));
    if (!names.insert(f.name).second)
      return Err("fields", fmt::format("field '{}' is declared twice", f.name));
    total_weight += f.weight;
    s.fields.push_back(std::move(f));
  }
  if (total_weight <= 0) return Err("fields", "the weights add up to 0; give a field a weight");

  auto blocking = p.find("blocking");
  if (blocking == p.end())
    return Err("blocking",
               "is required (a list of rules, each a list of "
               "keys)");
  if (!blocking->is_array() || blocking->empty())
    return Err("blocking", "must be a non-empty list of rules, each a list of keys");
  // A flat list of keys is one rule (every key required); a list of lists is
  // several rules (a pair is compared when it satisfies any of them).
  const bool flat =
      std::all_of(blocking->begin(), blocking->end(), [](const json& r) { return r.is_string(); });
  if (!flat &&
      std::any_of(blocking->begin(), blocking->end(), [](const json& r) { return r.is_string(); }))
    return Err("blocking",
               "mixes keys and lists of keys; write one rule as a list of keys ([year(d), "
               "phonetic(n)]) or several rules as a list of lists ([[year(d)], [phonetic(n)]])");
  if (flat) {
    std::vector<KeyPart> parts;
    for (const auto& key : *blocking) {
      ALAMBIC_ASSIGN_OR_RETURN(KeyPart k, ParseKeyPart(key, s.fields, 0));
      parts.push_back(k);
    }
    s.rules.push_back(std::move(parts));
  }
  for (size_t r = 0; !flat && r < blocking->size(); ++r) {
    const json& rule = (*blocking)[r];
    std::vector<KeyPart> parts;
    if (rule.is_array() && !rule.empty()) {
      for (const auto& key : rule) {
        ALAMBIC_ASSIGN_OR_RETURN(KeyPart k, ParseKeyPart(key, s.fields, r));
        parts.push_back(k);
      }
    } else {
      return Err("blocking", fmt::format("rule {} must be a non-empty list of keys", r + 1));
    }
    s.rules.push_back(std::move(parts));
  }

  auto th = p.find("threshold");
  if (th == p.end()) return Err("threshold", "is required (a number between 0 and 1)");
  if (!th->is_number() || th->get<double>() < 0 || th->get<double>() > 1)
    return Err("threshold", "must be a number between 0 and 1");
  s.threshold = th->get<double>();
  if (auto it = p.find("keep"); it != p.end()) {
    if (it->is_string() && *it == "best") {
      s.keep = Keep::kBest;
    } else if (it->is_string() && *it == "all") {
      s.keep = Keep::kAll;
    } else if (it->is_object() && it->size() == 1 && it->contains("top") &&
               (*it)["top"].is_number_integer() && (*it)["top"].get<int64_t>() >= 1 &&
               (*it)["top"].get<int64_t>() <= 1000000) {
      s.keep = Keep::kTop;
      s.top = (*it)["top"].get<int64_t>();
    } else {
      return Err("keep", fmt::format("must be best, all or {{top: K}} with K an integer >= 1, "
                                     "got {}",
                                     it->dump()));
    }
  }
  ALAMBIC_ASSIGN_OR_RETURN(s.rank_column, FuzzyStringParam(p, "rank_column", "rank"));
  if (s.rank_column.empty()) return Err("rank_column", "must not be empty");
  ALAMBIC_ASSIGN_OR_RETURN(s.right_row_column, FuzzyStringParam(p, "right_row", ""));
  if (p.contains("right_row") && s.right_row_column.empty())
    return Err("right_row", "must be a non-empty column name");
  ALAMBIC_ASSIGN_OR_RETURN(s.score_column, FuzzyStringParam(p, "score_column", "score"));
  if (s.score_column.empty()) return Err("score_column", "must not be empty");
  ALAMBIC_ASSIGN_OR_RETURN(s.similarity_prefix, FuzzyStringParam(p, "similarity_prefix", "sim_"));
  // `left_prefix` / `right_prefix`: the earlier form of `prefixes` (each
  // defaulting to left_ / right_ once either is given), kept for flows that use it.
  if (p.contains("left_prefix") || p.contains("right_prefix")) {
    if (p.contains("prefixes") || p.contains("suffixes"))
      return Err("left_prefix", "give either prefixes/suffixes or left_prefix/right_prefix");
    ClashNaming n;
    n.right_suffix.clear();
    ALAMBIC_ASSIGN_OR_RETURN(n.left_prefix, FuzzyStringParam(p, "left_prefix", "left_"));
    ALAMBIC_ASSIGN_OR_RETURN(n.right_prefix, FuzzyStringParam(p, "right_prefix", "right_"));
    if (n.left_prefix == n.right_prefix)
      return Err("right_prefix", "must differ from left_prefix so clashing columns stay apart");
    s.naming = n;
  } else {
    ALAMBIC_ASSIGN_OR_RETURN(s.naming, ClashNamingParam(p));
  }
  if (auto it = p.find("threads"); it != p.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 1024)
      return Err("threads", "must be an integer from 0 (one per core) to 1024");
    s.threads = it->get<int>();
  }
  return s;
}

// ---------------------------------------------------------------------------
// Prepared values: per field, side and alternative column, one entry per row.

struct Prepared {
  std::vector<char> valid;
  std::vector<std::string> text;                   // normalised (sorted words with any_order)
  std::vector<std::u32string> code;                // code points of `text` (string comparators)
  std::vector<std::string> phon;                   // phonetic code (phonetic comparator or key)
  std::vector<PartialDate> date;                   // date comparator
  std::vector<std::vector<std::u32string>> words;  // any_order: the words of `text`
};

// Calls fn(begin, end) over [0, n) in chunks on `threads` threads (the caller's
// included); stops handing out chunks once `cancel` is set.
template <typename Fn>
void FuzzyParallelFor(int64_t n, int threads, const CancelToken* cancel, Fn fn) {
  std::atomic<int64_t> next{0};
  auto work = [&] {
    while (!(cancel && cancel->cancelled())) {
      int64_t begin = next.fetch_add(kChunkRows);
      if (begin >= n) return;
      fn(begin, std::min(n, begin + kChunkRows));
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

Prepared FuzzyPrepare(const Column& col, const FieldSpec& f, bool need_phonetic, int threads,
                      const CancelToken* cancel, int64_t* unparsed_dates) {
  const int64_t n = col.length;
  Prepared p;
  p.valid.assign(static_cast<size_t>(n), 0);
  const bool is_date = f.comparator == Comparator::kDate;
  const bool need_code = !f.any_order && (f.comparator == Comparator::kJaroWinkler ||
                                          f.comparator == Comparator::kLevenshtein ||
                                          f.comparator == Comparator::kDamerau);
  if (is_date) {
    p.date.resize(static_cast<size_t>(n));
  } else {
    p.text.resize(static_cast<size_t>(n));
    if (need_code) p.code.resize(static_cast<size_t>(n));
    if (need_phonetic || f.comparator == Comparator::kPhonetic)
      p.phon.resize(static_cast<size_t>(n));
    if (f.any_order) p.words.resize(static_cast<size_t>(n));
  }
  std::atomic<int64_t> bad{0};
  FuzzyParallelFor(n, threads, cancel, [&](int64_t begin, int64_t end) {
    int64_t local_bad = 0;
    for (int64_t i = begin; i < end; ++i) {
      const auto r = static_cast<size_t>(i);
      if (col.IsNull(i)) continue;
      if (is_date) {
        PartialDate d;
        bool ok = true;
        if (col.type == TypeId::kDate32) {
          d = PartialDateFromDays(col.Date32(i));
        } else if (col.type == TypeId::kTimestamp) {
          constexpr int64_t kMicrosPerDay = 86400LL * 1000000LL;
          int64_t us = col.Int64(i);
          d = PartialDateFromDays(
              static_cast<int32_t>((us >= 0 ? us : us - kMicrosPerDay + 1) / kMicrosPerDay));
        } else {
          ok = ParsePartialDate(
              col.type == TypeId::kUtf8 ? Trimmed(col.String(i)) : FormatCell(col, i), &d);
        }
        if (!ok) {
          if (!(col.type == TypeId::kUtf8 && Trimmed(col.String(i)).empty())) ++local_bad;
          continue;
        }
        p.date[r] = d;
        p.valid[r] = 1;
        continue;
      }
      std::string t = NormaliseName(col.type == TypeId::kUtf8 ? std::string(col.String(i))
                                                              : FormatCell(col, i));
      if (t.empty()) continue;
      if (f.any_order) {
        t = SortWords(t);
        std::vector<std::u32string> words;
        for (size_t start = 0; start < t.size();) {
          size_t stop = std::min(t.find(' ', start), t.size());
          words.push_back(ToCodePoints(std::string_view(t).substr(start, stop - start)));
          start = stop + 1;
        }
        p.words[r] = std::move(words);
      }
      if (!p.code.empty()) p.code[r] = ToCodePoints(t);
      if (!p.phon.empty()) p.phon[r] = SoundexFr(t);
      p.text[r] = std::move(t);
      p.valid[r] = 1;
    }
    bad += local_bad;
  });
  *unparsed_dates += bad.load();
  return p;
}

double CompareWords(Comparator c, std::u32string_view a, std::u32string_view b) {
  switch (c) {
    case Comparator::kJaroWinkler:
      return JaroWinkler(a, b);
    case Comparator::kLevenshtein:
      return LevenshteinSimilarity(a, b);
    case Comparator::kDamerau:
      return DamerauSimilarity(a, b);
    default:
      return a == b ? 1.0 : 0.0;
  }
}

// any_order: each word of the side with fewer words is paired with its most
// similar word on the other side; the mean of these (Monge-Elkan). Given names
// in another order, or only the first of them, still compare as 1.
double MongeElkan(Comparator c, const std::vector<std::u32string>& a,
                  const std::vector<std::u32string>& b) {
  const auto& shorter = a.size() <= b.size() ? a : b;
  const auto& longer = a.size() <= b.size() ? b : a;
  if (shorter.empty()) return 0.0;
  double sum = 0;
  for (const auto& w : shorter) {
    double best = 0;
    for (const auto& v : longer) best = std::max(best, CompareWords(c, w, v));
    sum += best;
  }
  return sum / static_cast<double>(shorter.size());
}

double Compare(const FieldSpec& f, const Prepared& a, size_t i, const Prepared& b, size_t j) {
  if (f.any_order) return MongeElkan(f.comparator, a.words[i], b.words[j]);
  switch (f.comparator) {
    case Comparator::kExact:
      return a.text[i] == b.text[j] ? 1.0 : 0.0;
    case Comparator::kJaroWinkler:
      return JaroWinkler(a.code[i], b.code[j]);
    case Comparator::kLevenshtein:
      return LevenshteinSimilarity(a.code[i], b.code[j]);
    case Comparator::kDamerau:
      return DamerauSimilarity(a.code[i], b.code[j]);
    case Comparator::kDate:
      return DateSimilarity(a.date[i], b.date[j], f.days);
    case Comparator::kPhonetic:
      return !a.phon[i].empty() && a.phon[i] == b.phon[j] ? 1.0 : 0.0;
  }
  return 0.0;
}

// Similarity of one field for rows (i, j): the best over alternative columns,
// or NaN when either side has no value.
double FieldSimilarity(const FieldSpec& f, const std::vector<Prepared>& left, size_t i,
                       const std::vector<Prepared>& right, size_t j) {
  double best = std::nan("");
  for (const auto& a : left) {
    if (!a.valid[i]) continue;
    for (const auto& b : right) {
      if (!b.valid[j]) continue;
      double s = Compare(f, a, i, b, j);
      if (std::isnan(best) || s > best) best = s;
    }
  }
  return best;
}

// Appends the key values of `part` for row i (one per alternative column with
// a value) to `out`.
void KeyValues(const KeyPart& part, const std::vector<Prepared>& alts, size_t i,
               std::vector<std::string>* out) {
  for (const auto& a : alts) {
    if (!a.valid[i]) continue;
    switch (part.fn) {
      case KeyFn::kValue:
        if (!a.date.empty()) {
          const PartialDate& d = a.date[i];
          out->push_back(fmt::format("{}-{}-{}", d.year, d.month, d.day));
        } else {
          out->push_back(a.text[i]);
        }
        break;
      case KeyFn::kPhonetic:
        if (!a.phon[i].empty()) out->push_back(a.phon[i]);
        break;
      case KeyFn::kPrefix: {
        // Prefix in code points, spaces removed ("LE GALL" and "LEGALL" agree).
        std::string squeezed;
        for (char c : a.text[i])
          if (c != ' ') squeezed.push_back(c);
        std::u32string cps = ToCodePoints(squeezed);
        if (cps.size() > static_cast<size_t>(part.n)) cps.resize(static_cast<size_t>(part.n));
        std::string k;
        for (char32_t c : cps) AppendUtf8(static_cast<uint32_t>(c), &k);
        out->push_back(std::move(k));
        break;
      }
      case KeyFn::kYear:
        out->push_back(std::to_string(a.date[i].year));
        break;
      case KeyFn::kMonth:
        if (a.date[i].month != 0) out->push_back(std::to_string(a.date[i].month));
        break;
      case KeyFn::kDate:
        if (a.date[i].complete()) {
          const PartialDate& d = a.date[i];
          out->push_back(fmt::format("{:04}-{:02}-{:02}", d.year, d.month, d.day));
        }
        break;
    }
  }
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
}

// Blocking keys of row i under one rule: the product of each part's values.
std::vector<std::string> RuleKeys(const std::vector<KeyPart>& rule,
                                  const std::vector<std::vector<Prepared>>& prepared, size_t i) {
  std::vector<std::string> keys = {""};
  std::vector<std::string> values;
  for (size_t k = 0; k < rule.size(); ++k) {
    values.clear();
    KeyValues(rule[k], prepared[rule[k].field], i, &values);
    if (values.empty()) return {};
    std::vector<std::string> next;
    next.reserve(keys.size() * values.size());
    for (const auto& prefix : keys)
      for (const auto& v : values) next.push_back(k == 0 ? v : prefix + kKeySeparator + v);
    keys = std::move(next);
  }
  return keys;
}

using BlockIndex = std::unordered_map<std::string, std::vector<int32_t>>;

// A right row reaching the threshold for a left row.
struct FuzzyMatch {
  int32_t right = 0;
  double score = 0;
  std::vector<double> sims;  // per field; NaN: missing on a side
};

struct Side {
  const NamedTable* input = nullptr;
  std::vector<std::vector<Prepared>> prepared;  // [field][alternative]
};

Status ResolveColumns(const Spec& spec, const NamedTable& t, bool left,
                      std::vector<std::vector<ColumnPtr>>* out) {
  for (const auto& f : spec.fields) {
    std::vector<ColumnPtr> cols;
    for (const auto& name : left ? f.left : f.right) {
      ColumnPtr c = t.table->ColumnByName(name);
      if (!c) {
        std::string names;
        for (const auto& fld : t.table->schema().fields)
          names += (names.empty() ? "" : ", ") + fld.name;
        return Err("fields", fmt::format("field '{}': {} column '{}' not found in dataset '{}' "
                                         "(columns: {})",
                                         f.name, left ? "left" : "right", name, t.name, names));
      }
      if (f.comparator == Comparator::kDate && c->type != TypeId::kUtf8 &&
          c->type != TypeId::kDate32 && c->type != TypeId::kTimestamp)
        return Err("fields",
                   fmt::format("field '{}': {} column '{}' of dataset '{}' is {}; the "
                               "date comparator needs date32, timestamp or utf8 text "
                               "(YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY)",
                               f.name, left ? "left" : "right", name, t.name, TypeName(c->type)));
      cols.push_back(c);
    }
    out->push_back(std::move(cols));
  }
  return Status::Ok();
}

class FuzzyJoinKind final : public RecipeKind {
 public:
  std::string name() const override { return "fuzzy_join"; }
  // "naming-2": a column present in both inputs is named as join names it
  // (`x`, `x_right`; it was `left_x`, `right_x`).
  std::string code_version() const override { return "naming-2"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"fields", ParamType::kList, true,
         "compared fields: {name, left, right, comparator, weight, days, any_order, missing}"},
        {"blocking", ParamType::kList, true,
         "blocking rules, each a list of keys: field, phonetic(f), prefix(f, n), year(f), "
         "month(f), date(f); a flat list is one rule"},
        {"threshold", ParamType::kNumber, true, "minimum score of a match, 0..1 (score >= it)"},
        {"keep", ParamType::kAny, false,
         "matches kept per left row: best (default), all, {top: K}; all and top add a rank"},
        {"rank_column", ParamType::kString, false, "name of the rank column (rank)"},
        {"right_row", ParamType::kString, false,
         "name of a column holding the matched right row's number (1-based)"},
        {"score_column", ParamType::kString, false, "name of the score column (score)"},
        {"similarity_prefix", ParamType::kString, false,
         "prefix of the per-field similarity columns (sim_)"},
        {"suffixes", ParamType::kStringList, false,
         "[left, right] suffixes for a column name in both inputs (default [\"\", \"_right\"])"},
        {"prefixes", ParamType::kStringList, false,
         "[left, right] prefixes for a column name in both inputs (default none)"},
        {"left_prefix", ParamType::kString, false,
         "prefix of clashing left columns (earlier form of prefixes)"},
        {"right_prefix", ParamType::kString, false,
         "prefix of clashing right columns (earlier form of prefixes)"},
        {"threads", ParamType::kInt, false, "comparison threads (0: one per core)"}};
    return kParams;
  }
  int min_inputs() const override { return 2; }
  int max_inputs() const override { return 2; }
  int max_outputs() const override { return 2; }
  Status CheckParams(const json& params) const override { return ParseSpec(params).status(); }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    const std::string prefix = fmt::format("recipe {}", ctx.recipe);
    auto parsed = ParseSpec(*ctx.params);
    if (!parsed.ok()) return parsed.status().WithContext(prefix);
    const Spec& spec = *parsed;
    if (ctx.inputs.size() != 2)
      return Status::Invalid(fmt::format("{}: fuzzy_join takes two inputs (left, right), got {}",
                                         prefix, ctx.inputs.size()));
    const NamedTable& left = ctx.inputs[0];
    const NamedTable& right = ctx.inputs[1];
    const int threads = spec.threads > 0
                            ? spec.threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const auto started = std::chrono::steady_clock::now();

    std::vector<std::vector<ColumnPtr>> left_cols, right_cols;
    if (Status s = ResolveColumns(spec, left, true, &left_cols); !s.ok())
      return s.WithContext(prefix);
    if (Status s = ResolveColumns(spec, right, false, &right_cols); !s.ok())
      return s.WithContext(prefix);

    // Output column names, checked before any work.
    std::vector<std::string> left_names, right_names;
    const Schema& ls = left.table->schema();
    const Schema& rs = right.table->schema();
    for (const auto& f : ls.fields)
      left_names.push_back(rs.FieldIndex(f.name) >= 0 ? spec.naming.Left(f.name) : f.name);
    for (const auto& f : rs.fields)
      right_names.push_back(ls.FieldIndex(f.name) >= 0 ? spec.naming.Right(f.name) : f.name);
    std::set<std::string> taken;
    for (const auto* names : {&left_names, &right_names})
      for (const auto& n : *names)
        if (!taken.insert(n).second)
          return Err("suffixes", fmt::format("output column '{}' appears twice after renaming "
                                             "the columns on both sides; choose other "
                                             "suffixes or prefixes",
                                             n))
              .WithContext(prefix);
    if (taken.count(spec.score_column))
      return Err("score_column", fmt::format("'{}' is already a column of the output; choose "
                                             "another name",
                                             spec.score_column))
          .WithContext(prefix);
    taken.insert(spec.score_column);
    for (const std::string* extra :
         {spec.keep == Keep::kBest ? nullptr : &spec.rank_column,
          spec.right_row_column.empty() ? nullptr : &spec.right_row_column})
      if (extra && !taken.insert(*extra).second)
        return Err(extra == &spec.rank_column ? "rank_column" : "right_row",
                   fmt::format("'{}' is already a column of the output; choose another name",
                               *extra))
            .WithContext(prefix);
    for (const auto& f : spec.fields)
      if (!taken.insert(spec.similarity_prefix + f.name).second)
        return Err("similarity_prefix",
                   fmt::format("similarity column '{}' of field '{}' clashes with another "
                               "output column; choose another prefix",
                               spec.similarity_prefix + f.name, f.name))
            .WithContext(prefix);

    // Normalise every compared value once.
    std::vector<bool> phonetic_key(spec.fields.size(), false);
    for (const auto& rule : spec.rules)
      for (const auto& part : rule)
        if (part.fn == KeyFn::kPhonetic) phonetic_key[part.field] = true;
    int64_t unparsed_dates = 0;
    Side l{&left, {}}, r{&right, {}};
    for (size_t f = 0; f < spec.fields.size(); ++f) {
      l.prepared.emplace_back();
      r.prepared.emplace_back();
      for (const auto& c : left_cols[f])
        l.prepared.back().push_back(FuzzyPrepare(*c, spec.fields[f], phonetic_key[f], threads,
                                                 ctx.cancel, &unparsed_dates));
      for (const auto& c : right_cols[f])
        r.prepared.back().push_back(FuzzyPrepare(*c, spec.fields[f], phonetic_key[f], threads,
                                                 ctx.cancel, &unparsed_dates));
    }
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
    if (unparsed_dates > 0 && ctx.log)
      ctx.log->Warn(
          fmt::format("{} date value(s) could not be read and count as missing", unparsed_dates));

    // Blocking index of the right table, one rule per thread.
    const int64_t nr = right.table->num_rows();
    std::vector<BlockIndex> index(spec.rules.size());
    {
      std::atomic<size_t> next_rule{0};
      auto build = [&] {
        for (size_t k; (k = next_rule.fetch_add(1)) < spec.rules.size();) {
          for (int64_t j = 0; j < nr; ++j) {
            if ((j & 0xFFFF) == 0 && ctx.cancel && ctx.cancel->cancelled()) return;
            for (auto& key : RuleKeys(spec.rules[k], r.prepared, static_cast<size_t>(j)))
              index[k][std::move(key)].push_back(static_cast<int32_t>(j));
          }
        }
      };
      std::vector<std::thread> pool;
      const int builders = std::min<int>(threads, static_cast<int>(spec.rules.size()));
      for (int t = 1; t < builders; ++t) pool.emplace_back(build);
      build();
      for (auto& t : pool) t.join();
    }
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
    const auto indexed = std::chrono::steady_clock::now();

    // Compare candidates; the kept matches of each left row, best first.
    const int64_t nl = left.table->num_rows();
    const size_t nf = spec.fields.size();
    double total_weight = 0;
    for (const auto& f : spec.fields) total_weight += f.weight;
    const size_t keep_max = spec.keep == Keep::kAll   ? std::numeric_limits<size_t>::max()
                            : spec.keep == Keep::kTop ? static_cast<size_t>(spec.top)
                                                      : 1;
    std::vector<std::vector<FuzzyMatch>> kept(static_cast<size_t>(nl));
    std::atomic<int64_t> pairs{0}, rows_done{0};
    std::atomic<bool> finished{false};
    std::thread compare([&] {
      FuzzyParallelFor(nl, threads, ctx.cancel, [&](int64_t begin, int64_t end) {
        std::vector<int32_t> candidates;
        std::vector<double> sims(nf);
        std::vector<FuzzyMatch> found;
        int64_t local_pairs = 0;
        for (int64_t i = begin; i < end; ++i) {
          const auto li = static_cast<size_t>(i);
          candidates.clear();
          for (size_t k = 0; k < spec.rules.size(); ++k)
            for (const auto& key : RuleKeys(spec.rules[k], l.prepared, li)) {
              auto it = index[k].find(key);
              if (it != index[k].end())
                candidates.insert(candidates.end(), it->second.begin(), it->second.end());
            }
          std::sort(candidates.begin(), candidates.end());
          candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
          local_pairs += static_cast<int64_t>(candidates.size());
          found.clear();
          for (int32_t j : candidates) {
            double score = 0;
            for (size_t f = 0; f < nf; ++f) {
              sims[f] = FieldSimilarity(spec.fields[f], l.prepared[f], li, r.prepared[f],
                                        static_cast<size_t>(j));
              score +=
                  spec.fields[f].weight * (std::isnan(sims[f]) ? spec.fields[f].missing : sims[f]);
            }
            score /= total_weight;
            if (score < spec.threshold) continue;
            if (keep_max == 1 && !found.empty() && score <= found[0].score) continue;
            if (keep_max == 1) found.clear();
            found.push_back({j, score, sims});
          }
          // Best score first; equal scores in right row order (the sort is
          // stable over candidates, which ascend).
          std::stable_sort(
              found.begin(), found.end(),
              [](const FuzzyMatch& a, const FuzzyMatch& b) { return a.score > b.score; });
          if (found.size() > keep_max) found.resize(keep_max);
          kept[li] = found;
        }
        pairs += local_pairs;
        rows_done += end - begin;
      });
      finished = true;
    });
    while (!finished) {
      std::this_thread::sleep_for(kProgressPoll);
      if (ctx.progress) ctx.progress(rows_done.load());
    }
    compare.join();
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
    const auto compared = std::chrono::steady_clock::now();

    // Matched pairs, by left row then rank.
    std::vector<int64_t> match_left, match_right, unmatched;
    std::vector<const FuzzyMatch*> match_of;
    std::vector<int64_t> match_rank;
    for (int64_t i = 0; i < nl; ++i) {
      const auto& ms = kept[static_cast<size_t>(i)];
      if (ms.empty()) unmatched.push_back(i);
      for (size_t k = 0; k < ms.size(); ++k) {
        match_left.push_back(i);
        match_right.push_back(ms[k].right);
        match_of.push_back(&ms[k]);
        match_rank.push_back(static_cast<int64_t>(k) + 1);
      }
    }
    Schema schema;
    std::vector<ColumnPtr> cols;
    std::map<std::string, std::vector<ColumnSource>> lineage;
    for (int c = 0; c < left.table->num_columns(); ++c) {
      const auto& n = left_names[static_cast<size_t>(c)];
      schema.fields.push_back({n, ls.fields[static_cast<size_t>(c)].type});
      cols.push_back(TakeRows(*left.table->column(c), match_left));
      lineage[n] = {{left.name, ls.fields[static_cast<size_t>(c)].name}};
    }
    for (int c = 0; c < right.table->num_columns(); ++c) {
      const auto& n = right_names[static_cast<size_t>(c)];
      schema.fields.push_back({n, rs.fields[static_cast<size_t>(c)].type});
      cols.push_back(TakeRows(*right.table->column(c), match_right));
      lineage[n] = {{right.name, rs.fields[static_cast<size_t>(c)].name}};
    }
    if (!spec.right_row_column.empty()) {
      ColumnBuilder b(TypeId::kInt64);
      for (int64_t j : match_right) b.AppendInt64(j + 1);
      schema.fields.push_back({spec.right_row_column, TypeId::kInt64});
      cols.push_back(b.Finish());
      lineage[spec.right_row_column] = {};
    }
    if (spec.keep != Keep::kBest) {
      ColumnBuilder b(TypeId::kInt64);
      for (int64_t k : match_rank) b.AppendInt64(k);
      schema.fields.push_back({spec.rank_column, TypeId::kInt64});
      cols.push_back(b.Finish());
      lineage[spec.rank_column] = {};
    }
    ColumnBuilder score_col(TypeId::kFloat64);
    std::vector<ColumnBuilder> sim_cols(nf, ColumnBuilder(TypeId::kFloat64));
    for (const FuzzyMatch* m : match_of) {
      score_col.AppendDouble(m->score);
      for (size_t f = 0; f < nf; ++f) {
        double s = m->sims[f];
        std::isnan(s) ? sim_cols[f].AppendNull() : sim_cols[f].AppendDouble(s);
      }
    }
    std::vector<ColumnSource> score_sources;
    schema.fields.push_back({spec.score_column, TypeId::kFloat64});
    cols.push_back(score_col.Finish());
    for (size_t f = 0; f < nf; ++f) {
      const FieldSpec& fs = spec.fields[f];
      std::vector<ColumnSource> sources;
      for (const auto& c : fs.left) sources.push_back({left.name, c});
      for (const auto& c : fs.right) sources.push_back({right.name, c});
      if (fs.weight > 0)
        for (const auto& s : sources)
          if (std::find(score_sources.begin(), score_sources.end(), s) == score_sources.end())
            score_sources.push_back(s);
      const std::string n = spec.similarity_prefix + fs.name;
      schema.fields.push_back({n, TypeId::kFloat64});
      cols.push_back(sim_cols[f].Finish());
      lineage[n] = std::move(sources);
    }
    lineage[spec.score_column] = std::move(score_sources);
    const auto matched_rows = static_cast<int64_t>(match_left.size());
    auto matches = Table::Make(std::move(schema), std::move(cols), matched_rows);
    if (!matches.ok()) return matches.status().WithContext(prefix);

    RecipeOutput out;
    out.tables.push_back(std::move(*matches));
    out.column_lineage.push_back(std::move(lineage));
    if (ctx.outputs.size() > 1) {
      std::vector<ColumnPtr> rest;
      std::map<std::string, std::vector<ColumnSource>> rest_lineage;
      for (int c = 0; c < left.table->num_columns(); ++c) {
        rest.push_back(TakeRows(*left.table->column(c), unmatched));
        rest_lineage[ls.fields[static_cast<size_t>(c)].name] = {
            {left.name, ls.fields[static_cast<size_t>(c)].name}};
      }
      auto t = Table::Make(ls, std::move(rest), static_cast<int64_t>(unmatched.size()));
      if (!t.ok()) return t.status().WithContext(prefix);
      out.tables.push_back(std::move(*t));
      out.column_lineage.push_back(std::move(rest_lineage));
    }

    auto seconds = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    const double compare_s = seconds(indexed, compared);
    json blocks = json::array();
    for (const auto& idx : index) blocks.push_back(idx.size());
    out.metrics["left_rows"] = nl;
    out.metrics["right_rows"] = nr;
    out.metrics["pairs_compared"] = pairs.load();
    out.metrics["matched"] = matched_rows;
    out.metrics["unmatched"] = static_cast<int64_t>(unmatched.size());
    out.metrics["blocks_per_rule"] = std::move(blocks);
    out.metrics["unparsed_dates"] = unparsed_dates;
    out.metrics["threads"] = threads;
    out.metrics["prepare_seconds"] = seconds(started, indexed);
    out.metrics["compare_seconds"] = compare_s;
    out.metrics["pairs_per_second"] =
        compare_s > 0 ? static_cast<double>(pairs.load()) / compare_s : 0.0;
    if (ctx.log)
      ctx.log->Info(
          fmt::format("{} of {} left rows matched ({} pairs compared in {:.2f} s, {:.0f} "
                      "pairs/s, {} threads)",
                      matched_rows, nl, pairs.load(), compare_s,
                      out.metrics["pairs_per_second"].get<double>(), threads));
    if (ctx.progress) ctx.progress(nl);
    return out;
  }
};

}  // namespace

Status RegisterFuzzyJoinKind(RecipeRegistry& r) {
  return r.Register(std::make_unique<FuzzyJoinKind>());
}

}  // namespace alambic
