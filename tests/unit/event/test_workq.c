/* test_workq - work runs on worker threads, completions on the loop thread, all of them. */
#include "check.h"
#include "event/workq.h"

#include <event2/event.h>
#include <pthread.h>

typedef struct job {
    pthread_t worker;
    pthread_t completer;
    int value;
} job;

static int done_count;
static struct event_base *base;

static void work(void *arg)
{
    job *j = arg;
    j->worker = pthread_self();
    j->value *= 2;
}

static void done(void *arg)
{
    job *j = arg;
    j->completer = pthread_self();
    if (++done_count == 100)
        event_base_loopbreak(base);
}

int main(void)
{
    static job jobs[100];
    base = event_base_new();
    workq *wq = workq_new(base, "test", 4);
    for (int i = 0; i < 100; i++) {
        jobs[i].value = i;
        workq_submit(wq, work, done, &jobs[i]);
    }
    CHECK(workq_pending(wq) > 0, "jobs pending before the loop runs");
    event_base_dispatch(base);
    CHECK(done_count == 100, "all completions ran: %d", done_count);
    int on_loop = 1, off_loop = 1, values = 1;
    for (int i = 0; i < 100; i++) {
        on_loop &= pthread_equal(jobs[i].completer, pthread_self());
        off_loop &= !pthread_equal(jobs[i].worker, pthread_self());
        values &= jobs[i].value == 2 * i;
    }
    CHECK(on_loop, "completions run on the loop thread");
    CHECK(off_loop, "work runs on worker threads");
    CHECK(values, "work results visible to completions");
    CHECK(workq_pending(wq) == 0, "nothing pending");
    workq_free(wq);
    event_base_free(base);
    return check_summary();
}
