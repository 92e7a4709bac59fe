/*
 * xalloc - allocation wrappers that never return NULL.
 *
 * Out of memory is not something a mail server can answer sensibly in the
 * middle of a session, so these abort with a log line instead (house style:
 * OOM aborts inside the allocator wrapper, never at call sites).
 * Every pointer returned is owned by the caller and released with free().
 */
#ifndef POCHTA_LIB_XALLOC_H
#define POCHTA_LIB_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* xasprintf - printf into a new heap string (caller frees) */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
