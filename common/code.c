/* code.c: CSPH/1's error codes as numbers (include/csphub.h). */
#include <string.h>

#include "csphub.h"

static const char *const names[] = {
#define CODE_NAME(name, code, msg) code,
    CSPH_CODE_MAP(CODE_NAME)
#undef CODE_NAME
};

const char *csph_code_name(enum csph_code c)
{
    return c >= 0 && c < CSPH_CODE__COUNT ? names[c] : "unknown";
}

enum csph_code csph_code_parse(const char *s, size_t len)
{
    for (int i = 0; s && i < CSPH_CODE__COUNT; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return (enum csph_code)i;
    return CSPH_CODE_UNKNOWN;
}

int csph_code_retry(enum csph_code c) { return c == CSPH_CODE_BUSY || c == CSPH_CODE_INTERNAL; }
