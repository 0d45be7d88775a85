/* Alambic plugin ABI: how a shared library adds recipe kinds to Alambic.
 *
 * A plugin is a shared library (.so) exporting one C function,
 *
 *   const AlambicPlugin* alambic_plugin_entry(void);
 *
 * that returns a description of the plugin: ABI version and struct sizes (so
 * Alambic can refuse a plugin built against another version of this header),
 * the plugin's name and version, and the recipe kinds it registers, each with
 * its parameter schema, its input and output roles and its run function.
 *
 * Tables cross the boundary through the Apache Arrow C data interface
 * (https://arrow.apache.org/docs/format/CDataInterface.html): each table is a
 * struct array ("+s") whose children are the columns. Column types: int64
 * ("l"), float64 ("g"), bool ("b"), utf8 ("u"; or a dictionary: index "i"
 * with a "u" dictionary), date32 ("tdD"), timestamp in microseconds
 * ("tsu:UTC" or "tsu:"). Inputs are borrowed: valid during the call, released
 * by Alambic. Outputs are produced by the plugin: Alambic takes them over and
 * calls their release callbacks.
 *
 * Runs happen in a child process with resource limits: a plugin that crashes,
 * hangs or leaks fails its recipe run and nothing else. A run function may be
 * called from any thread; it must not keep state between calls.
 *
 * The plugin's version is part of every output version it builds: bump it
 * when the results change. Reference and a step-by-step guide: docs/plugins.md.
 */
#ifndef ALAMBIC_PLUGIN_H_
#define ALAMBIC_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The Arrow C data interface (verbatim from the Arrow specification) ---- */
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  /* Array type description */
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema** children;
  struct ArrowSchema* dictionary;

  /* Release callback */
  void (*release)(struct ArrowSchema*);
  /* Opaque producer-specific data */
  void* private_data;
};

struct ArrowArray {
  /* Array data description */
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  struct ArrowArray** children;
  struct ArrowArray* dictionary;

  /* Release callback */
  void (*release)(struct ArrowArray*);
  /* Opaque producer-specific data */
  void* private_data;
};

#endif /* ARROW_C_DATA_INTERFACE */

/* ---- Plugin description ---- */

/* Bumped whenever a struct below changes incompatibly. */
#define ALAMBIC_PLUGIN_ABI_VERSION 1
#define ALAMBIC_PLUGIN_ENTRY_NAME "alambic_plugin_entry"

/* Parameter types, as `alambic validate` checks them. */
typedef enum AlambicParamType {
  ALAMBIC_PARAM_STRING = 0,
  ALAMBIC_PARAM_INT = 1,
  ALAMBIC_PARAM_NUMBER = 2,
  ALAMBIC_PARAM_BOOL = 3,
  ALAMBIC_PARAM_STRING_LIST = 4,
  ALAMBIC_PARAM_MAP = 5,
  ALAMBIC_PARAM_LIST = 6,
  ALAMBIC_PARAM_ANY = 7
} AlambicParamType;

typedef struct AlambicParam {
  const char* name;
  int32_t type;             /* an AlambicParamType */
  int32_t required;         /* non-zero: the recipe must set it */
  const char* default_json; /* JSON text of the default, or NULL */
  const char* doc;          /* one line, shown by `alambic plugin list` */
} AlambicParam;

enum AlambicLogLevel {
  ALAMBIC_LOG_DEBUG = 0,
  ALAMBIC_LOG_INFO,
  ALAMBIC_LOG_WARN,
  ALAMBIC_LOG_ERROR
};

/* Services Alambic offers a running recipe. */
typedef struct AlambicHost {
  void* host_data;
  void (*log)(void* host_data, int32_t level, const char* message);
  void (*progress)(void* host_data, int64_t rows);
} AlambicHost;

/* One recipe run. Inputs are in the order of the kind's input roles. */
typedef struct AlambicRecipeCall {
  const char* recipe;      /* the recipe's name, for messages */
  const char* params_json; /* the recipe's params (defaults filled in), a JSON object */
  int64_t n_inputs;
  const char* const* input_names; /* dataset names */
  struct ArrowSchema* const* input_schemas;
  struct ArrowArray* const* input_arrays;
  int64_t n_outputs;
  const char* const* output_names;
  const AlambicHost* host;
} AlambicRecipeCall;

/* Runs one recipe. On success returns 0 and fills out_schemas[i] and
 * out_arrays[i] (i < call->n_outputs) with one struct array per output. On
 * failure returns non-zero and writes a message (NUL-terminated, at most
 * error_size bytes) into `error`; outputs are then ignored. */
typedef int32_t (*AlambicRunFn)(const AlambicRecipeCall* call, struct ArrowSchema* out_schemas,
                                struct ArrowArray* out_arrays, char* error, size_t error_size);

typedef struct AlambicKind {
  const char* name; /* the recipe kind, [a-z][a-z0-9_]* ; must not clash with another */
  const char* doc;
  const AlambicParam* params;
  int64_t n_params;
  const char* const* input_roles; /* e.g. {"rows"}: the recipe takes exactly these inputs */
  int64_t n_input_roles;
  const char* const* output_roles; /* e.g. {"flagged"} */
  int64_t n_output_roles;
  AlambicRunFn run;
} AlambicKind;

typedef struct AlambicPlugin {
  uint32_t abi_version;       /* ALAMBIC_PLUGIN_ABI_VERSION */
  uint32_t struct_size;       /* sizeof(AlambicPlugin) */
  uint32_t kind_struct_size;  /* sizeof(AlambicKind) */
  uint32_t param_struct_size; /* sizeof(AlambicParam) */
  const char* name;
  const char* version; /* part of the version of every dataset the plugin builds */
  const AlambicKind* kinds;
  int64_t n_kinds;
} AlambicPlugin;

/* Fills the size fields; use as `AlambicPlugin p = {ALAMBIC_PLUGIN_HEADER, ...}`. */
#define ALAMBIC_PLUGIN_HEADER                                                                 \
  ALAMBIC_PLUGIN_ABI_VERSION, (uint32_t)sizeof(AlambicPlugin), (uint32_t)sizeof(AlambicKind), \
      (uint32_t)sizeof(AlambicParam)

/* The one symbol a plugin exports. */
typedef const AlambicPlugin* (*AlambicPluginEntryFn)(void);

#if defined(__GNUC__)
#define ALAMBIC_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define ALAMBIC_PLUGIN_EXPORT
#endif

#ifdef __cplusplus
}
#endif

#endif /* ALAMBIC_PLUGIN_H_ */
