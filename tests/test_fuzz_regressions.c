/* Every input under tests/fuzz/regressions/ (inputs that once broke the
 * decoder or the validator, found by scripts/fuzz.sh) and every fuzz seed
 * goes through the same path as the fuzz targets: none may crash, leak or
 * trip a sanitizer. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "fuzz/fuzz_common.h"

static int replay_dir(const char *dir, int as_event)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        static unsigned char buf[1 << 20];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        fuzz_request(buf, len);
        if (as_event)
            fuzz_event(buf, len);
        n++;
    }
    closedir(d);
    return n;
}

static void test_regressions_and_seeds(void **state)
{
    char dir[1024];
    const char *src = tu_env("CSPH_SOURCE_DIR", CSPH_SOURCE_DIR);
    snprintf(dir, sizeof dir, "%s/tests/fuzz/seeds/wire", src);
    assert_true(replay_dir(dir, 0) > 0);
    snprintf(dir, sizeof dir, "%s/tests/fuzz/seeds/schema", src);
    assert_true(replay_dir(dir, 1) > 0);
    snprintf(dir, sizeof dir, "%s/tests/fuzz/regressions", src);
    int n = replay_dir(dir, 1);
    print_message("%d regression inputs replayed\n", n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_regressions_and_seeds)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
