#include "recipes/sql_lineage.h"

#include <algorithm>
#include <array>
#include <set>

namespace alambic {
namespace {

struct Token {
  enum Kind { kWord, kName, kString, kNumber, kPunct } kind;
  size_t begin = 0, end = 0;  // byte range in the query
  int depth = 0;              // parentheses around it
  std::string text;           // words and names: lower-case ASCII, unquoted
};

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

bool IsWordStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool IsWordChar(char c) { return IsWordStart(c) || (c >= '0' && c <= '9') || c == '$'; }

// A quoted token ending with `close`, where a doubled `close` stands for itself.
size_t QuotedEnd(std::string_view sql, size_t i, char close, std::string* text) {
  for (size_t k = i + 1; k < sql.size(); ++k) {
    if (sql[k] != close) {
      *text += sql[k];
    } else if (close != ']' && k + 1 < sql.size() && sql[k + 1] == close) {
      *text += close;
      ++k;
    } else {
      return k + 1;
    }
  }
  return sql.size();
}

std::vector<Token> Tokenize(std::string_view sql) {
  std::vector<Token> out;
  int depth = 0;
  size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      ++i;
      continue;
    }
    if (sql.substr(i, 2) == "--") {
      size_t eol = sql.find('\n', i);
      i = eol == std::string_view::npos ? sql.size() : eol + 1;
      continue;
    }
    if (sql.substr(i, 2) == "/*") {
      size_t end = sql.find("*/", i + 2);
      i = end == std::string_view::npos ? sql.size() : end + 2;
      continue;
    }
    Token t{Token::kPunct, i, i + 1, depth, std::string(1, c)};
    if (c == '\'') {
      t.kind = Token::kString;
      t.text.clear();
      t.end = QuotedEnd(sql, i, '\'', &t.text);
    } else if (c == '"' || c == '`' || c == '[') {
      t.kind = Token::kName;
      t.text.clear();
      t.end = QuotedEnd(sql, i, c == '[' ? ']' : c, &t.text);
      t.text = LowerAscii(t.text);
    } else if (IsWordStart(c)) {
      t.kind = Token::kWord;
      size_t k = i;
      while (k < sql.size() && IsWordChar(sql[k])) ++k;
      t.end = k;
      t.text = LowerAscii(sql.substr(i, k - i));
    } else if ((c >= '0' && c <= '9') ||
               (c == '.' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9')) {
      t.kind = Token::kNumber;
      size_t k = i;
      while (k < sql.size() && (IsWordChar(sql[k]) || sql[k] == '.')) ++k;
      t.end = k;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      depth = std::max(0, depth - 1);
      t.depth = depth;
    }
    i = t.end;
    out.push_back(std::move(t));
  }
  return out;
}

bool IsWord(const Token& t, std::string_view w) { return t.kind == Token::kWord && t.text == w; }
bool IsName(const Token& t) { return t.kind == Token::kWord || t.kind == Token::kName; }

bool IsClauseWord(const Token& t) {
  static constexpr std::array<std::string_view, 7> kClauses = {"from",  "where", "group", "having",
                                                               "order", "limit", "window"};
  return t.depth == 0 && t.kind == Token::kWord &&
         std::find(kClauses.begin(), kClauses.end(), t.text) != kClauses.end();
}

bool IsJoinWord(const Token& t) {
  static constexpr std::array<std::string_view, 8> kJoins = {"join",  "left", "right",   "inner",
                                                             "cross", "full", "natural", "outer"};
  return (t.kind == Token::kWord &&
          std::find(kJoins.begin(), kJoins.end(), t.text) != kJoins.end()) ||
         (t.kind == Token::kPunct && t.text == ",");
}

bool IsAggregateName(std::string_view w) {
  static constexpr std::array<std::string_view, 8> kAggregates = {
      "count", "sum", "avg", "min", "max", "total", "group_concat", "string_agg"};
  return std::find(kAggregates.begin(), kAggregates.end(), w) != kAggregates.end();
}

// The top-level SELECT of a query: its result expressions and the names its
// join conditions, filters and grouping mention.
struct SelectShape {
  std::vector<std::pair<size_t, size_t>> pieces;  // byte ranges of the result expressions
  std::vector<bool> aggregates;                   // per piece: calls an aggregate or window
  bool star = false;                              // some piece is * or t.*
  std::set<std::string> join_names, filter_names, group_names;
};

std::optional<SelectShape> SplitSelect(std::string_view sql) {
  const std::vector<Token> toks = Tokenize(sql);
  // Reads through a CTE or a subquery in FROM are not reported per column:
  // such queries (and VALUES) are left to the column origins.
  if (toks.empty() || !IsWord(toks[0], "select")) return std::nullopt;
  size_t i = 1;
  if (i < toks.size() && (IsWord(toks[i], "distinct") || IsWord(toks[i], "all"))) ++i;
  for (size_t k = i; k < toks.size(); ++k)
    if (toks[k].depth == 0 &&
        (IsWord(toks[k], "union") || IsWord(toks[k], "intersect") || IsWord(toks[k], "except")))
      return std::nullopt;

  SelectShape s;
  auto add_piece = [&](size_t first, size_t last) {  // tokens [first, last)
    if (first >= last) return false;
    s.pieces.emplace_back(toks[first].begin, toks[last - 1].end);
    bool aggregate = false;
    for (size_t k = first; k < last; ++k) {
      if (IsWord(toks[k], "over")) aggregate = true;
      if (toks[k].kind == Token::kWord && IsAggregateName(toks[k].text) && k + 1 < last &&
          toks[k + 1].kind == Token::kPunct && toks[k + 1].text == "(")
        aggregate = true;
    }
    s.aggregates.push_back(aggregate);
    const Token& end = toks[last - 1];
    if (end.kind == Token::kPunct && end.text == "*" &&
        (last - first == 1 || (toks[last - 2].kind == Token::kPunct && toks[last - 2].text == ".")))
      s.star = true;
    return true;
  };
  size_t first = i, k = i;
  for (; k < toks.size() && !IsClauseWord(toks[k]); ++k) {
    if (toks[k].depth == 0 && toks[k].kind == Token::kPunct && toks[k].text == ",") {
      if (!add_piece(first, k)) return std::nullopt;
      first = k + 1;
    }
  }
  if (!add_piece(first, k)) return std::nullopt;

  std::string clause;
  bool in_on = false, using_next = false, in_using = false;
  for (; k < toks.size(); ++k) {
    const Token& t = toks[k];
    if (IsClauseWord(t)) {
      clause = t.text;
      in_on = in_using = using_next = false;
      continue;
    }
    if (clause == "from") {
      if (t.depth == 0 && t.kind == Token::kPunct && t.text == "(" && k + 1 < toks.size() &&
          (IsWord(toks[k + 1], "select") || IsWord(toks[k + 1], "with") ||
           IsWord(toks[k + 1], "values")))
        return std::nullopt;
      if (t.depth == 0 && IsWord(t, "on")) {
        in_on = true;
      } else if (t.depth == 0 && IsWord(t, "using")) {
        using_next = true;
      } else if (t.depth == 0 && IsJoinWord(t)) {
        in_on = false;
      } else if (using_next && t.kind == Token::kPunct && t.text == "(") {
        using_next = false;
        in_using = true;
      } else if (in_using && t.depth == 0 && t.kind == Token::kPunct && t.text == ")") {
        in_using = false;
      } else if ((in_on || in_using) && IsName(t)) {
        s.join_names.insert(t.text);
      }
    } else if ((clause == "where" || clause == "having") && IsName(t)) {
      s.filter_names.insert(t.text);
    } else if (clause == "group" && IsName(t)) {
      s.group_names.insert(t.text);
    }
  }
  return s;
}

std::string QuoteName(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

// The query with the result expressions in `which` replaced by NULL (same names).
std::string WithNulls(std::string_view sql, const SelectShape& s,
                      const std::vector<std::string>& names, const std::set<size_t>& which) {
  std::string out(sql);
  for (size_t i = s.pieces.size(); i-- > 0;) {
    if (!which.count(i)) continue;
    const auto [begin, end] = s.pieces[i];
    out.replace(begin, end - begin, "NULL AS " + QuoteName(names[i]));
  }
  return out;
}

std::vector<SqlRead> Sorted(std::vector<SqlRead> reads) {
  for (auto& [table, column] : reads) table = LowerAscii(table);
  std::sort(reads.begin(), reads.end(), [](const SqlRead& a, const SqlRead& b) {
    return std::make_pair(a.first, LowerAscii(a.second)) <
           std::make_pair(b.first, LowerAscii(b.second));
  });
  return reads;
}

// Reads in `all` and not in `some` (as multisets), each once.
std::vector<SqlRead> Difference(const std::vector<SqlRead>& all, const std::vector<SqlRead>& some) {
  std::vector<SqlRead> a = Sorted(all), b = Sorted(some), out;
  auto less = [](const SqlRead& x, const SqlRead& y) {
    return std::make_pair(x.first, LowerAscii(x.second)) <
           std::make_pair(y.first, LowerAscii(y.second));
  };
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out), less);
  out.erase(
      std::unique(out.begin(), out.end(),
                  [&](const SqlRead& x, const SqlRead& y) { return !less(x, y) && !less(y, x); }),
      out.end());
  return out;
}

