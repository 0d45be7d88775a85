// The expression language (core/table/expr.h): parse, type-check against a table with a
// column of every type (nulls included), evaluate; the result has the table's rows and the
// type the compiler announced.
#include "core/table/csv.h"
#include "core/table/expr.h"
#include "fuzz/fuzz_target.h"

ALAMBIC_FUZZ_TARGET(expr) {
  using namespace alambic;
  static const Table* table = [] {
    CsvOptions o;
    o.schema = {{"i", TypeId::kInt64},   {"x", TypeId::kFloat64}, {"s", TypeId::kUtf8},
                {"b", TypeId::kBool},    {"d", TypeId::kDate32},  {"t", TypeId::kTimestamp},
                {"name", TypeId::kUtf8}, {"zero", TypeId::kInt64}};
    o.null_values = {"", "NULL"};
    o.threads = 1;
    auto t = ReadCsvBuffer(
        "i,x,s,b,d,t,name,zero\n"
        "1,1.5,abc,true,2024-01-31,2024-01-31T12:00:00Z,Zoé,0\n"
        "-9223372036854775808,-0.0,,false,1970-01-01,1969-12-31T23:59:59Z,\xC3\xA9t\xC3\xA9,0\n"
        "9223372036854775807,NaN,\"a,b\",NULL,0001-01-01,9999-12-31T23:59:59Z,NULL,0\n"
        ",inf,x,true,,,  spaced  ,0\n",
        o);
    FUZZ_CHECK(t.ok(), t.status().message());
    return new Table(std::move(*t));
  }();
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto e = Compile(text, table->schema());
  if (!e.ok()) return 0;
  auto col = e->Evaluate(*table);
  if (!col.ok()) return 0;
  FUZZ_CHECK(*col != nullptr, text);
  FUZZ_CHECK((*col)->length == table->num_rows(), text);
  FUZZ_CHECK((*col)->type == e->type(), text);
  Status valid = (*col)->Validate();
  FUZZ_CHECK(valid.ok(), text + ": " + valid.message());
  for (int64_t r = 0; r < (*col)->length; ++r) (void)FormatCell(**col, r);
  return 0;
}
