// A flow through its git history: the files that make its code, the flow as
// it was at a commit, the commits that changed it, and what changed between
// two revisions, in terms a reviewer reads (recipes, params, scripts, column
// tags) rather than as a text diff of YAML.
//
// Paths are relative to the workspace root `dir` (see git.h for revisions and
// the workspace-in-a-subdirectory case). A flow is found by its `flow:` name
// among flows/*.yaml and flows/*.yml (first file in name order), so a flow
// whose file was renamed is still the same flow.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/flow/flow.h"
#include "core/vcs/git.h"

namespace alambic {

// The files that make a flow's code: "alambic.yaml", the flow's YAML file,
// every recipe's `script`, and any param value (at any depth) that names a
// file under recipes/ (the sql kind's `file`, formula's `functions`, ...).
// Workspace-relative and normalised ("./recipes/a.sql" -> "recipes/a.sql"),
// sorted, unique; paths outside the workspace are left out.
std::vector<std::string> FlowFiles(const Flow& flow);

// The flow named `flow` as it was at `commit` (any revision). NotFound "flow
// X does not exist in commit ABC1234"; Invalid "flow X in commit ABC1234 has
// problems:" followed by one diagnostic a line when its file does not parse
// (or a file flows/X.yaml that does not parse names no flow).
Result<Flow> LoadFlowAt(const std::filesystem::path& dir, const std::string& commit,
                        const std::string& flow);

// Commits (first-parent history from HEAD, newest first, at most `limit`;
// limit <= 0: all) that changed the flow's files, the files taken at each
// commit and at its parent (a script the flow used then counts, one it no
// longer uses does not). A commit that creates, renames or deletes the flow
// counts. Each commit's `paths` are the flow files it changed. NotFound "flow
// X does not exist in the history of HEAD" when no commit has it.
Result<std::vector<GitCommitInfo>> FlowHistory(const std::filesystem::path& dir,
                                               const std::string& flow, int limit);

struct FlowChange {
  std::string subject;  // "recipe clean_exams", "dataset exams_raw", "flow", "code
                        // recipes/flag.sql", "config alambic.yaml"
  std::string text;     // one line a reviewer reads, e.g. "recipe flag_centres added (kind sql,
                        // inputs centre_gaps, outputs flagged)"
  std::vector<std::string>
      detail;  // e.g. a unified diff of a script, or "params.threshold: 0.1 → 0.2"
  bool operator==(const FlowChange&) const = default;
};

// What changed in flow `flow` from rev1 to rev2 (rev2 "": the working tree),
// in this order:
//   - "flow": file renamed, usecase, description, schedule, partitioning, policy;
//   - "recipe R": removed (old order), then added or changed (new order); a
//     changed recipe lists kind, inputs, outputs, description, script, policy
//     and params per JSON path ("params.threshold: 0.1 → 0.2", values as
//     compact JSON, "(none)" for absent);
//   - "dataset D": added, removed, description, columns added/removed, column
//     tags and descriptions ("dataset exams_raw: column candidate_id tags
//     [personal] → []");
//   - "code PATH": a script (or a recipes/ file a param names) whose content
//     changed under the same name, or a recipe's script / code param pointing
//     to another file: "+a −b lines" and a unified diff with 3 lines of context
//     (counts only when too large to align, see line_diff.h);
//   - "config alambic.yaml": the workspace file changed, with its diff.
// Reformatting or comments in the flow file change nothing. Empty when nothing
// changed. Errors: unknown revision (Invalid), the flow absent from either side
// (NotFound "flow X does not exist in commit ABC1234" / "... in the working
// tree"), a flow that does not parse (Invalid, as LoadFlowAt).
Result<std::vector<FlowChange>> DiffFlow(const std::filesystem::path& dir, const std::string& flow,
                                         const std::string& rev1, const std::string& rev2);

}  // namespace alambic
