/*
 * cli_fmt - plain-words formatting shared by `pochta queue` and `pochta
 * trace`: durations ("3m12s"), local times, sizes, and reading one value
 * back out of a stored key=value message-log line.
 */
#ifndef POCHTA_CLI_CLI_FMT_H
#define POCHTA_CLI_CLI_FMT_H

#include <stddef.h>
#include <time.h>

/* cli_fmt_duration - seconds as "45s", "3m12s", "2h05m", "3d04h" into out; returns out */
char *cli_fmt_duration(long long secs, char *out, size_t outlen);
/* cli_fmt_time - t as local "YYYY-MM-DD HH:MM:SS" into out; returns out */
char *cli_fmt_time(time_t t, char *out, size_t outlen);
/* cli_fmt_size - bytes as "812 B", "1.2 KB", "3.4 MB" into out; returns out */
char *cli_fmt_size(size_t bytes, char *out, size_t outlen);

/*
 * cli_kv - the value of key in a key=value line written with log_quote()
 * (quoted values unescaped, "<address>" kept whole with its brackets);
 * 1 found (out filled, truncated to outlen-1), 0 absent (out = "").
 */
int cli_kv(const char *line, const char *key, char *out, size_t outlen);

#endif
