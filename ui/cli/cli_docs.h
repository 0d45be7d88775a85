// The bash completion script and the man page of `alambic`, generated from the
// command definitions (the CLI11 App tree), so they never drift from the
// commands. `alambic completion bash` and `alambic man` print them; the build
// writes them and `cmake --install` installs them.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace alambic {

// A bash script defining the completion function of `alambic`: subcommands at
// every level, the options of the command being typed, file names after an
// option that takes a value.
std::string BashCompletion(const CLI::App& app);

// alambic(1) in roff (man -l): every command with its arguments and options.
std::string ManPage(const CLI::App& app, const std::string& version);

}  // namespace alambic
