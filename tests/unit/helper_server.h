/*
 * helper_server.h: a python3 helper server for a unit test (the ones
 * beside the tests, e.g. sdk/gcp_token_server.py, sdk/httpc_server.py).
 * It is started with its working folder as its one argument, says what
 * the test needs (its ports, its tokens) on the first line of its stdout,
 * and stops when its stdin closes.
 */
#ifndef KUMO_HELPER_SERVER_H
#define KUMO_HELPER_SERVER_H

#include <fcntl.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct helper_server {
    pid_t pid;
    int in; /* its stdin: closed, it stops */
} helper_server;

/* Starts `script` (relative to tests/unit, the tests' working folder) on
 * `dir`, its first line into line (cap bytes): 0, or -1 when it could not
 * start or said nothing. */
static inline int helper_server_start(helper_server *s, const char *script, const char *dir, char *line, size_t cap)
{
    int in[2], out[2];
    s->pid = -1;
    s->in = -1;
    if (pipe(in) != 0 || pipe(out) != 0)
        return -1;
    s->pid = fork();
    if (s->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execlp("python3", "python3", script, dir, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    fcntl(in[1], F_SETFD, FD_CLOEXEC); /* a child the test forks must not keep it alive */
    s->in = in[1];
    FILE *f = fdopen(out[0], "r");
    line[0] = '\0';
    int ok = f && fgets(line, (int)cap, f) != NULL;
    if (f)
        fclose(f);
    return ok && s->pid > 0 ? 0 : -1;
}

static inline void helper_server_stop(helper_server *s)
{
    if (s->in >= 0)
        close(s->in);
    if (s->pid > 0) {
        int st;
        waitpid(s->pid, &st, 0);
    }
    s->in = -1;
    s->pid = -1;
}

#endif
