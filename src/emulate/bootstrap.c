/*
 * bootstrap.c: the function's process for `kumo emulate lambda`: its
 * environment (the caller's, with the package's kumo.yaml env: and
 * Lambda's variables set over it), one
 * child in its own process group started in the extracted package, and
 * what happens when it goes: the request it was serving (or about to
 * serve) gets a 502 problem, and the next request starts it again.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "emulate/emulate_internal.h"

extern char **environ;

static void close_runtime_conns(kumo__emu *e)
{
    for (kumo__emu_conn *c = e->conns, *next; c; c = next) {
        next = c->next;
        if (c->kind == CONN_RUNTIME)
            kumo__emu_conn_close(e, c);
    }
    e->next_conn = NULL;
}

void kumo__emu_kill_child(kumo__emu *e, int sig)
{
    if (e->pid > 0) {
        kill(-e->pid, sig);
        if (sig == SIGKILL)
            e->doomed = 1;
    }
}

void kumo__emu_print_ready(kumo__emu *e)
{
    if (e->printed)
        return;
    e->printed = 1;
    printf("kumo emulate: serving http://%s:%d (bootstrap pid %d)\n", e->o->host ? e->o->host : "127.0.0.1",
           e->pub_port, (int)e->pid);
    fflush(stdout);
}

int kumo__emu_build_env(kumo__emu *e)
{
    static const char *const ours[] = {"AWS_LAMBDA_RUNTIME_API",
                                       "LAMBDA_TASK_ROOT",
                                       "_HANDLER",
                                       "AWS_LAMBDA_FUNCTION_NAME",
                                       "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                                       "AWS_LAMBDA_FUNCTION_VERSION",
                                       "AWS_REGION",
                                       "AWS_DEFAULT_REGION",
                                       "AWS_EXECUTION_ENV",
                                       "LAMBDA_RUNTIME_DIR"};
    size_t n = 0;
    while (environ[n])
        n++;
    size_t nours = sizeof(ours) / sizeof(ours[0]), ndeclared = 0;
    while (e->unit_env && e->unit_env[ndeclared])
        ndeclared++;
    e->envp = calloc(n + nours + ndeclared + 1, sizeof(char *));
    if (e->envp == NULL)
        return -1;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int mine = 0;
        for (size_t k = 0; k < nours && !mine; k++) {
            size_t l = strlen(ours[k]);
            mine = strncmp(environ[i], ours[k], l) == 0 && environ[i][l] == '=';
        }
        for (size_t k = 0; k < ndeclared && !mine; k++) { /* kumo.yaml's env: wins over the caller's */
            size_t l = (size_t)(strchr(e->unit_env[k], '=') - e->unit_env[k]);
            mine = strncmp(environ[i], e->unit_env[k], l + 1) == 0;
        }
        if (!mine && (e->envp[w] = strdup(environ[i])) != NULL)
            w++;
    }
    for (size_t k = 0; k < ndeclared; k++)
        if ((e->envp[w] = strdup(e->unit_env[k])) != NULL)
            w++;
    const char *vals[] = {NULL,        e->dir,    e->handler,
                          e->function, e->memory, "$LATEST",
                          e->region,   e->region, "AWS_Lambda_provided.al2023",
                          e->dir};
    char api[64];
    snprintf(api, sizeof(api), "127.0.0.1:%d", e->rt_port);
    vals[0] = api;
    for (size_t k = 0; k < nours; k++) {
        size_t l = strlen(ours[k]) + strlen(vals[k]) + 2;
        char *s = malloc(l);
        if (s == NULL)
            return -1;
        snprintf(s, l, "%s=%s", ours[k], vals[k]);
        e->envp[w++] = s;
    }
    e->envp[w] = NULL;
    return 0;
}

int kumo__emu_spawn(kumo__emu *e)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        setpgid(0, 0);
        signal(SIGPIPE, SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (chdir(e->dir) == 0) {
            char *argv[] = {"./bootstrap", NULL};
            execve("./bootstrap", argv, e->envp);
        }
        fprintf(stderr, "kumo emulate: cannot run %s/bootstrap: %s\n", e->dir, strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    e->pid = pid;
    e->child = CHILD_STARTING;
    e->child_started_ms = kumo__mono_ms();
    e->child_answered = 0;
    e->doomed = 0;
    return 0;
}

/* The bootstrap is gone (exited, or killed by us): kumo__emu_answer what it owed. */
static void child_gone(kumo__emu *e, int status)
{
    char why[160];
    if (WIFSIGNALED(status))
        snprintf(why, sizeof(why), "killed by signal %d", WTERMSIG(status));
    else
        snprintf(why, sizeof(why), "exited with status %d", WEXITSTATUS(status));
    int was = e->child;
    kumo__emu_kill_child(e, SIGKILL); /* whatever it left in its group */
    e->pid = 0;
    e->child = CHILD_NONE;
    e->doomed = 0;
    close_runtime_conns(e);
    if (e->stopping)
        return;
    char detail[512];
    if (e->busy) {
        snprintf(detail, sizeof(detail), "the function's bootstrap %s during the invocation", why);
        if (e->inflight) {
            kumo__emu_respond_problem(e, e->inflight, 502, detail, e->inflight_id);
            kumo__emu_log_request(e, 502, e->inflight->started_ms);
        }
        e->busy = 0;
        e->inflight = NULL;
    } else if (was == CHILD_STARTING && !e->child_answered && e->q_head) {
        kumo__emu_conn *c = e->q_head;
        e->q_head = c->queued;
        if (e->q_head == NULL)
            e->q_tail = NULL;
        snprintf(detail, sizeof(detail),
                 "the function's bootstrap %s before asking for an event (an init failure); see its output", why);
        char id[37];
        kumo__emu_uuid(id);
        kumo__emu_remember(e, c);
        kumo__emu_respond_problem(e, c, 502, detail, id);
        kumo__emu_log_request(e, 502, c->started_ms);
    } else if (!e->child_answered) {
        fprintf(stderr, "kumo emulate: the bootstrap %s; it starts again on the next request\n", why);
    }
    e->busy = 0;
    kumo__emu_print_ready(e);
}

void kumo__emu_reap(kumo__emu *e)
{
    int status;
    pid_t p;
    while ((p = waitpid(-1, &status, WNOHANG)) > 0)
        if (p == e->pid)
            child_gone(e, status);
}

/* SIGTERM to the bootstrap's group, SIGKILL after a grace period. */
void kumo__emu_stop_child(kumo__emu *e)
{
    if (e->pid <= 0)
        return;
    kumo__emu_kill_child(e, SIGTERM);
    uint64_t until = kumo__mono_ms() + STOP_GRACE_MS;
    int status;
    while (kumo__mono_ms() < until) {
        if (waitpid(e->pid, &status, WNOHANG) == e->pid) {
            kumo__emu_kill_child(e, SIGKILL);
            e->pid = 0;
            return;
        }
        usleep(20000);
    }
    kumo__emu_kill_child(e, SIGKILL);
    waitpid(e->pid, &status, 0);
    e->pid = 0;
}