void AddSource(std::vector<ColumnSource>* sources, const std::string& dataset,
               const std::string& column, const char* transform) {
  for (const auto& s : *sources)
    if (s.dataset == dataset && LowerAscii(s.column) == LowerAscii(column)) return;
  sources->push_back({dataset, column, transform});
}

}  // namespace

std::map<std::string, std::vector<ColumnSource>> SqlColumnLineage(std::string_view sql,
                                                                  const SqlStatementInfo& info) {
  std::map<std::string, std::vector<ColumnSource>> out;
  const size_t n = info.column_names.size();
  // The input dataset a table of the query is (tables are named after inputs).
  auto dataset_of = [&](const std::string& table) -> const std::string* {
    for (const auto& in : info.inputs)
      if (LowerAscii(in) == LowerAscii(table)) return &in;
    return nullptr;
  };
  auto origins_only = [&] {
    for (size_t i = 0; i < n && i < info.origins.size(); ++i) {
      if (!info.origins[i]) continue;
      if (const std::string* ds = dataset_of(info.origins[i]->first))
        out[info.column_names[i]] = {{*ds, info.origins[i]->second, kTransformIdentity}};
    }
    return out;
  };
  std::optional<SelectShape> shape = SplitSelect(sql);
  if (!shape || shape->star || shape->pieces.size() != n || !info.reads) return origins_only();
  std::optional<std::vector<SqlRead>> full = info.reads(std::string(sql));
  if (!full) return origins_only();

  for (size_t i = 0; i < n; ++i) {
    auto without = info.reads(WithNulls(sql, *shape, info.column_names, {i}));
    const std::optional<SqlRead>& origin = i < info.origins.size() ? info.origins[i] : std::nullopt;
    if (!without) {
      if (origin)
        if (const std::string* ds = dataset_of(origin->first))
          out[info.column_names[i]] = {{*ds, origin->second, kTransformIdentity}};
      continue;
    }
    auto& sources = out[info.column_names[i]];
    const bool aggregate = shape->aggregates[i];
    if (origin && !aggregate)
      if (const std::string* ds = dataset_of(origin->first))
        AddSource(&sources, *ds, origin->second, kTransformIdentity);
    for (const auto& [table, column] : Difference(*full, *without)) {
      const std::string* ds = dataset_of(table);
      if (!ds) continue;
      const bool is_origin = origin && LowerAscii(origin->first) == LowerAscii(table) &&
                             LowerAscii(origin->second) == LowerAscii(column);
      AddSource(&sources, *ds, column,
                aggregate   ? kTransformAggregation
                : is_origin ? kTransformIdentity
                            : kTransformTransformation);
    }
  }

  // Join keys, filters and grouping: read by the query whatever it returns.
  std::set<size_t> all;
  for (size_t i = 0; i < n; ++i) all.insert(i);
  auto rest = info.reads(WithNulls(sql, *shape, info.column_names, all));
  if (!rest) return out;
  for (const auto& [table, column] : Difference(*rest, {})) {
    const std::string* ds = dataset_of(table);
    if (!ds) continue;
    const std::string name = LowerAscii(column);
    const char* transform = shape->join_names.count(name)     ? kTransformJoinKey
                            : shape->filter_names.count(name) ? kTransformFilter
                                                              : nullptr;
    const bool grouping = shape->group_names.count(name) > 0;
    for (size_t i = 0; i < n; ++i) {
      auto it = out.find(info.column_names[i]);
      if (it == out.end()) continue;
      if (transform) AddSource(&it->second, *ds, column, transform);
      if (grouping && shape->aggregates[i])
        AddSource(&it->second, *ds, column, kTransformAggregation);
    }
  }
  return out;
}

}  // namespace alambic
