/* log.h: one human-readable line per record on stderr:
 *   2026-11-22T08:56:40.123Z INFO  store: opened data/ (last seq 42)
 * The macro checks the level before formatting (Redis style), so a debug
 * line costs one comparison when debug is off. Event payloads and secret
 * keys are never logged at info or above. */
#ifndef CSPH_LOG_H
#define CSPH_LOG_H

enum hub_log_level { CSPH_LOG_DEBUG, CSPH_LOG_INFO, CSPH_LOG_WARN, CSPH_LOG_ERROR, CSPH_LOG_OFF };

extern enum hub_log_level hub_log_min;

/* Parse "debug", "info", "warn", "error", "off"; returns -1 if unknown. */
int hub_log_level_parse(const char *s);
void hub_log_write(enum hub_log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define hub_log(lvl, module, ...)                                              \
    do {                                                                       \
        if ((lvl) >= hub_log_min)                                              \
            hub_log_write((lvl), (module), __VA_ARGS__);                       \
    } while (0)
#define LOG_DEBUG(m, ...) hub_log(CSPH_LOG_DEBUG, m, __VA_ARGS__)
#define LOG_INFO(m, ...) hub_log(CSPH_LOG_INFO, m, __VA_ARGS__)
#define LOG_WARN(m, ...) hub_log(CSPH_LOG_WARN, m, __VA_ARGS__)
#define LOG_ERROR(m, ...) hub_log(CSPH_LOG_ERROR, m, __VA_ARGS__)

#endif
