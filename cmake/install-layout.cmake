# What `cmake --install` puts in place besides the programs: the schemas,
# the configuration (with the installed paths written in), the systemd unit
# and the man pages. Absolute destinations (the FULL_ variables) so that
# prefix /usr installs into /etc and /var, as GNUInstallDirs means; DESTDIR
# is prepended to them all.

install(DIRECTORY ${CMAKE_SOURCE_DIR}/schemas/ DESTINATION ${CSPH_SHARE_DIR}/schemas
  FILES_MATCHING PATTERN "*.yaml")

# The installed csphub.yaml is the source tree's with the two paths that
# point into the tree (../data, ../schemas) replaced, and the metrics
# listener on (in the tree it is off: tests run many hubs side by side).
file(READ ${CMAKE_SOURCE_DIR}/config/csphub.yaml csph_conf)
foreach(pair "data_dir: ../data|data_dir: ${CSPH_STATE_DIR}"
             "schemas_dir: ../schemas|schemas_dir: ${CSPH_SHARE_DIR}/schemas"
             "# erasure_register: /var/lib/csphub-dpo/erasure-register.jsonl|erasure_register: ${CSPH_STATE_DIR}-dpo/erasure-register.jsonl"
             "metrics:\n  listen: off|metrics:\n  listen: 127.0.0.1:9465")
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
  ${CMAKE_SOURCE_DIR}/config/indicators.yaml ${CMAKE_SOURCE_DIR}/config/areas.yaml
  ${CMAKE_SOURCE_DIR}/config/retention.yaml
  DESTINATION ${CSPH_SYSCONF_DIR})

# The systemd unit, with the installed paths. Debian's own directory for
# units (/lib/systemd/system on Debian 12) from systemd's pkg-config file;
# prefix/lib/systemd/system without it.
pkg_get_variable(CSPH_SYSTEMD_UNITDIR systemd systemdsystemunitdir)
if(NOT CSPH_SYSTEMD_UNITDIR OR NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(CSPH_SYSTEMD_UNITDIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
set(CSPH_SBINDIR ${CMAKE_INSTALL_FULL_SBINDIR})
configure_file(${CMAKE_SOURCE_DIR}/systemd/csphubd.service.in
  ${CMAKE_BINARY_DIR}/installed/csphubd.service @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/installed/csphubd.service DESTINATION ${CSPH_SYSTEMD_UNITDIR})

# Man pages from each program's --help (help2man), so the two never drift:
# csphubd(8), csphub(1), the adapters (1), and csphub.yaml(5) from
# `csphubd --help-config`.
find_program(HELP2MAN help2man)
if(NOT HELP2MAN)
  message(FATAL_ERROR "help2man is needed for the man pages: run scripts/install-deps.sh")
endif()
set(CSPH_MAN_DIR ${CMAKE_BINARY_DIR}/man)
set(csph_man_pages)
# help2man names a page after the program it runs: csphub.yaml(5) runs the
# daemon through a link of that name.
function(csph_man target section name extra page)
  set(out ${CSPH_MAN_DIR}/${page}.${section})
  set(prog ${CSPH_MAN_DIR}/bin/${page})
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CSPH_MAN_DIR}/bin
    COMMAND ${CMAKE_COMMAND} -E create_symlink $<TARGET_FILE:${target}> ${prog}
    COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section=${section}
            --version-string=${PROJECT_VERSION} --name=${name} ${extra}
            --output=${out} ${prog}
    DEPENDS ${target} VERBATIM)
  set(csph_man_pages ${csph_man_pages} ${out} PARENT_SCOPE)
  install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endfunction()
csph_man(csphubd_installed 8 "the csphub hub: a durable log and panel queues for Community Safety Partnerships" "" csphubd)
csph_man(csphubd_installed 5 "csphub hub configuration file" "--help-option=--help-config;--manual=File Formats" csphub.yaml)
if(TARGET csphub)
  csph_man(csphub 1 "publish events, work a panel's queue and read a csphub hub's log" "" csphub)
endif()
if(TARGET csphub-csv)
  csph_man(csphub-csv 1 "import a CSV or TSV file into a csphub hub" "" csphub-csv)
  csph_man(csphub-jsonl 1 "publish JSON-lines events to a csphub hub" "" csphub-jsonl)
endif()
add_custom_target(manpages ALL DEPENDS ${csph_man_pages})
