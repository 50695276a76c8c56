/*
 * spec_load.c: times kumo__spec_load + kumo__router_build on one OpenAPI
 * document, best of N runs, for bench/spec-load.sh. Prints the document's
 * operation count and the best time in milliseconds.
 *
 *   spec_load FILE [RUNS]
 */
#include "openapi/openapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: spec_load FILE [RUNS]\n");
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    double best = -1, load_best = -1;
    size_t nops = 0;
    for (int i = 0; i < runs; i++) {
        kumo__spec *spec = NULL;
        kumo__router *router = NULL;
        kumo__error err = {0};
        double t0 = now_ms();
        if (kumo__spec_load(argv[1], &spec, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double t1 = now_ms();
        if (kumo__router_build(spec, &router, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            kumo__spec_free(spec);
            return 1;
        }
        double t2 = now_ms();
        nops = spec->nops;
        kumo__router_free(router);
        kumo__spec_free(spec);
        if (best < 0 || t2 - t0 < best)
            best = t2 - t0;
        if (load_best < 0 || t1 - t0 < load_best)
            load_best = t1 - t0;
    }
    printf("operations %zu\nspec_load_ms %.1f\nload_and_route_ms %.1f\n", nops, load_best, best);
    return 0;
}
