/* test_fileio - whole writes through a pipe with a small buffer, directory fsync results. */
#include "check.h"
#include "lib/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BIG (1 << 20)

static int read_fd;
static size_t read_total;

/* reader - drain the pipe so the writer sees many short writes */
static void *reader(void *arg)
{
    char chunk[4096];
    ssize_t r;
    while ((r = read(read_fd, chunk, sizeof chunk)) > 0)
        read_total += (size_t)r;
    return NULL;
}

/* test_write_all - 1 MiB through a 4 KiB pipe arrives whole */
static void test_write_all(void)
{
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    fcntl(p[1], F_SETPIPE_SZ, 4096);
    read_fd = p[0];
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    char *data = calloc(1, BIG);
    CHECK(fileio_write_all(p[1], data, BIG) == 0, "write_all returns 0");
    close(p[1]);
    pthread_join(t, NULL);
    close(p[0]);
    CHECK(read_total == BIG, "read %zu of %d bytes", read_total, BIG);
    free(data);
}

/* test_write_closed - a write to a closed pipe fails with errno */
static void test_write_closed(void)
{
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    errno = 0;
    CHECK(fileio_write_all(p[1], "x", 1) == -1 && errno == EPIPE, "EPIPE, got errno %d", errno);
    close(p[1]);
}

/* test_fsync_dir - an existing directory syncs; a missing one fails with ENOENT */
static void test_fsync_dir(void)
{
    CHECK(fileio_fsync_dir("/tmp") == 0, "fsync /tmp");
    errno = 0;
    CHECK(fileio_fsync_dir("/nonexistent/pochta") == -1 && errno == ENOENT, "ENOENT, got %d", errno);
    CHECK(fileio_fsync_dir("/etc/hostname") == -1 && errno == ENOTDIR, "a file is not a directory, got %d", errno);
}

int main(void)
{
    test_write_all();
    test_write_closed();
    test_fsync_dir();
    return check_summary();
}
