/*
 * spawner.c: a loop's side of its fork server (forkserver.h).
 *
 * kumo__spawner_start execs `kumo-worker --fork-server` once, with every
 * unit of the project and its sandbox settings. Pools then ask it for
 * workers (kumo__spawner_spawn), learn each worker's pid (SPAWNED) and, when
 * one ends, its exit status (EXITED), which kumo__spawner_exit_status hands
 * out like waitpid(WNOHANG) would. The control socket is watched by the
 * loop (readable: drain the messages); during shutdown, when the loop no
 * longer runs, kumo__spawner_poll drains it directly.
 */
#include "runtime/runtime.h"

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/fsproto.h"


#define EXITS_MAX 1024

typedef struct exit_record {
    pid_t pid;
    int status;
    int oom;                   /* the memory cgroup's OOM killer struck */
} exit_record;

struct kumo__spawner {
    pid_t pid;                 /* the fork server */
    int sock;                  /* control socket (non-blocking) */
    h2o_socket_t *watch;       /* readability of sock, on the loop */
    uint32_t next_tag;
    exit_record exits[EXITS_MAX]; /* exits not yet claimed by a pool */
    size_t nexits;
    kumo__spawner_pid_cb *on_pid;
    kumo__spawner_exit_cb *on_exit;
    void *cb_data;
    int dead;                  /* the fork server is gone */
};

static void drain(kumo__spawner *s)
{
    for (;;) {
        kumo__fs_msg m;
        int fd;
        int rc = kumo__fs_recv(s->sock, &m, &fd);
        if (fd >= 0)
            close(fd);
        if (rc == -EAGAIN)
            return;
        if (rc <= 0) {
            if (!s->dead)
                kumo__log_event("error", "the fork server (pid %d) went away; workers now start without it",
                                (int)s->pid);
            s->dead = 1;
            return;
        }
        if (m.op == KUMO_FS_SPAWNED) {
            if (s->on_pid)
                s->on_pid(s->cb_data, m.tag, m.pid, m.err);
        } else if (m.op == KUMO_FS_EXITED) {
            if (s->nexits == EXITS_MAX) { /* unclaimed for long: drop the oldest */
                memmove(s->exits, s->exits + 1, (EXITS_MAX - 1) * sizeof(s->exits[0]));
                s->nexits--;
            }
            s->exits[s->nexits++] = (exit_record){m.pid, m.status, m.err == 1};
            if (s->on_exit)
                s->on_exit(s->cb_data, m.pid);
        }
    }
}

static void on_readable(h2o_socket_t *sock, const char *err)
{
    kumo__spawner *s = sock->data;
    drain(s);
}

kumo__spawner *kumo__spawner_start(struct st_h2o_evloop_t *loop, const kumo__spawner_config *cfg, kumo__error *err)
{
    int sv[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    int fa_ok = 0;
    char **argv = NULL;
    char (*nums)[2][24] = NULL;
    kumo__spawner *s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto oom;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        kumo__error_set(err, -errno, "socketpair: %s", strerror(errno));
        goto fail;
    }
    if (sv[1] == 3) {
        int fd = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
        if (fd < 0) {
            kumo__error_set(err, -errno, "fcntl: %s", strerror(errno));
            goto fail;
        }
        close(sv[1]);
        sv[1] = fd;
    }
    size_t n = 0, cap = 16 + 6 * cfg->nunits;
    argv = calloc(cap, sizeof(*argv));
    nums = calloc(cfg->nunits ? cfg->nunits : 1, sizeof(*nums));
    char spares[16];
    if (argv == NULL || nums == NULL)
        goto oom;
    snprintf(spares, sizeof(spares), "%d", cfg->spares);
    argv[n++] = "kumo-worker";
    argv[n++] = "--fork-server";
    argv[n++] = "--spares";
    argv[n++] = spares;
    if (cfg->project_dir) {
        argv[n++] = "--project";
        argv[n++] = (char *)cfg->project_dir;
    }
    if (cfg->data_dir) {
        argv[n++] = "--data";
        argv[n++] = (char *)cfg->data_dir;
    }
    if (cfg->net)
        argv[n++] = "--net";
    for (size_t i = 0; i < cfg->nunits; i++) {
        const kumo__spawner_unit *u = &cfg->units[i];
        snprintf(nums[i][0], sizeof(nums[i][0]), "%zu", u->memory);
        snprintf(nums[i][1], sizeof(nums[i][1]), "%u", u->timeout_ms);
        argv[n++] = "--unit";
        argv[n++] = (char *)u->name;
        argv[n++] = (char *)u->so_path;
        argv[n++] = (char *)u->layers;
        argv[n++] = nums[i][0];
        argv[n++] = nums[i][1];
    }
    argv[n] = NULL;
    posix_spawn_file_actions_init(&fa);
    fa_ok = 1;
    posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
    int rc = posix_spawn(&s->pid, kumo__worker_path(), &fa, NULL, argv, cfg->envp);
    if (rc != 0) {
        kumo__error_set(err, -rc, "cannot start the fork server %s: %s", kumo__worker_path(), strerror(rc));
        goto fail;
    }
    posix_spawn_file_actions_destroy(&fa);
    fa_ok = 0;
    close(sv[1]);
    sv[1] = -1;
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    s->sock = sv[0];
    s->watch = h2o_evloop_socket_create(loop, dup(sv[0]), H2O_SOCKET_FLAG_DONT_READ);
    s->watch->data = s;
    h2o_socket_read_start(s->watch, on_readable);
    free(argv);
    free(nums);
    return s;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
fail:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    free(argv);
    free(nums);
    free(s);
    return NULL;
}

