// Who does something: the user and host recorded with releases, activations
// and audit entries.
#pragma once

#include <string>

namespace alambic {

struct Actor {
  std::string user, host;
  // The current process's user ($USER, else the password database's name for
  // the real uid, else "uid N") and host (gethostname; "" when it fails).
  // Reentrant.
  static Actor Current();
};

}  // namespace alambic
