// kind: check — data-quality assertions on one input (like dbt tests or Great
// Expectations); the input is passed through unchanged so downstream recipes
// can depend on checked data. A failing `error` check fails the recipe; a
// failing `warn` check is logged. Every result goes to metrics["checks"].
#include <optional>
#include <unordered_map>

#include <fmt/format.h>

#include "core/recipe/recipe.h"
#include "core/table/expr.h"
#include "recipes/builtin_kinds.h"

namespace alambic {
namespace {

// Example rows quoted in a failure message and in the metrics.
constexpr size_t kMaxExamples = 5;
// Example values longer than this many bytes are cut (with "…").
constexpr size_t kMaxExampleBytes = 60;

using nlohmann::json;

enum class CheckType { kRowCount, kNotNull, kUnique, kValuesIn, kRange, kRegex, kSchema, kFormula };

struct CheckSpec {
  CheckType type = CheckType::kRowCount;
  std::string check;  // the key: not_null, unique, ...
  std::string name;   // given or derived
  bool warn = false;
  std::vector<std::string> columns;
  std::optional<int64_t> min_rows, max_rows;
  json values;                                         // values_in
  std::optional<json> lo, hi;                          // range
  std::string pattern;                                 // regex
  std::vector<std::pair<std::string, TypeId>> schema;  // schema_contains
  std::string formula;
};

Status CheckError(size_t index, std::string_view check, std::string_view what) {
  return Status::Invalid(fmt::format("param 'checks': check {} ({}): {}", index + 1,
                                     check.empty() ? "?" : check, what));
}

Result<std::vector<std::string>> ColumnList(const json& v) {
  std::vector<std::string> out;
  if (v.is_string()) return std::vector<std::string>{v.get<std::string>()};
  if (!v.is_array() || v.empty()) return Status::Invalid("must be a column name or a list of them");
  for (const auto& c : v) {
    if (!c.is_string()) return Status::Invalid("must be a column name or a list of them");
    out.push_back(c.get<std::string>());
  }
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

Result<CheckSpec> ParseCheck(const json& entry, size_t index) {
  static const std::vector<std::string> kKinds = {"row_count",       "not_null", "unique",
                                                  "values_in",       "range",    "regex",
                                                  "schema_contains", "formula"};
  if (!entry.is_object())
    return CheckError(index, "", "must be a mapping such as {not_null: [column]}");
  CheckSpec c;
  for (const auto& [key, value] : entry.items()) {
    if (key == "name") {
      if (!value.is_string() || value.get<std::string>().empty())
        return CheckError(index, c.check, "'name' must be a non-empty string");
      c.name = value.get<std::string>();
    } else if (key == "severity") {
      if (value != "error" && value != "warn")
        return CheckError(index, c.check, "'severity' must be error or warn");
      c.warn = value == "warn";
    } else if (std::find(kKinds.begin(), kKinds.end(), key) != kKinds.end()) {
      if (!c.check.empty())
        return CheckError(index, c.check,
                          fmt::format("holds two checks ({} and {})", c.check, key));
      c.check = key;
    } else {
      return CheckError(
          index, c.check,
          fmt::format("unknown key '{}' (expected one of: {}, name, severity)", key, Join(kKinds)));
    }
  }
  if (c.check.empty())
    return CheckError(index, "", fmt::format("names no check (expected one of: {})", Join(kKinds)));
  const json& v = entry.at(c.check);
  auto fail = [&](std::string_view what) { return CheckError(index, c.check, what); };
  auto column_of = [&](const json& obj) -> Status {
    if (!obj.is_object() || !obj.contains("column") || !obj["column"].is_string())
      return fail("needs 'column': a column name");
    c.columns = {obj["column"].get<std::string>()};
    return Status::Ok();
  };
  auto allow_keys = [&](const json& obj, std::initializer_list<const char*> keys) -> Status {
    for (const auto& [k, unused] : obj.items()) {
      (void)unused;
      // An init-capture: clang before 16 cannot capture a structured binding.
      if (std::none_of(keys.begin(), keys.end(), [&key = k](const char* a) { return key == a; }))
        return fail(fmt::format("unknown key '{}'", k));
    }
    return Status::Ok();
  };
  if (c.check == "row_count") {
    c.type = CheckType::kRowCount;
    if (!v.is_object()) return fail("needs a mapping {min: N, max: M}");
    ALAMBIC_RETURN_IF_ERROR(allow_keys(v, {"min", "max"}));
    for (const char* k : {"min", "max"})
      if (v.contains(k)) {
        if (!v[k].is_number_integer() || v[k].get<int64_t>() < 0)
          return fail(fmt::format("'{}' must be a non-negative integer", k));
        (std::string_view(k) == "min" ? c.min_rows : c.max_rows) = v[k].get<int64_t>();
      }
    if (!c.min_rows && !c.max_rows) return fail("needs 'min' or 'max'");
    if (c.min_rows && c.max_rows && *c.min_rows > *c.max_rows) return fail("'min' exceeds 'max'");
    if (c.name.empty()) c.name = "row_count";
  } else if (c.check == "not_null" || c.check == "unique") {
    c.type = c.check == "unique" ? CheckType::kUnique : CheckType::kNotNull;
    auto cols = ColumnList(v);
    if (!cols.ok()) return fail(cols.status().message());
    c.columns = *cols;
  } else if (c.check == "values_in") {
    c.type = CheckType::kValuesIn;
    ALAMBIC_RETURN_IF_ERROR(column_of(v));
    ALAMBIC_RETURN_IF_ERROR(allow_keys(v, {"column", "values"}));
    if (!v.contains("values") || !v["values"].is_array() || v["values"].empty())
      return fail("needs 'values': a non-empty list");
    for (const auto& x : v["values"])
      if (!x.is_string() && !x.is_number() && !x.is_boolean())
        return fail("'values' must hold strings, numbers or booleans");
    c.values = v["values"];
  } else if (c.check == "range") {
    c.type = CheckType::kRange;
    ALAMBIC_RETURN_IF_ERROR(column_of(v));
    ALAMBIC_RETURN_IF_ERROR(allow_keys(v, {"column", "min", "max"}));
    for (const char* k : {"min", "max"})
      if (v.contains(k)) {
        if (!v[k].is_number() && !v[k].is_string())
          return fail(fmt::format("'{}' must be a number or a date", k));
        (std::string_view(k) == "min" ? c.lo : c.hi) = v[k];
      }
    if (!c.lo && !c.hi) return fail("needs 'min' or 'max'");
  } else if (c.check == "regex") {
    c.type = CheckType::kRegex;
    ALAMBIC_RETURN_IF_ERROR(column_of(v));
    ALAMBIC_RETURN_IF_ERROR(allow_keys(v, {"column", "pattern"}));
    if (!v.contains("pattern") || !v["pattern"].is_string())
      return fail("needs 'pattern': a regular expression");
    c.pattern = v["pattern"].get<std::string>();
  } else if (c.check == "schema_contains") {
    c.type = CheckType::kSchema;
    if (!v.is_object() || v.empty()) return fail("needs a mapping column -> type");
    for (const auto& [col, type] : v.items()) {
      if (!type.is_string())
        return fail(fmt::format("column '{}': the type must be a string", col));
      auto t = ParseTypeName(type.get<std::string>());
      if (!t.ok()) return fail(fmt::format("column '{}': {}", col, t.status().message()));
      c.schema.emplace_back(col, *t);
    }
    if (c.name.empty()) c.name = "schema_contains";
  } else {
    c.type = CheckType::kFormula;
    if (!v.is_string()) return fail("must be an expression (a string)");
    c.formula = v.get<std::string>();
    auto e = ParseExpr(c.formula);
    if (!e.ok()) return fail(e.status().message());
    if (c.name.empty()) c.name = c.formula;
  }
  if (c.name.empty()) c.name = fmt::format("{}({})", c.check, Join(c.columns));
  return c;
}

std::string QuoteColumn(const std::string& name) {
  std::string s = "`";
  for (char ch : name) s += ch == '`' ? std::string("``") : std::string(1, ch);
  return s + "`";
}

std::string QuoteString(const std::string& v) {
  std::string s = "'";
  for (char ch : v) s += ch == '\'' ? std::string("''") : std::string(1, ch);
  return s + "'";
}

// An expression literal for a YAML value compared with a column of type `t`.
std::string Literal(const json& v, TypeId t) {
  if (v.is_string()) {
    if (t == TypeId::kDate32) return "date(" + QuoteString(v.get<std::string>()) + ")";
    if (t == TypeId::kTimestamp) return "timestamp(" + QuoteString(v.get<std::string>()) + ")";
    return QuoteString(v.get<std::string>());
  }
  return v.dump();
}

std::string Escaped(std::string_view s) {
  std::string cut(s.substr(0, kMaxExampleBytes));
  // Do not cut inside a UTF-8 sequence.
  while (cut.size() < s.size() && !cut.empty() &&
         (static_cast<unsigned char>(s[cut.size()]) & 0xC0) == 0x80)
    cut.pop_back();
  std::string out = json(cut).dump(-1, ' ', false, json::error_handler_t::replace);
  if (cut.size() < s.size()) out.insert(out.size() - 1, "…");
  return out;
}

std::string CellText(const Column& c, int64_t row) {
  if (c.IsNull(row)) return "null";
  if (c.type == TypeId::kUtf8) return Escaped(c.String(row));
  return FormatCell(c, row);
}

struct CheckResult {
  bool passed = true;
  int64_t failing = 0;
  std::vector<std::pair<int64_t, std::string>> examples;  // 1-based row, value text
  std::string detail;                                     // the failure, for the message
};

void AddFailure(CheckResult* r, int64_t row, const std::function<std::string()>& value) {
  r->passed = false;
  ++r->failing;
  if (r->examples.size() < kMaxExamples) r->examples.emplace_back(row + 1, value());
}

Status UnknownColumn(const Schema& s, const std::string& col) {
  return Status::Invalid(fmt::format("unknown column '{}' (columns: {})", col, s.ToString()));
}

// Rows where `expr` is false fail; null passes (as SQL CHECK constraints).
// `generated`: the text was built from the check's params, so an error's
// line:column would point into text the user never wrote and is dropped.
Status RunExpression(const std::string& text, const Table& t, const std::vector<std::string>& show,
                     bool generated, CheckResult* r) {
  auto compiled = Compile(text, t.schema());
  if (!compiled.ok()) {
    const std::string& msg = compiled.status().message();
    const size_t colon = msg.find(": ");
    if (!generated || colon == std::string::npos) return compiled.status();
    return Status::Invalid(msg.substr(colon + 2));
  }
  const TypedExpr& e = *compiled;
  if (e.type() != TypeId::kBool)
    return Status::Invalid(fmt::format("the expression must be bool, got {}", TypeName(e.type())));
  ALAMBIC_ASSIGN_OR_RETURN(ColumnPtr mask, e.Evaluate(t));
  std::vector<ColumnPtr> cols;
  for (const auto& c : show) cols.push_back(t.ColumnByName(c));
  for (int64_t i = 0; i < mask->length; ++i) {
    if (mask->IsNull(i) || mask->Bool(i)) continue;
    AddFailure(r, i, [&] {
      if (show.size() == 1) return CellText(*cols[0], i);
      std::string s;
      for (size_t k = 0; k < show.size(); ++k)
        s += fmt::format("{}{}={}", k ? ", " : "", show[k], CellText(*cols[k], i));
      return s;
    });
  }
  return Status::Ok();
}

// unique over one int64, timestamp or date32 column, without formatting the
// values: ids are often ascending, which one pass proves; otherwise a hash map
// of the values. Failures as in the general case, in row order.
Status UniqueIntegers(const Column& col, CheckResult* r) {
  const bool date = col.type == TypeId::kDate32;
  auto value = [&](int64_t i) { return date ? int64_t{col.Date32(i)} : col.Int64(i); };
  bool ascending = true, any = false;
  int64_t last = 0;
  for (int64_t i = 0; i < col.length && ascending; ++i) {
    if (col.IsNull(i)) continue;  // nulls are distinct, as in SQL UNIQUE
    const int64_t v = value(i);
    ascending = !any || v > last;
    last = v, any = true;
  }
  if (ascending) return Status::Ok();
  std::unordered_map<int64_t, int64_t> seen;
  seen.reserve(static_cast<size_t>(col.length));
  for (int64_t i = 0; i < col.length; ++i) {
    if (col.IsNull(i)) continue;
    auto [it, inserted] = seen.emplace(value(i), i);
    if (inserted) continue;
    const int64_t first = it->second;
    AddFailure(r, i, [&] { return fmt::format("{} (as row {})", CellText(col, i), first + 1); });
  }
  return Status::Ok();
}

Status RunCheck(const CheckSpec& c, const Table& t, CheckResult* r) {
  const Schema& s = t.schema();
  for (const auto& col : c.columns)
    if (s.FieldIndex(col) < 0) return UnknownColumn(s, col);
  switch (c.type) {
    case CheckType::kRowCount: {
      const int64_t n = t.num_rows();
      if (c.min_rows && n < *c.min_rows) {
        r->passed = false;
        r->detail = fmt::format("{} rows, expected at least {}", n, *c.min_rows);
      } else if (c.max_rows && n > *c.max_rows) {
        r->passed = false;
        r->detail = fmt::format("{} rows, expected at most {}", n, *c.max_rows);
      }
      return Status::Ok();
    }
    case CheckType::kSchema: {
      std::vector<std::string> problems;
      for (const auto& [col, type] : c.schema) {
        const int i = s.FieldIndex(col);
        if (i < 0) {
          problems.push_back(fmt::format("column '{}' is missing", col));
        } else if (s.fields[static_cast<size_t>(i)].type != type) {
          problems.push_back(fmt::format("column '{}' is {}, expected {}", col,
                                         TypeName(s.fields[static_cast<size_t>(i)].type),
                                         TypeName(type)));
        }
      }
      if (!problems.empty()) {
        r->passed = false;
        r->detail = Join(problems);
      }
      return Status::Ok();
    }
    case CheckType::kNotNull: {
      // One result per column is made by the caller; here columns has one entry.
      const Column& col = *t.ColumnByName(c.columns[0]);
      if (col.null_count == 0) return Status::Ok();
      for (int64_t i = 0; i < col.length; ++i)
        if (col.IsNull(i)) AddFailure(r, i, [] { return std::string("null"); });
      return Status::Ok();
    }
    case CheckType::kUnique: {
      if (c.columns.size() == 1) {
        const Column& col = *t.ColumnByName(c.columns[0]);
        if (col.type == TypeId::kInt64 || col.type == TypeId::kTimestamp ||
            col.type == TypeId::kDate32)
          return UniqueIntegers(col, r);
      }
      std::vector<ColumnPtr> cols;
      for (const auto& col : c.columns) cols.push_back(t.ColumnByName(col));
      std::unordered_map<std::string, int64_t> seen;
      seen.reserve(static_cast<size_t>(t.num_rows()));
      std::string key;
      for (int64_t i = 0; i < t.num_rows(); ++i) {
        key.clear();
        bool has_null = false;
        for (const auto& col : cols) {
          if (col->IsNull(i)) {
            has_null = true;
            break;
          }
          const std::string cell = FormatCell(*col, i);
          key += std::to_string(cell.size()) + ':' + cell;
        }
        if (has_null) continue;  // nulls are distinct, as in SQL UNIQUE
        auto [it, inserted] = seen.emplace(key, i);
        if (inserted) continue;
        const int64_t first = it->second;
        AddFailure(r, i, [&] {
          std::string v;
          for (size_t k = 0; k < cols.size(); ++k) v += (k ? ", " : "") + CellText(*cols[k], i);
          if (cols.size() > 1) v = "(" + v + ")";
          return fmt::format("{} (as row {})", v, first + 1);
        });
      }
      return Status::Ok();
    }
    case CheckType::kValuesIn: {
      const TypeId type = s.fields[static_cast<size_t>(s.FieldIndex(c.columns[0]))].type;
      std::string list;
      for (const auto& v : c.values) {
        const bool ok = type == TypeId::kBool                                  ? v.is_boolean()
                        : (type == TypeId::kInt64 || type == TypeId::kFloat64) ? v.is_number()
                                                                               : v.is_string();
        if (!ok)
          return Status::Invalid(fmt::format("value {} does not fit column '{}' ({})", v.dump(),
                                             c.columns[0], TypeName(type)));
        list += (list.empty() ? "" : ", ") + Literal(v, type);
      }
      return RunExpression(QuoteColumn(c.columns[0]) + " in (" + list + ")", t, c.columns, true, r);
    }
    case CheckType::kRange: {
      const TypeId type = s.fields[static_cast<size_t>(s.FieldIndex(c.columns[0]))].type;
      const bool numeric = type == TypeId::kInt64 || type == TypeId::kFloat64;
      std::string cond;
      for (const auto& [bound, op] : {std::pair{&c.lo, ">="}, std::pair{&c.hi, "<="}}) {
        if (!*bound) continue;
        if (numeric != (*bound)->is_number() || type == TypeId::kBool)
          return Status::Invalid(fmt::format("bound {} does not fit column '{}' ({})",
                                             (*bound)->dump(), c.columns[0], TypeName(type)));
        cond += fmt::format("{}{} {} {}", cond.empty() ? "" : " and ", QuoteColumn(c.columns[0]),
                            op, Literal(**bound, type));
      }
      return RunExpression(cond, t, c.columns, true, r);
    }
    case CheckType::kRegex: {
      const TypeId type = s.fields[static_cast<size_t>(s.FieldIndex(c.columns[0]))].type;
      if (type != TypeId::kUtf8)
        return Status::Invalid(
            fmt::format("column '{}' is {}, not utf8", c.columns[0], TypeName(type)));
      return RunExpression(fmt::format("matches({}, {})", QuoteColumn(c.columns[0]),
                                       QuoteString("^(?:" + c.pattern + ")$")),
                           t, c.columns, true, r);
    }
    case CheckType::kFormula: {
      ALAMBIC_ASSIGN_OR_RETURN(Expr e, ParseExpr(c.formula));
      return RunExpression(c.formula, t, e.columns(), false, r);
    }
  }
  return Status::Ok();
}

Result<std::vector<CheckSpec>> ParseChecks(const json& params) {
  if (!params.is_object()) return Status::Invalid("params must be a mapping");
  auto it = params.find("checks");
  if (it == params.end()) return Status::Invalid("param 'checks': is required");
  if (!it->is_array() || it->empty())
    return Status::Invalid("param 'checks': must be a non-empty list of checks");
  std::vector<CheckSpec> out;
  for (size_t i = 0; i < it->size(); ++i) {
    ALAMBIC_ASSIGN_OR_RETURN(CheckSpec c, ParseCheck((*it)[i], i));
    if (c.type == CheckType::kRegex) {
      // Compiles the pattern now, so a bad one fails `alambic validate`.
      Schema probe;
      probe.fields.push_back({c.columns[0], TypeId::kUtf8});
      // The pattern as written first, so the message quotes it, then anchored.
      auto e = Compile(
          fmt::format("matches({}, {})", QuoteColumn(c.columns[0]), QuoteString(c.pattern)), probe);
      if (e.ok())
        e = Compile(fmt::format("matches({}, {})", QuoteColumn(c.columns[0]),
                                QuoteString("^(?:" + c.pattern + ")$")),
                    probe);
      if (!e.ok()) {
        std::string msg = e.status().message();
        if (auto colon = msg.find(": "); colon != std::string::npos) msg = msg.substr(colon + 2);
        return CheckError(i, c.check, msg);
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

class CheckKind final : public RecipeKind {
 public:
  std::string name() const override { return "check"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"checks", ParamType::kList, true, "list of data-quality checks"}};
    return kParams;
  }
  int max_inputs() const override { return 1; }
  Status CheckParams(const json& params) const override { return ParseChecks(params).status(); }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    const std::string prefix = fmt::format("recipe {}", ctx.recipe);
    auto specs = ParseChecks(*ctx.params);
    if (!specs.ok()) return specs.status().WithContext(prefix);
    const NamedTable& input = ctx.inputs.at(0);
    const Table& t = *input.table;

    // not_null over several columns reports each column on its own.
    std::vector<CheckSpec> expanded;
    for (const auto& c : *specs) {
      if (c.type == CheckType::kNotNull && c.columns.size() > 1) {
        for (const auto& col : c.columns) {
          CheckSpec one = c;
          one.columns = {col};
          one.name = fmt::format("{}({})", c.check, col);
          if (!c.name.empty() && c.name != fmt::format("{}({})", c.check, Join(c.columns)))
            one.name = fmt::format("{} ({})", c.name, col);
          expanded.push_back(std::move(one));
        }
      } else {
        expanded.push_back(c);
      }
    }

    json results = json::array();
    std::vector<std::string> errors;
    int failed_warn = 0;
    for (const auto& c : expanded) {
      if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
      CheckResult r;
      Status st = RunCheck(c, t, &r);
      if (!st.ok()) return st.WithContext(fmt::format("{}: check '{}'", prefix, c.name));
      std::string message;
      if (!r.passed) {
        message = fmt::format("check '{}' failed", c.name);
        if (c.columns.size() == 1) message += fmt::format(": column '{}'", c.columns[0]);
        if (c.columns.size() > 1) message += fmt::format(": columns {}", Join(c.columns));
        if (!r.detail.empty()) {
          message += ": " + r.detail;
        } else {
          std::string ex;
          for (const auto& [row, value] : r.examples)
            ex += fmt::format("{}row {}: {}", ex.empty() ? "" : ", ", row, value);
          if (r.failing > static_cast<int64_t>(r.examples.size())) ex += ", …";
          message += fmt::format(": {} of {} rows fail ({})", r.failing, t.num_rows(), ex);
        }
        if (c.warn) {
          ++failed_warn;
          if (ctx.log) ctx.log->Warn(message);
        } else {
          errors.push_back(message);
          if (ctx.log) ctx.log->Log(LogLevel::kError, message);
        }
      }
      json examples = json::array();
      for (const auto& [row, value] : r.examples)
        examples.push_back({{"row", row}, {"value", value}});
      json column = c.columns.size() == 1 ? json(c.columns[0])
                    : c.columns.empty()   ? json(nullptr)
                                          : json(c.columns);
      results.push_back({{"name", c.name},
                         {"check", c.check},
                         {"column", column},
                         {"severity", c.warn ? "warn" : "error"},
                         {"passed", r.passed},
                         {"failing_rows", r.failing},
                         {"examples", examples},
                         {"message", message}});
    }
    if (!errors.empty()) {
      std::string all;
      for (const auto& e : errors) all += (all.empty() ? "" : "; ") + e;
      ctx.failure_metrics["rows"] = t.num_rows();
      ctx.failure_metrics["checks"] = std::move(results);
      return Status::Failed(fmt::format("{}: {}", prefix, all));
    }
    if (ctx.log)
      ctx.log->Info(fmt::format("checks: {} passed, {} failed with severity warn",
                                expanded.size() - static_cast<size_t>(failed_warn), failed_warn));
    RecipeOutput out;
    out.tables.push_back(t);
    out.metrics["rows"] = t.num_rows();
    out.metrics["checks"] = std::move(results);
    std::map<std::string, std::vector<ColumnSource>> lineage;
    for (const auto& f : t.schema().fields)
      lineage[f.name] = {{input.name, f.name, kTransformIdentity}};
    out.column_lineage.push_back(std::move(lineage));
    return out;
  }
};

}  // namespace

Status RegisterCheckKind(RecipeRegistry& r) { return r.Register(std::make_unique<CheckKind>()); }

}  // namespace alambic
