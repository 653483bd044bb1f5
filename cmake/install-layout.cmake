# What `cmake --install` puts in place besides the programs: the schemas,
# the configuration (with the installed paths written in), the systemd unit
# and the man pages. Absolute destinations (the FULL_ variables) so that
# prefix /usr installs into /etc and /var, as GNUInstallDirs means; DESTDIR
# is prepended to them all.

install(DIRECTORY ${CMAKE_SOURCE_DIR}/schemas/ DESTINATION ${CSPH_SHARE_DIR}/schemas
  FILES_MATCHING PATTERN "*.yaml")

# The installed csphub.yaml is the source tree's with the two paths that
# point into the tree (../data, ../schemas) replaced: one file to keep.
file(READ ${CMAKE_SOURCE_DIR}/config/csphub.yaml csph_conf)
foreach(pair "data_dir: ../data|data_dir: ${CSPH_STATE_DIR}"
             "schemas_dir: ../schemas|schemas_dir: ${CSPH_SHARE_DIR}/schemas")
  string(REPLACE "|" ";" pair "${pair}")
  list(GET pair 0 from)
  list(GET pair 1 to)
  string(FIND "${csph_conf}" "${from}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "config/csphub.yaml no longer says '${from}': update cmake/install-layout.cmake")
  endif()
  string(REPLACE "${from}" "${to}" csph_conf "${csph_conf}")
endforeach()
string(REPLACE "Paths are relative to this file." "Installed by csphub ${PROJECT_VERSION}; paths are relative to this file." csph_conf "${csph_conf}")
file(WRITE ${CMAKE_BINARY_DIR}/installed/csphub.yaml "${csph_conf}")

install(FILES ${CMAKE_BINARY_DIR}/installed/csphub.yaml ${CMAKE_SOURCE_DIR}/config/panels.yaml
  ${CMAKE_SOURCE_DIR}/config/rules.yaml ${CMAKE_SOURCE_DIR}/config/calendar.yaml
  ${CMAKE_SOURCE_DIR}/config/identities.example.yaml
  DESTINATION ${CSPH_SYSCONF_DIR})
