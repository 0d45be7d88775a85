// The Arrow IPC file reader (core/table/arrow_ipc.h): what a store holds, or a file a user
// collects. A table read back writes and reads again to the same cells.
#include "core/table/arrow_ipc.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/table_check.h"

ALAMBIC_FUZZ_TARGET(arrow) {
  using namespace alambic;
  auto t = ReadArrowBuffer(data, size);
  if (!t.ok()) return 0;
  fuzz::CheckTable(*t);
  auto again = WriteArrowFileToString(*t);
  FUZZ_CHECK(again.ok(), again.status().message());
  auto back = ReadArrowBuffer(reinterpret_cast<const uint8_t*>(again->data()), again->size());
  FUZZ_CHECK(back.ok(), back.status().message());
  FUZZ_CHECK(back->num_rows() == t->num_rows(), "rows after a round trip");
  FUZZ_CHECK(back->schema() == t->schema(), "schema after a round trip");
  return 0;
}
