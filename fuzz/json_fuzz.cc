// The JSON reader (core/table/json_read.h): an array of objects.
#include "core/table/json_read.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/table_check.h"

ALAMBIC_FUZZ_TARGET(json) {
  using namespace alambic;
  JsonReadOptions o;
  o.lines = false;
  auto t = ReadJsonBuffer(std::string_view(reinterpret_cast<const char*>(data), size), o);
  if (t.ok()) fuzz::CheckTable(*t);
  return 0;
}
