/*
 * slowjob.h: work an event loop must not do itself, as a value the loop
 * can hand to another thread: a password hash (auth/basic.c), a call to
 * the real service in kumo mock's record mode (gateway/mock_modes.c).
 *
 * The loop's code meets the slow work, makes a job holding copies of what
 * the work needs (never pointers into the request, which may go away),
 * and stops: the gateway parks the request, a thread calls run, and the
 * loop dispatches the request again with the job done; the code that made
 * it recognises its own job by `kind` and takes the result. `free` works
 * whether the job ran or not.
 */
#ifndef KUMO_BASE_SLOWJOB_H
#define KUMO_BASE_SLOWJOB_H

typedef struct kumo__slow_job kumo__slow_job;
struct kumo__slow_job {
    void (*run)(kumo__slow_job *j);  /* on a thread of its own */
    void (*free)(kumo__slow_job *j); /* any thread; after run, or instead */
    const char *kind;                /* a static tag: whose job it is (compared by address) */
};

static inline void kumo__slow_job_free(kumo__slow_job *j)
{
    if (j)
        j->free(j);
}

#endif
