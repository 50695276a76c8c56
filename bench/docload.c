/*
 * docload.c: times the steps from an OpenAPI document on disk to a router,
 * for bench/docload.sh. Each step runs RUNS times; prints the median and
 * the spread (min, max) in milliseconds:
 *   libyaml      libyaml's event loop alone, the events dropped (YAML only;
 *                the floor for reading YAML)
 *   doc_load     kumo__doc_load: text -> jansson tree + every position
 *   spec_load    kumo__spec_load (doc_load + the spec: operations, $refs)
 *   router       kumo__router_build on the loaded spec
 *   checks       kumo__opcheck_build for every operation (what kumo up
 *                compiles before serving; kumo mock does it per operation
 *                on its first request)
 *
 *   docload FILE [RUNS] [STEP]     (STEP: libyaml, doc or spec; all when absent)
 *
 * With DOCLOAD_CPU=1 the times are the process's CPU time, not wall time.
 */
#include "openapi/check.h"
#include "openapi/openapi.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

/* CLOCK_MONOTONIC, or the process's CPU time with DOCLOAD_CPU=1 (steadier
 * on a machine other jobs share) */
static clockid_t clock_id = CLOCK_MONOTONIC;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(clock_id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    double med = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    printf("%-10s median %7.1f ms  (min %.1f, max %.1f, %d runs)\n", what, med, t[0], t[n - 1], n);
}

/* libyaml's parser over the text, every event dropped; -1 on a syntax error. */
static int yaml_events(const unsigned char *text, size_t len, size_t *nevents)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return -1;
    yaml_parser_set_input_string(&parser, text, len);
    int rc = 0;
    *nevents = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = -1;
            break;
        }
        int done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        (*nevents)++;
        if (done)
            break;
    }
    yaml_parser_delete(&parser);
    return rc;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return NULL;
    unsigned char *t = malloc((size_t)st.st_size + 1);
    ssize_t n = t ? read(fd, t, (size_t)st.st_size) : -1;
    close(fd);
    if (n != st.st_size) {
        free(t);
        return NULL;
    }
    *len = (size_t)n;
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: docload FILE [RUNS]\n");
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 9;
    if (runs < 1)
        runs = 1;
    const char *path = argv[1];
    const char *cpu = getenv("DOCLOAD_CPU");
    if (cpu && strcmp(cpu, "1") == 0)
        clock_id = CLOCK_PROCESS_CPUTIME_ID;
    size_t len = 0;
    unsigned char *text = slurp(path, &len);
    if (text == NULL) {
        perror(path);
        return 1;
    }
    size_t n = strlen(path);
    int is_json = n > 5 && strcmp(path + n - 5, ".json") == 0;
    const char *step = argc > 3 ? argv[3] : "all";
    int all = strcmp(step, "all") == 0;
    double *t = calloc((size_t)runs, sizeof *t);
    if (t == NULL)
        return 1;
    printf("%s: %zu bytes (%s time)\n", path, len, clock_id == CLOCK_MONOTONIC ? "wall" : "CPU");

    if (!is_json && (all || strcmp(step, "libyaml") == 0)) {
        size_t nev = 0;
        for (int i = 0; i < runs; i++) {
            double t0 = now_ms();
            if (yaml_events(text, len, &nev) < 0) {
                fprintf(stderr, "%s: libyaml refuses it\n", path);
                return 1;
            }
            t[i] = now_ms() - t0;
        }
        report("libyaml", t, runs);
        printf("           (%zu events)\n", nev);
    }
    free(text);

    for (int i = 0; i < runs && (all || strcmp(step, "doc") == 0); i++) {
        kumo__doc *doc = NULL;
        kumo__error err = {0};
        double t0 = now_ms();
        if (kumo__doc_load(path, &doc, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        t[i] = now_ms() - t0;
        kumo__doc_free(doc);
    }
    if (all || strcmp(step, "doc") == 0)
        report("doc_load", t, runs);
    if (!all && strcmp(step, "spec") != 0) {
        free(t);
        return 0;
    }

    double *tr = calloc((size_t)runs, sizeof *tr);
    double *tc = calloc((size_t)runs, sizeof *tc);
    size_t nops = 0;
    for (int i = 0; i < runs && tr; i++) {
        kumo__spec *spec = NULL;
        kumo__router *router = NULL;
        kumo__error err = {0};
        double t0 = now_ms();
        if (kumo__spec_load(path, &spec, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double t1 = now_ms();
        if (kumo__router_build(spec, &router, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        tr[i] = now_ms() - t1;
        t[i] = t1 - t0;
        double t2 = now_ms();
        kumo__opcheck **checks = calloc(spec->nops + 1, sizeof *checks);
        if (checks && kumo__opcheck_build_all(spec, checks, &err) < 0) { /* all kept, as kumo up keeps them */
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        if (tc)
            tc[i] = now_ms() - t2;
        for (size_t k = 0; k < spec->nops && checks; k++)
            kumo__opcheck_free(checks[k]);
        free(checks);
        nops = spec->nops;
        kumo__router_free(router);
        kumo__spec_free(spec);
    }
    report("spec_load", t, runs);
    report("router", tr, runs);
    if (tc)
        report("checks", tc, runs);
    printf("           (%zu operations)\n", nops);
    free(tr);
    free(tc);
    free(t);
    return 0;
}
