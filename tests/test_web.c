/* The web console's modules on their own (web/): accounts (Argon2id, the
 * file's format and mode, disable and reset, a change written by another
 * process read again), sessions (idle timeout, CSRF, backoff) and HTML
 * escaping. The pages over HTTP are tests/web_http.py's. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "accounts.h"
#include "html.h"
#include "notify.h"
#include "pagereport.h"
#include "render.h"
#include "sessions.h"

static void test_accounts(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("web");
    char path[600], why[256];
    snprintf(path, sizeof path, "%s/web.accounts", dir);
    struct web_accounts *a = NULL;
    assert_int_equal(web_accounts_open(&a, path, why, sizeof why), 0); /* no file yet */
    assert_int_equal(web_accounts_add(a, "ann.smith", "panel", "marac", "correct horse battery",
                                      why, sizeof why), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* refusals name the cause */
    assert_int_equal(web_accounts_add(a, "ann.smith", "panel", "marac", "another password",
                                      why, sizeof why), -1);
    assert_non_null(strstr(why, "exists"));
    assert_int_equal(web_accounts_add(a, "bob", "panel", "", "a long password", why, sizeof why), -1);
    assert_non_null(strstr(why, "--panels"));
    /* any role the hub knows, even one added after this console was built
     * (the hub decides what it may do); a malformed one is refused */
    assert_int_equal(web_accounts_add(a, "dee", "dpo", "", "a long password", why, sizeof why), 0);
    assert_int_equal(web_accounts_add(a, "bob", "Chief Exec", "", "a long password", why,
                                      sizeof why), -1);
    assert_non_null(strstr(why, "--role"));
    assert_int_equal(web_accounts_add(a, "bob", "", "", "a long password", why, sizeof why), -1);
    assert_non_null(strstr(why, "--role"));
    assert_int_equal(web_accounts_add(a, "b ob", "auditor", "", "a long password", why, sizeof why), -1);
    assert_int_equal(web_accounts_add(a, "bob", "auditor", "", "short", why, sizeof why), -1);
    assert_non_null(strstr(why, "10 to 1024"));
    assert_int_equal(web_accounts_add(a, "bob", "auditor", "m:x", "a long password", why, sizeof why), -1);
    /* verify */
    struct web_account acc;
    assert_int_equal(web_accounts_verify(a, "ann.smith", "correct horse battery", &acc), 1);
    assert_string_equal(acc.role, "panel");
    assert_string_equal(acc.panels, "marac");
    assert_int_equal(strncmp(acc.hash, "$argon2id$", 10), 0);
    assert_int_equal(web_accounts_verify(a, "ann.smith", "wrong", &acc), 0);
    assert_int_equal(web_accounts_verify(a, "nobody", "correct horse battery", &acc), 0);
    /* disable, then reset enables again with the new password */
    assert_int_equal(web_accounts_disable(a, "ann.smith", why, sizeof why), 0);
    assert_int_equal(web_accounts_verify(a, "ann.smith", "correct horse battery", &acc), 0);
    assert_int_equal(web_accounts_reset(a, "ann.smith", "a new long passphrase", why, sizeof why), 0);
    assert_int_equal(web_accounts_verify(a, "ann.smith", "a new long passphrase", &acc), 1);
    assert_int_equal(web_accounts_disable(a, "nobody", why, sizeof why), -1);
    /* another process (csphub-web user ...) changes the file: read again */
    struct web_accounts *b = NULL;
    assert_int_equal(web_accounts_open(&b, path, why, sizeof why), 0);
    usleep(20000); /* a distinct mtime on coarse file systems; the check is on content */
    assert_int_equal(web_accounts_disable(b, "ann.smith", why, sizeof why), 0);
    web_accounts_close(&b);
    assert_int_equal(web_accounts_get(a, "ann.smith", &acc), 1);
    assert_int_equal(acc.disabled, 1);
    /* a second factor: RFC 6238's SHA-1 test key ("12345678901234567890")
     * gives 287082 at T = 59 s, within one step of drift both ways */
    struct web_account t = {0};
    snprintf(t.totp, sizeof t.totp, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    assert_int_equal(web_totp_ok(&t, "287082", 59), 1); /* step 1 */
    assert_int_equal(web_totp_ok(&t, "287082", 59 + 30), 1);
    assert_false(web_totp_ok(&t, "287082", 59 + 90));
    assert_false(web_totp_ok(&t, "287083", 59));
    assert_false(web_totp_ok(&t, "28708", 59));
    assert_false(web_totp_ok(&t, NULL, 59));
    t.totp[0] = 0;
    assert_false(web_totp_ok(&t, "287082", 59)); /* no secret: no code is right */
    char secret[64];
    assert_int_equal(web_accounts_totp(a, "ann.smith", secret, why, sizeof why), 0);
    assert_int_equal(strlen(secret), 32);
    assert_int_equal(web_accounts_get(a, "ann.smith", &acc), 1);
    assert_string_equal(acc.totp, secret);
    web_accounts_close(&a);
    assert_int_equal(web_accounts_open(&a, path, why, sizeof why), 0); /* kept in the file */
    assert_int_equal(web_accounts_get(a, "ann.smith", &acc), 1);
    assert_string_equal(acc.totp, secret);
    assert_int_equal(web_accounts_totp(a, "nobody", secret, why, sizeof why), -1);
    web_accounts_close(&a);
    /* the file is refused when others may read it, or a line is broken */
    chmod(path, 0644);
    assert_int_equal(web_accounts_open(&a, path, why, sizeof why), -1);
    assert_non_null(strstr(why, "chmod 600"));
    FILE *f = fopen(path, "w");
    fputs("ann:panel:marac:0:not-a-hash\n", f);
    fclose(f);
    chmod(path, 0600);
    assert_int_equal(web_accounts_open(&a, path, why, sizeof why), -1);
    assert_non_null(strstr(why, ":1: expected"));
    tu_rmrf(dir);
    free(dir);
}

static void test_sessions(void **state)
{
    (void)state;
    struct web_sessions *s = NULL;
    assert_int_equal(web_sessions_new(&s, 1000), 0);
    struct web_session a, b;
    assert_int_equal(web_sessions_create(s, "ann", 0, &a), 0);
    assert_int_equal(strlen(a.id), WEB_SESSION_ID_LEN);
    assert_int_equal(strlen(a.csrf), WEB_CSRF_LEN);
    assert_int_equal(web_sessions_use(s, a.id, 900, &b), 1);
    assert_string_equal(b.name, "ann");
    assert_int_equal(web_sessions_use(s, a.id, 1800, &b), 1); /* idle 900 ms: still on */
    assert_int_equal(web_sessions_use(s, a.id, 2801, &b), 0); /* idle over 1 s: gone */
    assert_int_equal(web_sessions_use(s, a.id, 2802, &b), 0);
    char forged[WEB_SESSION_ID_LEN + 1];
    memset(forged, '0', WEB_SESSION_ID_LEN);
    forged[WEB_SESSION_ID_LEN] = 0;
    assert_int_equal(web_sessions_use(s, forged, 0, &b), 0);
    assert_int_equal(web_sessions_use(s, "short", 0, &b), 0);
    assert_int_equal(web_sessions_create(s, "ann", 5000, &a), 0);
    assert_true(web_csrf_ok(&a, a.csrf));
    assert_false(web_csrf_ok(&a, NULL));
    assert_false(web_csrf_ok(&a, ""));
    char wrong[WEB_CSRF_LEN + 1];
    snprintf(wrong, sizeof wrong, "%s", a.csrf);
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    assert_false(web_csrf_ok(&a, wrong));
    web_sessions_end(s, a.id);
    assert_int_equal(web_sessions_use(s, a.id, 5001, &b), 0);
    /* backoff: free for two failures, then 1 s, 2 s, 4 s ... */
    assert_int_equal(web_backoff_wait_s(s, "raj", 0), 0);
    web_backoff_failed(s, "raj", 0);
    web_backoff_failed(s, "raj", 0);
    assert_int_equal(web_backoff_wait_s(s, "raj", 0), 0);
    web_backoff_failed(s, "raj", 0);
    assert_int_equal(web_backoff_wait_s(s, "raj", 0), 1);
    web_backoff_failed(s, "raj", 0);
    assert_int_equal(web_backoff_wait_s(s, "raj", 0), 2);
    assert_int_equal(web_backoff_wait_s(s, "raj", 2000), 0);
    for (int i = 0; i < 40; i++)
        web_backoff_failed(s, "raj", 0);
    assert_int_equal(web_backoff_wait_s(s, "raj", 0), 15 * 60); /* capped */
    web_backoff_clear(s, "raj");
    assert_int_equal(web_backoff_wait_s(s, "raj", 0), 0);
    /* a TOTP step is good once */
    assert_int_equal(web_totp_claim(s, "raj", 100), 1);
    assert_int_equal(web_totp_claim(s, "raj", 100), 0);
    assert_int_equal(web_totp_claim(s, "raj", 99), 0);
    assert_int_equal(web_totp_claim(s, "raj", 101), 1);
    assert_int_equal(web_totp_claim(s, "ann", 100), 1);
    web_sessions_free(&s);
    assert_null(s);
}

/* Sessions kept in a file survive a restart (a new sessions object reading
 * it): the id works, the CSRF token is the same, the idle timeout still
 * holds, an ended session stays ended; the file is 0600 and holds no id;
 * a readable or damaged file is refused with the cause. */
static void test_session_store(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("websess");
    char path[600], why[512];
    snprintf(path, sizeof path, "%s/web.sessions", dir);
    struct web_sessions *s = NULL;
    struct web_session a, b, c;
    assert_int_equal(web_sessions_new(&s, 60 * 60000), 0);
    assert_int_equal(web_sessions_open_file(s, path, 1000, why, sizeof why), 0); /* none yet */
    assert_int_equal(web_sessions_create(s, "ann.smith", 1000, &a), 0);
    assert_int_equal(web_sessions_create(s, "raj", 1000, &c), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *text = tu_slurp(path, NULL);
    assert_non_null(text);
    assert_null(strstr(text, a.id)); /* a hash of it only */
    assert_non_null(strstr(text, a.csrf));
    free(text);
    web_sessions_free(&s);

    /* a restart: both back; raj signs out */
    assert_int_equal(web_sessions_new(&s, 60 * 60000), 0);
    assert_int_equal(web_sessions_open_file(s, path, 2000, why, sizeof why), 0);
    assert_int_equal(web_sessions_use(s, a.id, 2000, &b), 1);
    assert_string_equal(b.name, "ann.smith");
    assert_string_equal(b.csrf, a.csrf);
    assert_string_equal(b.id, a.id);
    web_sessions_end(s, c.id);
    /* used again 30 min on: more than a minute after the file's, so written */
    assert_int_equal(web_sessions_use(s, a.id, 2000 + 30 * 60000, &b), 1);
    web_sessions_free(&s);

    /* 31 min later still on (the last use was kept); raj's stays ended */
    assert_int_equal(web_sessions_new(&s, 60 * 60000), 0);
    assert_int_equal(web_sessions_open_file(s, path, 2000 + 61 * 60000, why, sizeof why), 0);
    assert_int_equal(web_sessions_use(s, c.id, 2000 + 61 * 60000, &b), 0);
    assert_int_equal(web_sessions_use(s, a.id, 2000 + 61 * 60000, &b), 1);
    web_sessions_free(&s);

    /* past the idle timeout while the console was down: gone */
    assert_int_equal(web_sessions_new(&s, 60 * 60000), 0);
    assert_int_equal(web_sessions_open_file(s, path, 2000 + 200 * 60000, why, sizeof why), 0);
    assert_int_equal(web_sessions_use(s, a.id, 2000 + 200 * 60000, &b), 0);
    web_sessions_free(&s);

    /* refusals name the cause */
    assert_int_equal(web_sessions_new(&s, 60 * 60000), 0);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(web_sessions_open_file(s, path, 0, why, sizeof why), -1);
    assert_non_null(strstr(why, "chmod 600"));
    FILE *f = fopen(path, "w");
    fputs("# a comment\nnot a session\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(web_sessions_open_file(s, path, 0, why, sizeof why), -1);
    assert_non_null(strstr(why, "web.sessions:2: expected blake2b(id):csrf:name:last_ms"));
    f = fopen(path, "w");
    fprintf(f, "%064d:%s:bad name:5\n", 0, a.csrf);
    fclose(f);
    assert_int_equal(web_sessions_open_file(s, path, 0, why, sizeof why), -1);
    assert_non_null(strstr(why, ":1: the name is not an account name"));
    web_sessions_free(&s);
    tu_rmrf(dir);
    free(dir);
}

static void test_html_escaping(void **state)
{
    (void)state;
    struct html h;
    html_init(&h);
    html_raw(&h, "<p title=\"");
    html_text(&h, "\"><script>alert('x')</script>&");
    html_raw(&h, "\">");
    html_url(&h, "P-1/../a b&c");
    html_text(&h, NULL);
    assert_string_equal(h.p, "<p title=\"&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
                             "&amp;\">P-1%2F..%2Fa%20b%26c");
    html_printf(&h, "%d", 42);
    assert_int_equal(h.oom, 0);
    html_free(&h);
}

/* A withheld key value (an erasure's, a restriction's, the sweep's marker)
 * gets no link to a person page: it is not a reference. */
static void test_ref_links(void **state)
{
    (void)state;
    assert_true(web_is_ref("P-009918"));
    assert_true(web_is_ref("V.1_a:b-2"));
    assert_false(web_is_ref("[erased by seq 17]"));
    assert_false(web_is_ref("[restricted by seq 4]"));
    assert_false(web_is_ref("[expired by seq 9]"));
    assert_false(web_is_ref(""));
    assert_false(web_is_ref(NULL));
    char long_ref[66];
    memset(long_ref, 'a', 65);
    long_ref[65] = 0;
    assert_false(web_is_ref(long_ref));
}

static void test_notify_message(void **state)
{
    (void)state;
    const char *to[] = {"marac-team@council.example", "idva@council.example"};
    unsigned counts[3] = {1, 0, 2};
    char *m = web_notify_message("csphub@council.example", to, 2, "marac", counts, 1,
                                 "2026-12-18T09:00:00.000Z", "https://csphub.example/",
                                 "Sat, 05 Dec 2026 13:00:00 +0000");
    assert_non_null(m);
    assert_non_null(strstr(m, "To: marac-team@council.example, idva@council.example\r\n"));
    assert_non_null(strstr(m, "Subject: csphub: 3 new alerts on marac\r\n"));
    assert_non_null(strstr(m, "  high priority:     2\r\n"));
    assert_non_null(strstr(m, "  overdue (escalated): 1\r\n"));
    assert_non_null(strstr(m, "  earliest due:      2026-12-18 09:00 UTC\r\n"));
    assert_non_null(strstr(m, "https://csphub.example/queue?panel=marac"));
    free(m);
    counts[0] = 1;
    counts[2] = 0;
    m = web_notify_message("a@b", to, 1, "iom", counts, 0, "", "u/", "d");
    assert_non_null(strstr(m, "Subject: csphub: 1 new alert on iom\r\n"));
    assert_null(strstr(m, "earliest due"));
    free(m);
}

/* The report page's choices: the default period is the twelve whole months
 * before this one, and only whole months are asked for. */
static void test_report_period(void **state)
{
    (void)state;
    char from[8], to[8];
    web_report_default_period(1796486400, from, to); /* 2026-12-05 */
    assert_string_equal(from, "2025-12");
    assert_string_equal(to, "2026-11");
    web_report_default_period(1767657600, from, to); /* 2026-01-06 */
    assert_string_equal(from, "2025-01");
    assert_string_equal(to, "2025-12");
    web_report_default_period(1769904000, from, to); /* 2026-02-01 */
    assert_string_equal(from, "2025-02");
    assert_string_equal(to, "2026-01");
    assert_true(web_report_month_ok("2025-04"));
    assert_false(web_report_month_ok("2025-4"));
    assert_false(web_report_month_ok("2025-13"));
    assert_false(web_report_month_ok("2025-00"));
    assert_false(web_report_month_ok("2025-04-01"));
    assert_false(web_report_month_ok("20x5-04"));
    assert_false(web_report_month_ok(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accounts),
        cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_html_escaping),
        cmocka_unit_test(test_ref_links),
        cmocka_unit_test(test_notify_message),
        cmocka_unit_test(test_report_period),
        cmocka_unit_test(test_session_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
