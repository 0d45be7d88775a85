// Test plugin `testkit`: a well-behaved kind and kinds that misbehave in every
// way a plugin can (crash, abort, throw, hang, leak), for the loader and
// isolation tests.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "alambic_plugin_helpers.h"

namespace {

using alambic_plugin::InputTable;
using alambic_plugin::TableBuilder;

// x -> x * factor (float64 column "scaled", replacing any column of that
// name), other columns copied.
int32_t Scale(const AlambicRecipeCall* call, ArrowSchema* s, ArrowArray* a, char* error,
              size_t size) {
  const InputTable in(call->input_schemas[0], call->input_arrays[0]);
  const std::string column = alambic_plugin::ParamString(call->params_json, "column", "x");
  const double factor = alambic_plugin::ParamNumber(call->params_json, "factor", 1);
  const int64_t c = in.find(column);
  if (c < 0) return alambic_plugin::Fail(error, size, "no column '" + column + "'");
  TableBuilder out;
  std::vector<std::pair<int64_t, int>> copies;  // input column -> output column
  for (int64_t k = 0; k < in.columns(); ++k)
    if (std::string_view(in.name(k)) != "scaled")
      copies.emplace_back(k, out.add_column(in.name(k), alambic_plugin::CopyFormat(in, k)));
  const int scaled = out.add_column("scaled", "g");
  for (int64_t r = 0; r < in.rows(); ++r) {
    for (const auto& [from, to] : copies) in.copy_to(out, to, from, r);
    in.is_null(c, r) ? out.append_null(scaled)
                     : out.append_float64(scaled, in.number(c, r) * factor);
  }
  out.finish(s, a);
  call->host->log(call->host->host_data, ALAMBIC_LOG_INFO, "scaled");
  return 0;
}

// Prints to stdout and stderr (the runner forwards both to the recipe's
// log), then scales like tk_scale.
int32_t Print(const AlambicRecipeCall* call, ArrowSchema* s, ArrowArray* a, char* error,
              size_t size) {
  std::printf("rows seen: %lld\n", static_cast<long long>(call->input_arrays[0]->length));
  std::fflush(stdout);
  std::fprintf(stderr, "a warning on stderr\n");
  for (int i = 0; i < 300; ++i) std::printf("line %d\n", i);
  return Scale(call, s, a, error, size);
}

int32_t FailClean(const AlambicRecipeCall*, ArrowSchema*, ArrowArray*, char* error, size_t size) {
  return alambic_plugin::Fail(error, size, "the data is not good enough");
}

// A real invalid write (the pointer is volatile so the compiler cannot turn
// it into a trap instruction).
int32_t Segv(const AlambicRecipeCall*, ArrowSchema*, ArrowArray*, char*, size_t) {
  volatile int* volatile nowhere = nullptr;
  *nowhere = 1;
  return 0;
}

int32_t Abort(const AlambicRecipeCall*, ArrowSchema*, ArrowArray*, char*, size_t) { std::abort(); }

int32_t Throw(const AlambicRecipeCall*, ArrowSchema*, ArrowArray*, char*, size_t) {
  throw std::runtime_error("plugin bug: unexpected value");
}

int32_t Hang(const AlambicRecipeCall*, ArrowSchema*, ArrowArray*, char*, size_t) {
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}

std::vector<std::vector<char>*> leaked;  // keeps the allocations reachable

int32_t Leak(const AlambicRecipeCall*, ArrowSchema*, ArrowArray*, char*, size_t) {
  for (;;) leaked.push_back(new std::vector<char>(size_t{64} << 20, 'x'));
}

const AlambicParam kScaleParams[] = {
    {"factor", ALAMBIC_PARAM_NUMBER, 1, nullptr, "multiplier"},
    {"column", ALAMBIC_PARAM_STRING, 0, "\"x\"", "column to scale"},
};
const char* const kIn[] = {"rows"};
const char* const kOut[] = {"result"};
const AlambicKind kKinds[] = {
    {"tk_scale", "scales a column", kScaleParams, 2, kIn, 1, kOut, 1, Scale},
    {"tk_print", "prints, then scales", kScaleParams, 2, kIn, 1, kOut, 1, Print},
    {"tk_fail", "reports an error", nullptr, 0, kIn, 1, kOut, 1, FailClean},
    {"tk_segv", "segfaults", nullptr, 0, kIn, 1, kOut, 1, Segv},
    {"tk_abort", "aborts", nullptr, 0, kIn, 1, kOut, 1, Abort},
    {"tk_throw", "throws", nullptr, 0, kIn, 1, kOut, 1, Throw},
    {"tk_hang", "never returns", nullptr, 0, kIn, 1, kOut, 1, Hang},
    {"tk_leak", "allocates without end", nullptr, 0, kIn, 1, kOut, 1, Leak},
};
const AlambicPlugin kPlugin = {ALAMBIC_PLUGIN_HEADER, "testkit", TESTKIT_VERSION, kKinds,
                               sizeof kKinds / sizeof kKinds[0]};

}  // namespace

extern "C" ALAMBIC_PLUGIN_EXPORT const AlambicPlugin* alambic_plugin_entry(void) {
  return &kPlugin;
}
