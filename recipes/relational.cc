#include "recipes/relational.h"

#include <algorithm>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "core/table/similarity.h"

namespace alambic {

Result<std::vector<std::string>> ColumnListParam(const nlohmann::json& params,
                                                 const std::string& param, bool required) {
  std::vector<std::string> out;
  auto it = params.find(param);
  if (it == params.end() || it->is_null()) {
    if (required) return Status::Invalid(fmt::format("param '{}': is required", param));
    return out;
  }
  const std::string bad = fmt::format("param '{}': must be a column name or a list of them", param);
  if (it->is_string()) {
    out.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    for (const auto& c : *it) {
      if (!c.is_string()) return Status::Invalid(bad);
      out.push_back(c.get<std::string>());
    }
  } else {
    return Status::Invalid(bad);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].empty())
      return Status::Invalid(fmt::format("param '{}': a column name is empty", param));
    if (std::find(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(i), out[i]) !=
        out.begin() + static_cast<std::ptrdiff_t>(i))
      return Status::Invalid(fmt::format("param '{}': column '{}' is listed twice", param, out[i]));
  }
  if (required && out.empty())
    return Status::Invalid(fmt::format("param '{}': must name at least one column", param));
  return out;
}

std::string ColumnNames(const Schema& schema) {
  std::string s;
  for (const auto& f : schema.fields) s += (s.empty() ? "" : ", ") + f.name;
  return s;
}

Result<int> FindColumn(const NamedTable& input, const std::string& place,
                       const std::string& column) {
  const Schema& schema = input.table->schema();
  const int i = schema.FieldIndex(column);
  if (i < 0)
    return Status::Invalid(fmt::format("{}: column '{}' not in input '{}' (columns: {})", place,
                                       column, input.name, ColumnNames(schema)));
  return i;
}

Result<std::vector<OrderTerm>> OrderParam(const nlohmann::json& params, const std::string& param,
                                          bool required) {
  std::vector<OrderTerm> out;
  auto it = params.find(param);
  if (it == params.end() || it->is_null()) {
    if (required) return Status::Invalid(fmt::format("param '{}': is required", param));
    return out;
  }
  const std::string bad = fmt::format(
      "param '{}': each entry must be a column name ('-name' for descending) or a mapping "
      "{{column: name, desc: bool, nulls: first|last}}",
      param);
  const nlohmann::json list = it->is_array() ? *it : nlohmann::json::array({*it});
  for (const auto& e : list) {
    OrderTerm t;
    bool nulls_given = false;
    if (e.is_string()) {
      t.column = e.get<std::string>();
      if (!t.column.empty() && t.column[0] == '-') {
        t.descending = true;
        t.column.erase(0, 1);
      }
    } else if (e.is_object()) {
      for (const auto& [k, v] : e.items()) {
        if (k == "column" && v.is_string()) {
          t.column = v.get<std::string>();
        } else if (k == "desc" && v.is_boolean()) {
          t.descending = v.get<bool>();
        } else if (k == "nulls" && v.is_string() &&
                   (v.get<std::string>() == "first" || v.get<std::string>() == "last")) {
          t.nulls_first = v.get<std::string>() == "first";
          nulls_given = true;
        } else {
          return Status::Invalid(bad);
        }
      }
    } else {
      return Status::Invalid(bad);
    }
    if (t.column.empty()) return Status::Invalid(bad);
    if (!nulls_given) t.nulls_first = !t.descending;
    for (const auto& o : out)
      if (o.column == t.column)
        return Status::Invalid(
            fmt::format("param '{}': column '{}' is listed twice", param, t.column));
    out.push_back(std::move(t));
  }
  if (required && out.empty())
    return Status::Invalid(fmt::format("param '{}': must name at least one column", param));
  return out;
}

Result<std::vector<SortKey>> ResolveOrder(const NamedTable& input, const std::string& param,
                                          const std::vector<OrderTerm>& terms) {
  std::vector<SortKey> keys;
  for (const auto& t : terms) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, FindColumn(input, "param '" + param + "'", t.column));
    keys.push_back({input.table->column(i).get(), t.descending, t.nulls_first});
  }
  return keys;
}

std::map<std::string, std::vector<ColumnSource>> IdentityLineage(const Table& t,
                                                                 const std::string& input) {
  std::map<std::string, std::vector<ColumnSource>> l;
  for (const auto& f : t.schema().fields) l[f.name] = {{input, f.name}};
  return l;
}

Result<Table> TakeTable(const Table& t, const std::vector<int64_t>& rows) {
  std::vector<ColumnPtr> cols;
  for (const auto& c : t.columns()) cols.push_back(GatherRows(*c, rows));
  return Table::Make(t.schema(), std::move(cols), static_cast<int64_t>(rows.size()));
}

