// Resource limits for recipes that run foreign code (Lua scripts, C++ plugins).
// Defaults come from alambic.yaml (`lua:` and `plugins:` sections); a recipe may
// lower or raise them through its params. Zero means "no limit" for each field.
#pragma once

#include <cstdint>

namespace alambic {

struct ResourceLimits {
  int64_t memory_mb = 0;     // memory the foreign code may allocate
  int64_t instructions = 0;  // Lua VM instructions (Lua only)
  double timeout_s = 0;      // wall-clock seconds (besides the recipe's own timeout)
  bool operator==(const ResourceLimits&) const = default;
};

// Built-in defaults: alambic.yaml overrides them per workspace.
inline constexpr ResourceLimits kDefaultLuaLimits{256, 10'000'000'000, 600};
inline constexpr ResourceLimits kDefaultPluginLimits{2048, 0, 3600};

}  // namespace alambic
