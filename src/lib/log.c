/*
 * log - key=value event lines to stderr or syslog (see log.h).
 */
#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "pochta";
static int log_use_syslog;
static log_level log_threshold = LOG_LEVEL_INFO;

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

/* log_init - set destination and threshold */
void log_init(const char *ident, int use_syslog, log_level threshold)
{
    log_ident = ident;
    log_use_syslog = use_syslog;
    log_threshold = threshold;
    if (use_syslog)
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* log_write - format one event line and emit it in a single write */
void log_write(log_level level, const char *id, const char *fmt, ...)
{
    if (level < log_threshold)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (log_use_syslog) {
        static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
        syslog(prio[level], "%s level=%s %s", id ? id : "-", log_level_names[level], line);
        return;
    }
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s[%d]: %s level=%s %s\n", stamp, ts.tv_nsec / 1000000, log_ident,
            (int)getpid(), id ? id : "-", log_level_names[level], line);
}

/* log_quote - quote a value for a key=value line */
char *log_quote(char *out, size_t outlen, const char *value, size_t len)
{
    size_t o = 0;
    int need = len == 0;
    for (size_t i = 0; i < len && !need; i++) {
        unsigned char c = (unsigned char)value[i];
        need = c <= ' ' || c == '"' || c == '\\' || c == 0x7f;
    }
    if (outlen == 0)
        return out;
    if (!need) {
        size_t n = len < outlen - 1 ? len : outlen - 1;
        memcpy(out, value, n);
        out[n] = '\0';
        return out;
    }
    out[o++] = '"';
    for (size_t i = 0; i < len && o + 5 < outlen; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < ' ' || c == 0x7f) {
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (o < outlen - 1)
        out[o++] = '"';
    out[o] = '\0';
    return out;
}
