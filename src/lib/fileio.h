/*
 * fileio - the two durable-write primitives every on-disk store needs:
 * writing a whole buffer despite short writes and EINTR, and fsync'ing a
 * directory so that a create, rename or unlink in it survives a crash
 * (POSIX makes a new name durable only once its directory is synced).
 */
#ifndef POCHTA_LIB_FILEIO_H
#define POCHTA_LIB_FILEIO_H

#include <stddef.h>

/* fileio_write_all - write n bytes of p to fd; 0, or -1 with errno */
int fileio_write_all(int fd, const void *p, size_t n);
/* fileio_fsync_dir - fsync the directory dir by path; 0, or -1 with errno */
int fileio_fsync_dir(const char *dir);

#endif
