#include "recipes/builtin_kinds.h"

namespace alambic {

Status RegisterBuiltinKinds(RecipeRegistry& r) {
  ALAMBIC_RETURN_IF_ERROR(RegisterCollectKind(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterSqlKind(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterSyncKind(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterStackKind(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterCleanKind(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterExportKind(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterFormulaKind(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterFilterKind(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterCheckKind(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterGroupKind(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterJoinKind(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterSortKinds(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterWindowKind(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterSplitKind(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterFuzzyJoinKind(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterLuaKind(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterTrainKind(r));
  ALAMBIC_RETURN_IF_ERROR(RegisterScoreKinds(r));
  r.SetPushdown(MakePostgresPushdown());
  return Status::Ok();
}

}  // namespace alambic
