/*
 * check.h - the smallest unit-test harness that does the job.
 *
 * Tests are got/want tables (Postfix PTEST style): each case calls CHECK or
 * CHECK_STR, which counts and reports failures with file and line. main()
 * ends with `return check_summary();`, which prints the closing line
 * "N passed, N failed" and returns nonzero when anything failed.
 */
#ifndef POCHTA_TESTS_CHECK_H
#define POCHTA_TESTS_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) {                                                             \
            check_passed++;                                                     \
        } else {                                                                \
            check_failed++;                                                     \
            fprintf(stderr, "%s:%d: FAIL: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

#define CHECK_STR(got, want, ctx)                                               \
    do {                                                                        \
        const char *g_ = (got), *w_ = (want);                                   \
        CHECK((g_ == NULL && w_ == NULL) || (g_ && w_ && strcmp(g_, w_) == 0),  \
              "%s: got \"%s\", want \"%s\"", (ctx), g_ ? g_ : "(null)",         \
              w_ ? w_ : "(null)");                                              \
    } while (0)

static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
