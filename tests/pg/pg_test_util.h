// Helpers of the PostgreSQL tests (run through tests/pg/pg-harness, which sets the
// ALAMBIC_TEST_PG_* variables of the server it started).
#pragma once

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "core/net/postgres.h"
#include "core/table/table.h"

namespace alambic::testing {

inline std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The harness's server, as `label`, with its password.
inline PgConnectOptions HarnessServer(const std::string& label) {
  PgConnectOptions o;
  o.label = label;
  o.host = Env("ALAMBIC_TEST_PG_HOST");
  o.port = Env("ALAMBIC_TEST_PG_PORT");
  o.dbname = Env("ALAMBIC_TEST_PG_DB");
  o.user = Env("ALAMBIC_TEST_PG_USER");
  o.password = Env("ALAMBIC_TEST_PG_PASSWORD");
  return o;
}

// "" when both tables have the same column names, types, rows and cells
// (floats within `tol` relative, NaN equal to NaN, -0.0 distinct from 0.0
// when tol is 0), else the first difference.
inline std::string TableDiff(const Table& a, const Table& b, double tol = 0) {
  if (a.num_columns() != b.num_columns())
    return "columns " + a.schema().ToString() + " vs " + b.schema().ToString();
  for (int j = 0; j < a.num_columns(); ++j) {
    const Field& f = a.schema().fields[static_cast<size_t>(j)];
    const Field& g = b.schema().fields[static_cast<size_t>(j)];
    if (f.name != g.name || f.type != g.type)
      return fmt::format("column {}: {} {} vs {} {}", j, f.name, TypeName(f.type), g.name,
                         TypeName(g.type));
  }
  if (a.num_rows() != b.num_rows()) return fmt::format("rows {} vs {}", a.num_rows(), b.num_rows());
  for (int j = 0; j < a.num_columns(); ++j) {
    const Column& x = *a.column(j);
    const Column& y = *b.column(j);
    for (int64_t i = 0; i < a.num_rows(); ++i) {
      const std::string where =
          fmt::format("row {} column {}: ", i, a.schema().fields[static_cast<size_t>(j)].name);
      if (x.IsNull(i) != y.IsNull(i))
        return where + (x.IsNull(i) ? "null" : FormatCell(x, i)) + " vs " +
               (y.IsNull(i) ? "null" : FormatCell(y, i));
      if (x.IsNull(i)) continue;
      if (x.type == TypeId::kFloat64) {
        const double p = x.Double(i), q = y.Double(i);
        if (std::isnan(p) || std::isnan(q)) {
          if (std::isnan(p) != std::isnan(q)) return where + fmt::format("{} vs {}", p, q);
          continue;
        }
        const bool same = tol == 0
                              ? std::memcmp(&p, &q, sizeof p) == 0
                              : (p == q || std::fabs(p - q) <= tol * std::max(1.0, std::fabs(q)));
        if (!same) return where + fmt::format("{} vs {}", p, q);
      } else if (FormatCell(x, i) != FormatCell(y, i)) {
        return where + FormatCell(x, i) + " vs " + FormatCell(y, i);
      }
    }
  }
  return "";
}

}  // namespace alambic::testing