Result<ClashNaming> ClashNamingParam(const nlohmann::json& params) {
  ClashNaming out;
  auto pair = [&](const char* param, std::string* l, std::string* r) -> Status {
    const auto it = params.find(param);
    if (it == params.end()) return Status::Ok();
    if (!it->is_array() || it->size() != 2 || !(*it)[0].is_string() || !(*it)[1].is_string())
      return Status::Invalid(
          fmt::format("param '{}': must be a list of two strings [left, right]", param));
    *l = (*it)[0].get<std::string>();
    *r = (*it)[1].get<std::string>();
    return Status::Ok();
  };
  if (params.contains("prefixes") && !params.contains("suffixes")) out.right_suffix.clear();
  ALAMBIC_RETURN_IF_ERROR(pair("suffixes", &out.left_suffix, &out.right_suffix));
  ALAMBIC_RETURN_IF_ERROR(pair("prefixes", &out.left_prefix, &out.right_prefix));
  if (out.left_prefix == out.right_prefix && out.left_suffix == out.right_suffix)
    return Status::Invalid(fmt::format(
        "param '{}': the left and right names must differ, or a column on both sides would "
        "get the same name",
        params.contains("suffixes") ? "suffixes" : "prefixes"));
  return out;
}

namespace {

struct JoinTypeName {
  const char* name;
  JoinType type;
};
constexpr JoinTypeName kJoinTypes[] = {
    {"inner", JoinType::kInner},    {"left", JoinType::kLeft},  {"right", JoinType::kRight},
    {"full", JoinType::kFull},      {"outer", JoinType::kFull}, {"anti", JoinType::kAnti},
    {"left_anti", JoinType::kAnti}, {"semi", JoinType::kSemi},  {"left_semi", JoinType::kSemi},
};

}  // namespace

Result<JoinParams> ParseJoinParams(const nlohmann::json& p) {
  if (!p.is_object()) return Status::Invalid("params must be a mapping");
  JoinParams out;
  if (auto t = p.find("type"); t != p.end()) {
    if (!t->is_string()) return Status::Invalid("param 'type': must be a string");
    bool known = false;
    for (const auto& j : kJoinTypes)
      if (t->get<std::string>() == j.name) {
        out.type = j.type;
        known = true;
      }
    if (!known)
      return Status::Invalid(
          fmt::format("param 'type': unknown join type '{}' (expected inner, left, right, full, "
                      "anti, semi)",
                      t->get<std::string>()));
  }
  const bool has_on = p.contains("on");
  const bool has_sides = p.contains("left_on") || p.contains("right_on");
  if (has_on && has_sides)
    return Status::Invalid("param 'on': give either 'on' or 'left_on' and 'right_on', not both");
  if (has_on) {
    ALAMBIC_ASSIGN_OR_RETURN(out.left_on, ColumnListParam(p, "on", true));
    out.right_on = out.left_on;
    out.same_names = true;
  } else if (has_sides) {
    ALAMBIC_ASSIGN_OR_RETURN(out.left_on, ColumnListParam(p, "left_on", true));
    ALAMBIC_ASSIGN_OR_RETURN(out.right_on, ColumnListParam(p, "right_on", true));
    if (out.left_on.size() != out.right_on.size())
      return Status::Invalid(fmt::format("param 'right_on': {} columns, but 'left_on' has {}",
                                         out.right_on.size(), out.left_on.size()));
  } else {
    return Status::Invalid("param 'on': is required (or 'left_on' and 'right_on')");
  }
  if (auto n = p.find("normalize"); n != p.end()) {
    const nlohmann::json list = n->is_array() ? *n : nlohmann::json::array({*n});
    for (const auto& e : list) {
      const std::string s = e.is_string() ? e.get<std::string>() : "";
      if (s == "trim")
        out.normalize |= kKeyTrim;
      else if (s == "lower")
        out.normalize |= kKeyLower;
      else if (s == "strip_accents")
        out.normalize |= kKeyStripAccents;
      else if (s == "name")
        out.normalize |= kKeyName;
      else
        return Status::Invalid(
            fmt::format("param 'normalize': unknown normalisation {} (expected trim, lower, "
                        "strip_accents, name)",
                        e.dump()));
    }
  }
  ALAMBIC_ASSIGN_OR_RETURN(out.naming, ClashNamingParam(p));
  if (auto s = p.find("right_prefix"); s != p.end()) {
    if (!s->is_string()) return Status::Invalid("param 'right_prefix': must be a string");
    out.right_prefix = s->get<std::string>();
  }
  return out;
}

