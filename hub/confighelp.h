/* confighelp.h: the reference of csphub.yaml, printed by
 * `csphubd --help-config` and made into csphub.yaml(5) by help2man at build
 * time, so the manual page and the program never drift apart. */
#ifndef CSPH_CONFIGHELP_H
#define CSPH_CONFIGHELP_H

#include <stdio.h>

void hub_config_help(FILE *f);

#endif
