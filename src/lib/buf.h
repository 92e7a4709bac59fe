/*
 * buf - the one growable byte buffer used everywhere in pochta.
 *
 * A buf knows its length, always keeps a NUL byte after the data (so the
 * contents can be read as a C string when they hold no NUL), and has a hard
 * cap fixed at creation: an append that would pass the cap fails with
 * BUF_TOO_BIG and leaves the buffer unchanged (curl's dynbuf contract).
 * Storage is allocated lazily, so an empty buf costs nothing but the struct.
 *
 * Ownership: the struct is usually embedded in its owner; buf_free()
 * releases the storage. buf_steal() hands the storage to the caller.
 */
#ifndef POCHTA_LIB_BUF_H
#define POCHTA_LIB_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef enum {
    BUF_OK = 0,
    BUF_TOO_BIG = -1,
} buf_status;

typedef struct buf {
    char *data;     /* NULL until the first append */
    size_t len;     /* bytes used, not counting the spare NUL */
    size_t alloc;   /* bytes allocated */
    size_t cap;     /* hard limit on len */
} buf;

/* buf_init - prepare an empty buffer that may grow to cap bytes */
void buf_init(buf *b, size_t cap);
/* buf_free - release the storage; the buf is empty (same cap) afterwards */
void buf_free(buf *b);
/* buf_reset - forget the contents but keep the storage */
void buf_reset(buf *b);
buf_status buf_append(buf *b, const void *p, size_t n);
buf_status buf_append_str(buf *b, const char *s);
buf_status buf_append_char(buf *b, char c);
buf_status buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
buf_status buf_vprintf(buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* buf_cstr - contents as a C string ("" when empty); valid until the next change */
const char *buf_cstr(const buf *b);
/* buf_steal - hand the NUL-terminated storage to the caller (who frees it) and empty b */
char *buf_steal(buf *b, size_t *len);
/* buf_consume - drop the first n bytes */
void buf_consume(buf *b, size_t n);

#endif
