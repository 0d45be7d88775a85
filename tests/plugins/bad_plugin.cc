// Plugins the loader must refuse, one per BAD_* definition.
#include "alambic_plugin.h"

namespace {

int32_t Run(const AlambicRecipeCall*, ArrowSchema*, ArrowArray*, char*, size_t) { return 1; }

const char* const kIn[] = {"rows"};
const char* const kOut[] = {"result"};
#if defined(BAD_CLASH)
const char* const kName = "sql";  // a built-in kind
#else
const char* const kName = "bad_kind";
#endif
const AlambicKind kKinds[] = {{kName, "", nullptr, 0, kIn, 1, kOut, 1, Run}};

#if defined(BAD_VERSION)
const AlambicPlugin kPlugin = {ALAMBIC_PLUGIN_ABI_VERSION + 1,
                               sizeof(AlambicPlugin),
                               sizeof(AlambicKind),
                               sizeof(AlambicParam),
                               "bad",
                               "1",
                               kKinds,
                               1};
#elif defined(BAD_SIZE)
const AlambicPlugin kPlugin = {ALAMBIC_PLUGIN_ABI_VERSION,
                               sizeof(AlambicPlugin) + 8,
                               sizeof(AlambicKind),
                               sizeof(AlambicParam),
                               "bad",
                               "1",
                               kKinds,
                               1};
#else
const AlambicPlugin kPlugin = {ALAMBIC_PLUGIN_HEADER, "bad", "1", kKinds, 1};
#endif

}  // namespace

#if defined(BAD_NO_ENTRY)
extern "C" ALAMBIC_PLUGIN_EXPORT const AlambicPlugin* not_the_entry_point(void) { return &kPlugin; }
#else
extern "C" ALAMBIC_PLUGIN_EXPORT const AlambicPlugin* alambic_plugin_entry(void) {
  return &kPlugin;
}
#endif
