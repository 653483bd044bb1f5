#define _GNU_SOURCE
#include "pagestatic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "page.h"
#include "reporthtml.h"

/* The report's style is the report library's (the same as in `csphub
 * report --format html`), served from memory. Its ETag is a hash of the
 * text, so a new release is seen at once. */
static enum MHD_Result report_css(struct web_console *w, struct MHD_Connection *con)
{
    uint64_t hash = 1469598103934665603ull; /* FNV-1a */
    for (const char *p = csph_report_css; *p; p++)
        hash = (hash ^ (unsigned char)*p) * 1099511628211ull;
    char etag[40];
    snprintf(etag, sizeof etag, "\"r%016llx\"", (unsigned long long)hash);
    const char *inm = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "If-None-Match");
    int same = inm && !strcmp(inm, etag);
    struct MHD_Response *r =
        same ? MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT)
             : MHD_create_response_from_buffer(strlen(csph_report_css), (char *)csph_report_css,
                                               MHD_RESPMEM_PERSISTENT);
    if (!same)
        MHD_add_response_header(r, "Content-Type", "text/css; charset=utf-8");
    MHD_add_response_header(r, "ETag", etag);
    MHD_add_response_header(r, "Cache-Control", "public, max-age=3600");
    web_security_headers(w, r, 0);
    enum MHD_Result rc = MHD_queue_response(con, same ? 304 : 200, r);
    MHD_destroy_response(r);
    return rc;
}

enum MHD_Result web_page_static(struct web_console *w, struct MHD_Connection *con,
                                const char *name)
{
    if (!strcmp(name, "report.css"))
        return report_css(w, con);
    static const struct {
        const char *name, *type;
    } files[] = {{"app.css", "text/css; charset=utf-8"},
                 {"live.js", "text/javascript; charset=utf-8"}};
    const char *type = NULL;
    /* Only the files the console ships, by name: no path is ever built from
     * what the client sent, so ../ leads nowhere. */
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        if (!strcmp(name, files[i].name))
            type = files[i].type;
    char ip[64];
    if (!type) {
        web_log("static file '%.100s' refused (from %s)", name, web_peer(con, ip, sizeof ip));
        return web_error_page(w, con, 404, NULL, "Not found", "no such file");
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", w->cfg.static_dir, name);
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        web_log("cannot read %s: %s", path, strerror(errno));
        return web_error_page(w, con, 500, NULL, "The console failed", "a file it ships is missing");
    }
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    MHD_add_response_header(r, "Content-Type", type);
    web_security_headers(w, r, 0);
    /* Cached for an hour, then checked again: a new release is seen the
     * same day without a versioned URL. */
    char etag[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_mtime,
             (unsigned long long)st.st_size);
    MHD_add_response_header(r, "Cache-Control", "public, max-age=3600");
    MHD_add_response_header(r, "ETag", etag);
    const char *inm = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "If-None-Match");
    enum MHD_Result rc;
    if (inm && !strcmp(inm, etag)) {
        MHD_destroy_response(r);
        r = MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "ETag", etag);
        MHD_add_response_header(r, "Cache-Control", "public, max-age=3600");
        web_security_headers(w, r, 0);
        rc = MHD_queue_response(con, 304, r);
    } else {
        rc = MHD_queue_response(con, 200, r);
    }
    MHD_destroy_response(r);
    return rc;
}