namespace {

struct WinFnName {
  const char* name;
  WinFn fn;
};
constexpr WinFnName kWinFns[] = {{"row_number", WinFn::kRowNumber},
                                 {"rank", WinFn::kRank},
                                 {"dense_rank", WinFn::kDenseRank},
                                 {"lag", WinFn::kLag},
                                 {"lead", WinFn::kLead},
                                 {"sum", WinFn::kSum},
                                 {"mean", WinFn::kMean},
                                 {"count", WinFn::kCount},
                                 {"min", WinFn::kMin},
                                 {"max", WinFn::kMax}};

}  // namespace

bool NeedsColumn(WinFn f) {
  return f != WinFn::kRowNumber && f != WinFn::kRank && f != WinFn::kDenseRank;
}
bool IsFramed(WinFn f) {
  return f == WinFn::kSum || f == WinFn::kMean || f == WinFn::kCount || f == WinFn::kMin ||
         f == WinFn::kMax;
}

namespace {

Result<int64_t> FrameBound(const nlohmann::json& v, const std::string& where) {
  if (v.is_string() && v.get<std::string>() == "unbounded") return kUnboundedFrame;
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return v.get<int64_t>();
  return Status::Invalid(where + " must be a non-negative integer or \"unbounded\"");
}

}  // namespace

Result<WindowParams> ParseWindowParams(const nlohmann::json& p) {
  if (!p.is_object()) return Status::Invalid("params must be a mapping");
  WindowParams out;
  ALAMBIC_ASSIGN_OR_RETURN(out.partition_by, ColumnListParam(p, "partition_by", false));
  ALAMBIC_ASSIGN_OR_RETURN(out.order_by, OrderParam(p, "order_by", false));
  auto it = p.find("columns");
  if (it == p.end() || !it->is_array() || it->empty())
    return Status::Invalid(
        "param 'columns': must be a non-empty list of {name, fn, column, offset, frame}");
  std::set<std::string> names;
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& e = (*it)[i];
    const std::string at = fmt::format("param 'columns': entry {}", i + 1);
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string() ||
        e["name"].get<std::string>().empty())
      return Status::Invalid(at + ": must be a mapping with a 'name'");
    WinColumn c;
    c.name = e["name"].get<std::string>();
    const std::string where = fmt::format("param 'columns': '{}'", c.name);
    if (!names.insert(c.name).second) return Status::Invalid(where + ": the name is used twice");
    for (const auto& [k, v] : e.items())
      if (k != "name" && k != "fn" && k != "column" && k != "offset" && k != "frame")
        return Status::Invalid(fmt::format(
            "{}: unknown key '{}' (expected name, fn, column, offset, frame)", where, k));
    if (!e.contains("fn") || !e["fn"].is_string())
      return Status::Invalid(where + ": 'fn' is required");
    c.fn_text = e["fn"].get<std::string>();
    bool known = false;
    for (const auto& f : kWinFns)
      if (c.fn_text == f.name) {
        c.fn = f.fn;
        known = true;
      }
    if (!known)
      return Status::Invalid(fmt::format(
          "{}: unknown fn '{}' (expected row_number, rank, dense_rank, lag, lead, sum, mean, "
          "count, min, max)",
          where, c.fn_text));
    if (e.contains("column")) {
      if (!e["column"].is_string()) return Status::Invalid(where + ": 'column' must be a string");
      c.column = e["column"].get<std::string>();
    }
    if (NeedsColumn(c.fn) && c.column.empty())
      return Status::Invalid(fmt::format("{}: {} needs a 'column'", where, c.fn_text));
    if (!NeedsColumn(c.fn) && !c.column.empty())
      return Status::Invalid(fmt::format("{}: {} takes no 'column'", where, c.fn_text));
    if (e.contains("offset")) {
      if (c.fn != WinFn::kLag && c.fn != WinFn::kLead)
        return Status::Invalid(where + ": 'offset' is for lag and lead");
      if (!e["offset"].is_number_integer() || e["offset"].get<int64_t>() < 0)
        return Status::Invalid(where + ": 'offset' must be a non-negative integer");
      c.offset = e["offset"].get<int64_t>();
    }
    if (e.contains("frame")) {
      if (!IsFramed(c.fn))
        return Status::Invalid(where + ": 'frame' is for sum, mean, count, min and max");
      const auto& f = e["frame"];
      if (!f.is_object())
        return Status::Invalid(where + ": 'frame' must be a mapping {preceding, following}");
      for (const auto& [k, v] : f.items()) {
        if (k == "preceding") {
          ALAMBIC_ASSIGN_OR_RETURN(c.preceding, FrameBound(v, where + ": frame: preceding"));
        } else if (k == "following") {
          ALAMBIC_ASSIGN_OR_RETURN(c.following, FrameBound(v, where + ": frame: following"));
        } else {
          return Status::Invalid(
              fmt::format("{}: frame: unknown key '{}' (expected preceding, following)", where, k));
        }
      }
    }
    out.columns.push_back(std::move(c));
  }
  return out;
}

}  // namespace alambic
