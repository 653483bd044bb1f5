#include "timefmt.h"

#include <stdio.h>
#include <string.h>

/* Howard Hinnant's civil-date algorithms: exact for every Gregorian date. */
int64_t csph_days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void csph_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return -1;
}

int csph_time_parse(const char *s, size_t len, int64_t *ms, const char **why)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se;
    if (len < 20)
        return fail(why, "is too short for an RFC 3339 date-time such as 2025-03-01T21:14:00Z");
    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d))
        return fail(why, "does not start with a date YYYY-MM-DD");
    if (s[10] != 'T' && s[10] != 't')
        return fail(why, "has no 'T' between the date and the time");
    if (digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &se))
        return fail(why, "has no time HH:MM:SS after the 'T'");
    if (mo < 1 || mo > 12)
        return fail(why, "has a month outside 01-12");
    unsigned dim = mdays[mo - 1] + (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    if (d < 1 || (unsigned)d > dim)
        return fail(why, "has a day that does not exist in that month");
    if (h > 23 || mi > 59 || se > 60)
        return fail(why, "has an hour, minute or second out of range");
    if (se == 60)
        se = 59; /* a leap second is folded into the second before it */
    size_t i = 19;
    int frac_ms = 0;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        int scale = 100;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac_ms += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start)
            return fail(why, "has a '.' with no fraction digits after it");
    }
    int offset_min = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (len - i != 6 || digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return fail(why, "has a malformed UTC offset (expected Z or +HH:MM)");
        offset_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return fail(why, "has no UTC offset (end it with Z or +HH:MM)");
    }
    if (i != len)
        return fail(why, "has unexpected characters after the UTC offset");
    int64_t days = csph_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - (int64_t)offset_min * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}

static char *put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

int csph_time_format(int64_t ms, char *buf)
{
    /* By hand, not snprintf: replay formats one per event. */
    int64_t days = ms >= 0 ? ms / CSPH_MS_PER_DAY : -((-ms + CSPH_MS_PER_DAY - 1) / CSPH_MS_PER_DAY);
    int64_t rem = ms - days * CSPH_MS_PER_DAY;
    int y;
    unsigned m, d;
    csph_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return snprintf(buf, 32, "%04d-%02u-%02uT00:00:00.000Z", y, m, d);
    unsigned secs = (unsigned)(rem / 1000), milli = (unsigned)(rem % 1000);
    char *p = buf;
    p = put2(p, (unsigned)y / 100);
    p = put2(p, (unsigned)y % 100);
    *p++ = '-';
    p = put2(p, m);
    *p++ = '-';
    p = put2(p, d);
    *p++ = 'T';
    p = put2(p, secs / 3600);
    *p++ = ':';
    p = put2(p, secs / 60 % 60);
    *p++ = ':';
    p = put2(p, secs % 60);
    *p++ = '.';
    *p++ = (char)('0' + milli / 100);
    p = put2(p, milli % 100);
    *p++ = 'Z';
    *p = 0;
    return (int)(p - buf);
}

int csph_time_format_date(int64_t ms, char *buf)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t days = ms >= 0 ? ms / CSPH_MS_PER_DAY : -((-ms + CSPH_MS_PER_DAY - 1) / CSPH_MS_PER_DAY);
    int y;
    unsigned m, d;
    csph_civil_from_days(days, &y, &m, &d);
    return snprintf(buf, 16, "%u %s %d", d, months[m - 1], y);
}

int csph_duration_parse(const char *s, int64_t min_ms, int64_t max_ms, int64_t *ms,
                        const char **why)
{
    int64_t whole = 0, frac = 0, scale = 1;
    const char *p = s;
    if (!s || *p < '0' || *p > '9')
        return fail(why, "is not a duration such as 30s, 500ms or 2m");
    for (; *p >= '0' && *p <= '9'; p++)
        if ((whole = whole * 10 + (*p - '0')) > 1000000000)
            return fail(why, "is too long a duration");
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++)
            if (scale < 1000) {
                frac = frac * 10 + (*p - '0');
                scale *= 10;
            }
    }
    int64_t unit;
    if (!strcmp(p, "ms"))
        unit = 1;
    else if (!strcmp(p, "s"))
        unit = 1000;
    else if (!strcmp(p, "m"))
        unit = 60000;
    else if (!*p)
        return fail(why, "has no unit: write it as 30s, 500ms or 2m");
    else
        return fail(why, "has a unit other than ms, s or m");
    int64_t v = whole * unit + frac * unit / scale;
    if (v < min_ms || v > max_ms)
        return fail(why, "is out of range");
    *ms = v;
    return 0;
}