void kumo__spawner_set_callbacks(kumo__spawner *s, kumo__spawner_pid_cb *on_pid, kumo__spawner_exit_cb *on_exit,
                                 void *data)
{
    s->on_pid = on_pid;
    s->on_exit = on_exit;
    s->cb_data = data;
}

int kumo__spawner_spawn(kumo__spawner *s, int unit, int fd, uint32_t *tag)
{
    if (s->dead)
        return -ECHILD;
    kumo__fs_msg m = {.op = KUMO_FS_SPAWN, .tag = ++s->next_tag, .unit = unit};
    *tag = m.tag;
    int rc = kumo__fs_send(s->sock, &m, fd);
    if (rc == -EAGAIN) { /* the fork server is behind: wait for room, briefly */
        struct pollfd p = {s->sock, POLLOUT, 0};
        poll(&p, 1, 100);
        rc = kumo__fs_send(s->sock, &m, fd);
    }
    if (rc != 0 && rc != -EAGAIN)
        s->dead = 1;
    return rc;
}

int kumo__spawner_exit_status(kumo__spawner *s, pid_t pid, int *status, int *oom)
{
    for (size_t i = 0; i < s->nexits; i++)
        if (s->exits[i].pid == pid) {
            *status = s->exits[i].status;
            *oom = s->exits[i].oom;
            s->exits[i] = s->exits[--s->nexits];
            return 1;
        }
    return s->dead ? -ECHILD : 0;
}

void kumo__spawner_poll(kumo__spawner *s, int timeout_ms)
{
    struct pollfd p = {s->sock, POLLIN, 0};
    if (!s->dead && poll(&p, 1, timeout_ms) > 0)
        drain(s);
}

pid_t kumo__spawner_stop_nowait(kumo__spawner *s)
{
    if (s == NULL)
        return 0;
    h2o_socket_read_stop(s->watch);
    h2o_socket_close(s->watch);
    close(s->sock); /* EOF: the fork server exits */
    pid_t pid = s->pid;
    free(s);
    return kumo__spawner_reap(pid, 0) ? 0 : pid;
}

int kumo__spawner_reap(pid_t pid, int force)
{
    int status;
    if (force)
        kill(pid, SIGKILL);
    pid_t got = waitpid(pid, &status, force ? 0 : WNOHANG);
    return got != 0;
}

void kumo__spawner_stop(kumo__spawner *s)
{
    if (s == NULL)
        return;
    h2o_socket_read_stop(s->watch);
    h2o_socket_close(s->watch);
    close(s->sock); /* EOF: the fork server exits */
    int status;
    for (int i = 0; i < 200; i++) {
        if (waitpid(s->pid, &status, WNOHANG) != 0)
            break;
        if (i == 199) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            break;
        }
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    free(s);
}
