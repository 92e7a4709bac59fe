/*
 * log - one key=value line per event, to stderr or syslog.
 *
 * Every line starts with the session or queue ID it concerns (or "-"),
 * then key=value pairs written by the caller, e.g.
 *   log_info("4F2A9C1B", "event=connect client=127.0.0.1 port=40312");
 * Values with spaces are quoted by the caller with log_quote() helpers.
 * Thread-safe: each line is written with one call. Never pass passwords
 * or AUTH data.
 */
#ifndef POCHTA_LIB_LOG_H
#define POCHTA_LIB_LOG_H

#include <stddef.h>

typedef enum {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO = 1,
    LOG_LEVEL_WARN = 2,
    LOG_LEVEL_ERROR = 3,
} log_level;

/* log_init - choose ident, destination (syslog when use_syslog) and threshold */
void log_init(const char *ident, int use_syslog, log_level threshold);
void log_write(log_level level, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(id, ...) log_write(LOG_LEVEL_DEBUG, (id), __VA_ARGS__)
#define log_info(id, ...) log_write(LOG_LEVEL_INFO, (id), __VA_ARGS__)
#define log_warn(id, ...) log_write(LOG_LEVEL_WARN, (id), __VA_ARGS__)
#define log_error(id, ...) log_write(LOG_LEVEL_ERROR, (id), __VA_ARGS__)

/*
 * log_quote - make value safe for a key=value line: wraps it in double
 * quotes when it holds spaces, quotes or control bytes, escaping them.
 * Writes at most outlen-1 bytes to out (truncating long values) and
 * returns out.
 */
char *log_quote(char *out, size_t outlen, const char *value, size_t len);

#endif
