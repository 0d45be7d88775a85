// The plugin host: the process a plugin kind runs in.
//
// The runner starts its own executable again (/proc/self/exe) as
//   BINARY --alambic-plugin-host DIR PARENT_PID
// with stdin from /dev/null and stdout and stderr into DIR/console. DIR, a
// private temporary directory, holds call.json (library path and SHA-256, kind,
// recipe, params, input and output names, limits) and the inputs as Arrow IPC
// files in0.arrow, in1.arrow, …; the host writes out0.arrow, … and, when it
// fails, DIR/error; the plugin's log lines go to DIR/log. The exit code says
// how it ended (kExit* below).
//
// A new process image rather than a bare fork(): the runner has other threads
// (the publisher, the executor's pool) that may hold locks — the allocator's,
// a sanitizer's, a library's — at the moment of a fork, and a forked child
// that then needs one of them waits forever. After exec nothing is inherited
// but the file descriptors the runner chose.
#pragma once

#include <filesystem>
#include <string>

#include "core/base/status.h"
#include "plugins/alambic_plugin.h"

namespace alambic::plugin_host {

inline constexpr char kHostArg[] = "--alambic-plugin-host";

// Host exit codes besides 0 (success); away from 1, which sanitizers use.
inline constexpr int kExitPluginError = 10;  // the plugin returned an error
inline constexpr int kExitOutOfMemory = 11;
inline constexpr int kExitException = 12;  // the plugin threw
inline constexpr int kExitHostError = 13;  // the host could not do its part

// dlopen()s the library and checks its entry point, ABI version, struct sizes,
// name and version. On success *handle is the open library (the caller closes
// it, or keeps it open while the plugin's kinds are in use).
Result<const AlambicPlugin*> OpenPluginLibrary(const std::filesystem::path& path, void** handle);

// True when argv asks for the plugin host (argv[1] is kHostArg). Every binary
// that runs plugin kinds (alambic, its test binary) calls HostMain first thing.
bool IsHostInvocation(int argc, char** argv);

// The host's main: runs the call in argv[2] and exits with its code; never
// returns.
[[noreturn]] void HostMain(int argc, char** argv);

}  // namespace alambic::plugin_host
