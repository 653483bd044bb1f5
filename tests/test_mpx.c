/* test_mpx.c: the in-place readers of hub/mpx.h that the report uses to read
 * stored alerts without unpacking them (hub_mp_raw_str, hub_mp_raw_uint):
 * every string and integer format, and each answering as msgpack-c's own
 * unpacker would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "mpx.h"

static void str_of_len(size_t n)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char *s = malloc(n + 1);
    memset(s, 'x', n);
    s[0] = 'a';
    msgpack_pack_str(&pk, n);
    msgpack_pack_str_body(&pk, s, n);
    msgpack_pack_nil(&pk); /* what follows is not read */
    const char *p;
    size_t off = 0, len = 0;
    assert_int_equal(hub_mp_raw_str(sb.data, sb.size, &off, &p, &len), 0);
    assert_int_equal(len, n);
    assert_memory_equal(p, s, n);
    assert_int_equal(off, sb.size - 1);
    /* cut anywhere inside: refused, the offset unmoved */
    for (size_t cut = 0; cut < sb.size - 1; cut += cut < 8 ? 1 : 997) {
        off = 0;
        assert_int_equal(hub_mp_raw_str(sb.data, cut, &off, &p, &len), -1);
        assert_int_equal(off, 0);
    }
    free(s);
    msgpack_sbuffer_destroy(&sb);
}

static void test_raw_str_every_format(void **state)
{
    (void)state;
    str_of_len(0);      /* fixstr */
    str_of_len(31);     /* fixstr, longest */
    str_of_len(32);     /* str 8 */
    str_of_len(300);    /* str 16 */
    str_of_len(70000);  /* str 32 */
    /* not a string: -1, nothing consumed */
    const char notstr[] = {(char)0xcc, 5};
    const char *p;
    size_t off = 0, len;
    assert_int_equal(hub_mp_raw_str(notstr, sizeof notstr, &off, &p, &len), -1);
    assert_int_equal(off, 0);
    assert_int_equal(hub_mp_raw_str(notstr, 0, &off, &p, &len), -1);
}

/* hub_mp_raw_uint on bytes, against msgpack-c's unpacker on the same. */
static void same_as_unpacker(const char *b, size_t n)
{
    msgpack_zone z;
    msgpack_object o;
    size_t uoff = 0, off = 0;
    uint64_t v = 0;
    msgpack_zone_init(&z, 256);
    msgpack_unpack_return u = msgpack_unpack(b, n, &uoff, &z, &o);
    assert_true(u == MSGPACK_UNPACK_SUCCESS || u == MSGPACK_UNPACK_EXTRA_BYTES);
    int r = hub_mp_raw_uint(b, n, &off, &v);
    assert_int_equal(off, uoff); /* past the object either way */
    if (o.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        assert_int_equal(r, 1);
        assert_true(v == o.via.u64);
    } else {
        assert_int_equal(r, 0);
    }
    msgpack_zone_destroy(&z);
}

static void test_raw_uint_as_msgpack_c(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    const uint64_t us[] = {0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295u, 4294967296u,
                           UINT64_MAX};
    for (size_t i = 0; i < sizeof us / sizeof *us; i++) {
        sb.size = 0;
        msgpack_pack_uint64(&pk, us[i]);
        same_as_unpacker(sb.data, sb.size);
    }
    const int64_t is[] = {-1, -32, -33, -128, -129, -32768, -32769, INT64_MIN, 5};
    for (size_t i = 0; i < sizeof is / sizeof *is; i++) {
        sb.size = 0;
        msgpack_pack_int64(&pk, is[i]);
        same_as_unpacker(sb.data, sb.size);
    }
    /* signed formats holding values >= 0, as other packers write them */
    const unsigned char s8[] = {0xd0, 0x05}, s16[] = {0xd1, 0x01, 0x00},
                        s32[] = {0xd2, 0x00, 0x01, 0x00, 0x00},
                        s64[] = {0xd3, 0, 0, 0, 1, 0, 0, 0, 0}, n8[] = {0xd0, 0xfb},
                        n64[] = {0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
    same_as_unpacker((const char *)s8, sizeof s8);
    same_as_unpacker((const char *)s16, sizeof s16);
    same_as_unpacker((const char *)s32, sizeof s32);
    same_as_unpacker((const char *)s64, sizeof s64);
    same_as_unpacker((const char *)n8, sizeof n8);
    same_as_unpacker((const char *)n64, sizeof n64);
    /* anything else is passed over: a string, a map, nil */
    sb.size = 0;
    msgpack_pack_str(&pk, 3);
    msgpack_pack_str_body(&pk, "abc", 3);
    same_as_unpacker(sb.data, sb.size);
    sb.size = 0;
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "k", 1);
    msgpack_pack_uint64(&pk, 300);
    same_as_unpacker(sb.data, sb.size);
    sb.size = 0;
    msgpack_pack_nil(&pk);
    same_as_unpacker(sb.data, sb.size);
    /* truncated: -1 */
    sb.size = 0;
    msgpack_pack_uint64(&pk, 4294967296u);
    size_t off = 0;
    uint64_t v;
    assert_int_equal(hub_mp_raw_uint(sb.data, sb.size - 1, &off, &v), -1);
    off = 0;
    assert_int_equal(hub_mp_raw_uint(sb.data, 0, &off, &v), -1);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_str_every_format),
        cmocka_unit_test(test_raw_uint_as_msgpack_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
