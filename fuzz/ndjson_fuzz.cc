// The NDJSON reader (core/table/json_read.h): one object per line.
#include "core/table/json_read.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/table_check.h"

ALAMBIC_FUZZ_TARGET(ndjson) {
  using namespace alambic;
  JsonReadOptions o;
  o.lines = true;
  auto t = ReadJsonBuffer(std::string_view(reinterpret_cast<const char*>(data), size), o);
  if (t.ok()) fuzz::CheckTable(*t);
  return 0;
}
