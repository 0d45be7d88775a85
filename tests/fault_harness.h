// The permis workspace that the fault and crash loops (tests/fault_loop_test.cc,
// tests/crash_loop_test.cc) disturb, and the checks made after each
// disturbance. Header-only: each test file is its own translation unit.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "catalog/catalog.h"
#include "core/base/fs.h"
#include "core/base/hash.h"
#include "core/exec/run.h"
#include "core/exec/session.h"
#include "core/exec/store_open.h"
#include "tests/test_util.h"

namespace alambic::testing {

namespace fault_harness {
namespace fs = std::filesystem;
inline bool LongLoop() {
  const char* v = std::getenv("ALAMBIC_FAULTS_LONG");
  return v && *v && std::string(v) != "0";
}

// dataset -> SHA-256 of its current version's file.
using Outputs = std::map<std::string, std::string>;

// The permis example in `dir`, with a fixed pseudonymisation key (so that two
// workspaces give the same bytes) and no retry delay (a retry waits 2 s).
inline void MakePermis(const fs::path& dir) {
  const fs::path src = fs::path(ALAMBIC_SOURCE_DIR) / "examples/permis";
  fs::create_directories(dir);
  for (const char* part : {"alambic.yaml", "flows", "data", "usecases"})
    fs::copy(src / part, dir / part, fs::copy_options::recursive);
  std::string flow = ReadFile(dir / "flows/permis.yaml");
  const std::string backoff = "retry_backoff: 2";
  flow.replace(flow.find(backoff), backoff.size(), "retry_backoff: 0");
  WriteFile(dir / "flows/permis.yaml", flow);
  fs::create_directories(dir / ".alambic");
  WriteFile(dir / ".alambic/pseudo_key", std::string(64, 'a'));
  fs::permissions(dir / ".alambic/pseudo_key", fs::perms::owner_read | fs::perms::owner_write);
}

// Changes the exams extract: every output of the exams changes.
inline void ChangeExams(const fs::path& dir) {
  std::string csv = ReadFile(dir / "data/exams.csv");
  size_t cut = csv.size();
  for (int i = 0; i < 2000; ++i) cut = csv.rfind('\n', cut - 1);
  WriteFile(dir / "data/exams.csv", csv.substr(0, cut + 1));
}

// Runs the flows of `dir`; `fsys` under the store when not null. The run's
// status ("succeeded", "failed") or the error that stopped it.
inline std::string RunPermis(const fs::path& dir, FileSystem* fsys = nullptr) {
  SetStoreFileSystemForTesting(fsys);
  auto s = Session::Open(dir, "", BuiltinKinds());
  SetStoreFileSystemForTesting(nullptr);
  if (!s.ok()) return "open: " + s.status().message();
  RunOptions opt;
  opt.exec.jobs = 2;
  auto r = RunFlows(**s, opt);
  if (!r.ok()) return "run: " + r.status().message();
  return r->run.status == "succeeded" ? "succeeded" : "failed: " + r->run.error;
}

// Every file under `dir` whose name says it is temporary.
inline std::vector<std::string> Temporaries(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_regular_file() &&
        (name.ends_with(".tmp") || it->path().parent_path().filename() == ".tmp"))
      out.push_back(it->path().string());
  }
  return out;
}

// The workspace's current outputs, after checking the catalog and the store:
// integrity_check, each current version recorded, its file readable with the
// recorded rows and bytes, each recipe's recorded outputs current, and (with
// `settled`) no temporary file and no run left `running`. Right after a kill
// or a failed catalog write neither holds yet: the killed process leaves its
// staged files and its run to the next run, which removes the files and closes
// the run as abandoned. `where` names the case in failures.
inline Outputs CheckWorkspace(const fs::path& dir, const std::string& where, bool settled = true) {
  Outputs out;
  auto cat = Catalog::Open(dir / ".alambic/catalog.db");
  EXPECT_TRUE(cat.ok()) << where << ": " << cat.status().message();
  if (!cat.ok()) return out;
  auto ic = (*cat)->IntegrityCheck();
  EXPECT_TRUE(ic.ok() && *ic == "ok")
      << where << ": integrity_check: " << (ic.ok() ? *ic : ic.status().message());
  const fs::path store = dir / ".alambic/store/datalab";
  auto current = (*cat)->CurrentVersions("datalab");
  EXPECT_TRUE(current.ok()) << where;
  std::map<std::string, std::string> ids;
  for (const auto& c : current.ok() ? *current : std::vector<CurrentVersion>{}) {
    ids[c.dataset] = c.version_id;
    auto v = (*cat)->FindVersion("datalab", c.dataset, c.version_id);
    EXPECT_TRUE(v.ok() && v->has_value()) << where << ": " << c.dataset << " not recorded";
    if (!v.ok() || !v->has_value()) continue;
    const fs::path file = store / (*v)->file;
    std::error_code ec;
    EXPECT_EQ(static_cast<int64_t>(fs::file_size(file, ec)), (*v)->bytes) << where << ": " << file;
    auto t = DatasetStore(store).Read(c.dataset, c.version_id);
    EXPECT_TRUE(t.ok()) << where << ": " << (t.ok() ? "" : t.status().message());
    if (t.ok()) {
      EXPECT_EQ(t->num_rows(), (*v)->rows) << where << ": " << c.dataset;
    }
    out[c.dataset] = Sha256Hex(ReadFile(file));
  }
  auto states = (*cat)->RecipeStates("datalab");
  EXPECT_TRUE(states.ok()) << where;
  for (const auto& [recipe, st] : states.ok() ? *states : std::map<std::string, RecipeState>{})
    for (const auto& [ds, id] : st.outputs)
      EXPECT_EQ(ids[ds], id) << where << ": recipe " << recipe << " recorded " << ds << " " << id
                             << " but the current version is another";
  if (settled) {
    auto runs = (*cat)->ListRuns(1000);
    EXPECT_TRUE(runs.ok()) << where;
    for (const auto& r : runs.ok() ? *runs : std::vector<RunRecord>{})
      EXPECT_NE(r.status, "running") << where << ": run " << r.id;
  }
  cat->reset();
  if (settled) {
    EXPECT_EQ(Temporaries(dir / ".alambic"), std::vector<std::string>{}) << where;
  }
  return out;
}

