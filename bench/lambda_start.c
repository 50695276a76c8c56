/*
 * lambda_start.c: how long a Lambda bootstrap takes from its start to its
 * first GET /next, timed from C (bench/deploy.py builds and runs it).
 *
 *   lambda_start RUNS DIR...   each DIR holds an unpacked package
 *
 * Copied to DIR/bootstrap, the same program is the peer: a bootstrap that
 * does nothing but connect and ask for the next event.
 *
 * For each of RUNS rounds and each DIR in turn (interleaved, so that the
 * machine's load falls on all alike): a listening socket on loopback is the
 * Runtime API (AWS_LAMBDA_RUNTIME_API), DIR/bootstrap is started with
 * posix_spawn, and the time runs until its GET /next has arrived whole
 * (the blank line after its headers). The bootstrap is then killed. The
 * Python bench's own figure also holds Python's fork and exec and its HTTP
 * server's thread; this one leaves only the bootstrap's start and a
 * loopback connection, and the peer shows what those cost a C program
 * that does nothing else.
 *
 * Prints, per DIR: "DIR: p50 X ms, p90 Y ms (RUNS runs, F failed)".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The peer bootstrap: connect to the Runtime API, ask for the next event,
 * wait to be killed. */
static int bootstrap(void)
{
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    char host[64];
    const char *colon = api ? strrchr(api, ':') : NULL;
    if (colon == NULL || (size_t)(colon - api) >= sizeof(host))
        return 2;
    memcpy(host, api, (size_t)(colon - api));
    host[colon - api] = '\0';
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 || connect(s, (struct sockaddr *)&a, sizeof(a)) != 0)
        return 1;
    char req[256];
    int n = snprintf(req, sizeof(req), "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: %s\r\n\r\n", api);
    if (write(s, req, (size_t)n) != n)
        return 1;
    pause();
    return 0;
}

/* One start of dir/bootstrap: ms until its GET /next arrived, or -1. */
static double one_start(int listener, const char *dir)
{
    char boot[4096];
    snprintf(boot, sizeof(boot), "%s/bootstrap", dir);
    char *argv[] = {boot, NULL};
    pid_t pid;
    double t0 = now_ms(), took = -1;
    /* what it says goes nowhere: the figures are the output */
    posix_spawn_file_actions_t quiet;
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&quiet, 2, "/dev/null", O_WRONLY, 0);
    int spawned = posix_spawn(&pid, boot, &quiet, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&quiet);
    if (spawned != 0)
        return -1;
    struct pollfd p = {.fd = listener, .events = POLLIN};
    if (poll(&p, 1, 10000) == 1) {
        int c = accept(listener, NULL, NULL);
        char buf[4096];
        size_t got = 0;
        while (c >= 0 && got < sizeof(buf) - 1) {
            struct pollfd q = {.fd = c, .events = POLLIN};
            if (poll(&q, 1, 10000) != 1)
                break;
            ssize_t r = read(c, buf + got, sizeof(buf) - 1 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
            buf[got] = '\0';
            if (strncmp(buf, "GET ", 4) == 0 && strstr(buf, "\r\n\r\n")) {
                took = now_ms() - t0;
                break;
            }
        }
        if (c >= 0)
            close(c);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return took;
}

int main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    if (strcmp(base ? base + 1 : argv[0], "bootstrap") == 0)
        return bootstrap();
    if (argc < 3 || atoi(argv[1]) <= 0) {
        fprintf(stderr, "usage: lambda_start RUNS DIR...\n");
        return 2;
    }
    int runs = atoi(argv[1]), ndirs = argc - 2;
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (listener < 0 || bind(listener, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(listener, 16) != 0 ||
        getsockname(listener, (struct sockaddr *)&a, &alen) != 0) {
        perror("lambda_start: listen");
        return 1;
    }
    char api[64];
    snprintf(api, sizeof(api), "127.0.0.1:%u", ntohs(a.sin_port));
    setenv("AWS_LAMBDA_RUNTIME_API", api, 1);
    double *ms = calloc((size_t)runs * (size_t)ndirs, sizeof(double));
    int *failed = calloc((size_t)ndirs, sizeof(int)), *ok = calloc((size_t)ndirs, sizeof(int));
    if (ms == NULL || failed == NULL || ok == NULL)
        return 1;
    for (int r = 0; r < runs; r++)
        for (int d = 0; d < ndirs; d++) {
            double t = one_start(listener, argv[2 + d]);
            if (t < 0)
                failed[d]++;
            else
                ms[(size_t)d * (size_t)runs + (size_t)ok[d]++] = t;
        }
    for (int d = 0; d < ndirs; d++) {
        double *v = ms + (size_t)d * (size_t)runs;
        if (ok[d] == 0) {
            printf("%s: no start reached GET /next (%d failed)\n", argv[2 + d], failed[d]);
            continue;
        }
        qsort(v, (size_t)ok[d], sizeof(double), cmp_double);
        printf("%s: p50 %.2f ms, p90 %.2f ms (%d runs, %d failed)\n", argv[2 + d], v[ok[d] / 2], v[ok[d] * 9 / 10],
               runs, failed[d]);
    }
    return 0;
}
