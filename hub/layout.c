/* layout.c: the installed hub's files (layout.h). */
#include "layout.h"

#include <stdio.h>
#include <unistd.h>

#ifdef CSPH_LAYOUT_INSTALLED
void hub_layout_defaults(struct hub_config *c)
{
    snprintf(c->data_dir, sizeof c->data_dir, "%s", CSPH_LAYOUT_DATA_DIR);
    snprintf(c->schemas_dir, sizeof c->schemas_dir, "%s", CSPH_LAYOUT_SCHEMAS_DIR);
    snprintf(c->panels_file, sizeof c->panels_file, "%s", CSPH_SYSCONF_DIR "/panels.yaml");
    snprintf(c->rules_file, sizeof c->rules_file, "%s", CSPH_SYSCONF_DIR "/rules.yaml");
    snprintf(c->indicators_file, sizeof c->indicators_file, "%s",
             CSPH_SYSCONF_DIR "/indicators.yaml");
    snprintf(c->areas_file, sizeof c->areas_file, "%s", CSPH_SYSCONF_DIR "/areas.yaml");
    snprintf(c->retention_file, sizeof c->retention_file, "%s",
             CSPH_SYSCONF_DIR "/retention.yaml");
}

const char *hub_layout_config_file(void)
{
    return access(CSPH_LAYOUT_CONFIG_FILE, F_OK) == 0 ? CSPH_LAYOUT_CONFIG_FILE : NULL;
}

const char *hub_layout_help(void)
{
    return "                        Without it: " CSPH_LAYOUT_CONFIG_FILE " when it\n"
           "                        exists, else built-in defaults (schemas in\n"
           "                        " CSPH_LAYOUT_SCHEMAS_DIR ", data in\n"
           "                        " CSPH_LAYOUT_DATA_DIR ").\n";
}
#else
void hub_layout_defaults(struct hub_config *c) { (void)c; }

const char *hub_layout_config_file(void) { return NULL; }

const char *hub_layout_help(void)
{
    return "                        Without it, built-in defaults apply (this daemon is\n"
           "                        the build tree's: schemas and config from the source\n"
           "                        tree, data in ./data).\n";
}
#endif
