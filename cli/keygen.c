/* keygen: CURVE key pairs for a hub with `security: curve` and for the
 * people and systems in its identity file. Needs no hub. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_cmd_keygen(struct cli *c, int argc, char **argv)
{
    enum { OPT_DIR = CLI_OPT__LAST };
    static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                         {"dir", required_argument, NULL, OPT_DIR},
                                         {0, 0, 0, 0}};
    const char *dir = ".";
    int opt, optrc;
    cli_getopt_reset();
    while ((opt = cli_next_option(c, argc, argv, opts, &optrc)) >= 0) {
        dir = optarg;
    }
    if (optrc != CLI_OK)
        return optrc;
    if (argc - optind != 1)
        return cli_usage_error(c, "keygen takes one name: hub, or the user's name in the "
                                  "identity file");
    const char *name = argv[optind];
    char pub[41], err[512];
    if (csph_keygen(dir, name, pub, err, sizeof err) != 0) {
        cli_warn("%s", err);
        /* A bad name is the command line's fault; a file that exists or
         * cannot be written is not. */
        return strstr(err, "a key name is") ? CLI_USAGE : CLI_FAIL;
    }
    char key_file[4200], pub_file[4200];
    snprintf(key_file, sizeof key_file, "%s/%s.key", dir, name);
    snprintf(pub_file, sizeof pub_file, "%s/%s.pub", dir, name);
    if (c->json) {
        json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "name", name, "public", pub, "key_file",
                              key_file, "pub_file", pub_file);
        cli_print_json_line(j);
        json_decref(j);
        return CLI_OK;
    }
    printf("wrote %s (the key pair: SECRET, mode 0600; for %s only)\n", key_file, name);
    printf("wrote %s (the public key)\n", pub_file);
    printf("public key: %s\n", pub);
    if (strcmp(name, "hub") == 0)
        printf("next: server_key_file: %s in the hub's config; give %s to every user "
               "(--server-key)\n", key_file, pub_file);
    else
        printf("next: list %s in the hub's identity file (key_file: %s.pub) with a role; %s "
               "runs csphub --key %s.key --server-key hub.pub\n",
               name, name, name, name);
    return CLI_OK;
}
