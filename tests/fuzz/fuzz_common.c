#include "fuzz_common.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>

#include "mpx.h"
#include "schema.h"
#include "wire.h"

#ifndef CSPH_SOURCE_DIR
#define CSPH_SOURCE_DIR "."
#endif

static struct hub_schemas *schemas(void)
{
    static struct hub_schemas *s;
    if (!s) {
        static const char *const panels[] = {"marac", "community-marac", "asb-case-review",
                                             "hate-crime", "iom", "sgv", "mace", "tasking",
                                             "channel", "mappa"};
        const char *dir = getenv("CSPH_SCHEMAS");
        struct hub_error err;
        if (hub_schemas_load(&s, dir ? dir : CSPH_SOURCE_DIR "/schemas", panels, 10, &err)) {
            fprintf(stderr, "fuzz: cannot load schemas: %s\n", err.message);
            abort();
        }
    }
    return s;
}

void fuzz_request(const uint8_t *data, size_t size)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 4096);
    struct hub_request req;
    struct hub_error err;
    if (hub_wire_decode(data, size, &zone, 1000, &req, &err) == CSPH_ERR_OK &&
        req.op == CSPH_OP_PUBLISH) {
        for (uint32_t i = 0; i < req.nevents; i++) {
            struct hub_event_info info;
            hub_schema_check(schemas(), &req.events[i], i & 1, &info, &err);
        }
    }
    msgpack_zone_destroy(&zone);
}

void fuzz_event(const uint8_t *data, size_t size)
{
    size_t off = 0;
    if (hub_mp_check((const char *)data, size, &off, 32) != 0)
        return;
    msgpack_zone zone;
    msgpack_zone_init(&zone, 4096);
    msgpack_object obj;
    off = 0;
    if (msgpack_unpack((const char *)data, size, &off, &zone, &obj) == MSGPACK_UNPACK_SUCCESS) {
        struct hub_event_info info;
        struct hub_error err;
        hub_schema_check(schemas(), &obj, 1, &info, &err);
    }
    msgpack_zone_destroy(&zone);
}
