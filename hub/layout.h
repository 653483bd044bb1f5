/* layout.h: where an installed hub finds its files.
 *
 * Two daemons are built from the same sources: build/csphubd, which the
 * tests and developers run, takes its defaults from the source tree
 * (config.c); build/installed/csphubd, the one `cmake --install` and the
 * Debian package put in place, takes them from here, compiled in from
 * CMake's GNUInstallDirs: prefix /usr gives /etc/csphub,
 * /usr/share/csphub/schemas and /var/lib/csphub; prefix /usr/local gives
 * /usr/local/etc/csphub and so on. (CMake itself relinks what it installs
 * for the same reason: a build tree and an installed tree differ.)
 *
 * DESTDIR only stages: a staged hub runs with --config pointing into the
 * staged tree. layout.c is compiled into each daemon with its own
 * definitions, never into the hub library. */
#ifndef CSPH_LAYOUT_H
#define CSPH_LAYOUT_H

#include "config.h"

#ifdef CSPH_LAYOUT_INSTALLED
#if !defined(CSPH_SYSCONF_DIR) || !defined(CSPH_SHARE_DIR) || !defined(CSPH_STATE_DIR)
#error "CMakeLists.txt defines CSPH_SYSCONF_DIR, CSPH_SHARE_DIR and CSPH_STATE_DIR"
#endif
#define CSPH_LAYOUT_CONFIG_FILE CSPH_SYSCONF_DIR "/csphub.yaml"
#define CSPH_LAYOUT_SCHEMAS_DIR CSPH_SHARE_DIR "/schemas"
#define CSPH_LAYOUT_DATA_DIR CSPH_STATE_DIR
#endif

/* Over config.c's defaults: the installed paths (data, schemas, panels,
 * rules) in an installed daemon; nothing in the build tree's. */
void hub_layout_defaults(struct hub_config *c);
/* The config file read when no --config is given: the installed
 * csphub.yaml when it exists (an unreadable one is returned, so the start
 * says why), else NULL (built-in defaults). Always NULL in the build
 * tree's daemon. Static storage. */
const char *hub_layout_config_file(void);
/* A line for --help saying where the defaults come from. Static storage. */
const char *hub_layout_help(void);

#endif
