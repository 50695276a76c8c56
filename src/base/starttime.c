/*
 * starttime.c: see starttime.h. The steps go into a fixed table (a start
 * has a dozen); the line is written once with one write.
 */
#include "base/starttime.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define START_MAX_STEPS 32

static struct {
    int on; /* 1: noting; 0: not asked for, or reported */
    double t0, last;
    double ready, ready_cpu; /* kumo__start_serving's clock and CPU time; 0: not called */
    int n, nready;           /* steps before it */
    struct {
        const char *name;
        double ms;
    } steps[START_MAX_STEPS];
} st;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

__attribute__((constructor)) static void start_init(void)
{
    const char *v = getenv("KUMO_START_TIMES");
    if (v == NULL || strcmp(v, "1") != 0)
        return;
    st.on = 1;
    st.t0 = st.last = now_ms();
}

void kumo__start_mark(const char *name)
{
    if (!st.on || st.n == START_MAX_STEPS)
        return;
    double t = now_ms();
    st.steps[st.n].name = name;
    st.steps[st.n].ms = t - st.last;
    st.n++;
    st.last = t;
}

static double cpu_ms(void)
{
    struct timespec cpu;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    return (double)cpu.tv_sec * 1e3 + (double)cpu.tv_nsec / 1e6;
}

void kumo__start_serving(void)
{
    if (!st.on || st.ready > 0)
        return;
    st.ready = st.last;
    st.ready_cpu = cpu_ms();
    st.nready = st.n;
}

void kumo__start_report(void)
{
    if (!st.on)
        return;
    st.on = 0;
    if (st.ready == 0) { /* ready when the last step ended */
        st.ready = st.last;
        st.ready_cpu = cpu_ms();
        st.nready = st.n;
    }
    char line[2048];
    size_t len = 0;
    len += (size_t)snprintf(line + len, sizeof(line) - len, "kumo: start (ms):");
    for (int i = 0; i < st.n && len < sizeof(line); i++)
        len += (size_t)snprintf(line + len, sizeof(line) - len, "%s %s%s %.1f", i ? "," : "", i >= st.nready ? "+" : "",
                                st.steps[i].name, st.steps[i].ms);
    /* the absolute clock readings let a bench that started the process
     * split what lies outside the steps: exec and the dynamic linker before
     * t0, the first request after ready; the CPU time is the process's,
     * every thread, from exec (a figure the machine's load moves less) */
    if (len < sizeof(line))
        len += (size_t)snprintf(line + len, sizeof(line) - len,
                                "; ready %.1f ms after the program's constructors (monotonic %.3f .. %.3f ms; cpu "
                                "%.1f ms)\n",
                                st.ready - st.t0, st.t0, st.ready, st.ready_cpu);
    if (len > sizeof(line))
        len = sizeof(line);
    ssize_t w = write(2, line, len);
    (void)w;
}
