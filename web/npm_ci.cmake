# cmake -DNPM=... -DSOURCE_DIR=web -DNPM_DIR=build/web/npm -P npm_ci.cmake
# `npm ci` into NPM_DIR from SOURCE_DIR's package.json and package-lock.json, only when
# node_modules is missing or was installed from another lock file.
file(MAKE_DIRECTORY ${NPM_DIR})
set(stamp ${NPM_DIR}/node_modules/.alambic-lock-stamp)
if(EXISTS ${stamp})
  file(SHA256 ${stamp} installed)
  file(SHA256 ${SOURCE_DIR}/package-lock.json wanted)
  if(installed STREQUAL wanted)
    return()
  endif()
endif()
configure_file(${SOURCE_DIR}/package.json ${NPM_DIR}/package.json COPYONLY)
configure_file(${SOURCE_DIR}/package-lock.json ${NPM_DIR}/package-lock.json COPYONLY)
execute_process(
  COMMAND ${NPM} ci --no-audit --no-fund --ignore-scripts --prefer-offline --loglevel=error
  WORKING_DIRECTORY ${NPM_DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "npm ci failed in ${NPM_DIR} (exit ${rc}); the web UI needs the npm registry "
                      "or a filled npm cache, or configure with -DALAMBIC_WEB_UI=OFF")
endif()
configure_file(${SOURCE_DIR}/package-lock.json ${stamp} COPYONLY)
