#include "recipes/relational.h"

#include <algorithm>

#include <fmt/format.h>

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

}  // namespace alambic