// The workspace every faulted run starts from: permis run once, then its exams
// changed; with the outputs before (old) and after (new) an undisturbed run.
struct Baseline {
  TempDir dir;
  Outputs old_outputs, new_outputs;
  Baseline() {
    MakePermis(dir.path() / "ws");
    EXPECT_EQ(RunPermis(dir.path() / "ws"), "succeeded");
    old_outputs = CheckWorkspace(dir.path() / "ws", "old run");
    ChangeExams(dir.path() / "ws");
    fs::copy(dir.path() / "ws", dir.path() / "undisturbed", fs::copy_options::recursive);
    EXPECT_EQ(RunPermis(dir.path() / "undisturbed"), "succeeded");
    new_outputs = CheckWorkspace(dir.path() / "undisturbed", "undisturbed run");
  }
  const fs::path start() const { return dir.path() / "ws"; }
};

inline const Baseline& GetBaseline() {
  static Baseline* b = new Baseline();
  return *b;
}

struct LoopFigures {
  int cases = 0, injected = 0, failed_runs = 0;
};

// One case: a copy of the baseline's start, `faulted` run on it (the run with
// its fault armed), the checks (CheckWorkspace with `settled`), then an
// undisturbed run, the checks again and its outputs. Returns whether a fault
// was injected.
inline bool FaultCase(const std::string& where,
                      const std::function<std::string(const fs::path&)>& faulted,
                      const std::function<int()>& failures, LoopFigures* figures,
                      bool settled = true) {
  const Baseline& b = GetBaseline();
  TempDir tmp;
  const fs::path ws = tmp.path() / "ws";
  fs::copy(b.start(), ws, fs::copy_options::recursive);
  // An exception must not cross a run: one that escapes is a failure of the case.
  std::string outcome;
  try {
    outcome = faulted(ws);
  } catch (const std::exception& e) {
    ADD_FAILURE() << where << ": an exception escaped from the run: " << e.what();
    outcome = std::string("exception: ") + e.what();
  }
  const int injected = failures();
  ++figures->cases;
  figures->injected += injected;
  if (outcome != "succeeded") ++figures->failed_runs;
  if (LongLoop()) std::cout << where << ": " << outcome.substr(0, 160) << std::endl;
  Outputs after = CheckWorkspace(ws, where + " (" + outcome + ")", settled);
  for (const auto& [ds, hash] : after) {
    const bool old_one = b.old_outputs.count(ds) && b.old_outputs.at(ds) == hash;
    const bool new_one = b.new_outputs.count(ds) && b.new_outputs.at(ds) == hash;
    EXPECT_TRUE(old_one || new_one) << where << ": " << ds << " is neither the old nor the new";
  }
  if (outcome == "succeeded") {
    EXPECT_EQ(after, b.new_outputs) << where;
  }
  const std::string next = RunPermis(ws);
  EXPECT_EQ(next, "succeeded") << where << ": the next run";
  EXPECT_EQ(CheckWorkspace(ws, where + ", next run"), b.new_outputs) << where << ": the next run";
  return injected > 0;
}

// With ALAMBIC_FAULTS_OP set (e.g. "xRead", "rename"), the long loop runs only
// that operation's cases; ALAMBIC_FAULTS_FROM=N starts them at N and
// ALAMBIC_FAULTS_TO=N ends them at N. So that one case of a long loop can be
// run again without the cases before it.
inline bool OpSelected(const std::string& op) {
  const char* v = std::getenv("ALAMBIC_FAULTS_OP");
  return !v || !*v || op == v;
}
inline int EnvN(const char* name, int otherwise) {
  const char* v = std::getenv(name);
  return v && *v ? std::max(1, std::atoi(v)) : otherwise;
}

// The Ns of a loop over [1, total]: every one with ALAMBIC_FAULTS_LONG (within
// ALAMBIC_FAULTS_FROM and _TO), else one, spread by `which` (0, 1, ...) so that each
// variant of a case (each error) hits another part of the run.
inline std::vector<int> Ns(int total, int which) {
  std::vector<int> ns;
  if (LongLoop()) {
    const int last = std::min(total, EnvN("ALAMBIC_FAULTS_TO", total));
    for (int n = EnvN("ALAMBIC_FAULTS_FROM", 1); n <= last; ++n) ns.push_back(n);
  } else if (total > 0) {
    ns.push_back(1 + ((which + 1) * total / 3) % total);
  }
  return ns;
}

}  // namespace fault_harness

}  // namespace alambic::testing
