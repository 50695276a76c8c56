/*
 * spawner.c: how a loop's workers are started (runtime.h's kumo__spawner),
 * with both strategies behind the one interface pool.c sees.
 *
 * The fork server: kumo__spawner_start execs `kumo-worker --fork-server`
 * once, with every unit of the project and its sandbox settings. A spawn is
 * then a SPAWN message carrying the worker's socket; the fork server says
 * which pid it became (SPAWNED) and, when it ends, its exit status
 * (EXITED), which kumo__spawner_exit_status hands out like waitpid(WNOHANG)
 * would. The control socket is watched by the loop (readable: drain the
 * messages); during shutdown, when the loop no longer runs,
 * kumo__spawner_poll drains it directly.
 *
 * The fallback: when the fork server cannot start, each worker is exec'd
 * (posix_spawn) as a child of the gateway, and the spawner waits for it and
 * releases its memory cgroup itself. Both strategies start workers from
 * the same kumo__spawner_unit, with the same explicit environment (the
 * config's envp, never the gateway's `environ`).
 *
 * A fork server that dies (killed, crashed) is noticed on its control
 * socket: the spawner reaps it at once, sweeps the memory cgroups its
 * spares and workers leave, counts its workers' exits as lost, and starts
 * another one from the loop's timer: at once the first time, then after a
 * backoff (RESTART_MIN_MS doubling up to RESTART_MAX_MS) while each one
 * dies within STABLE_MS of its start. Meanwhile workers are exec'd directly. Each death
 * and restart is logged.
 */
#include "runtime/runtime.h"
#include "sandbox/sandbox.h"

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "proto/fsproto.h"

#define EXITS_MAX 1024
/* Restarting a fork server that died: see the file's comment. */
#define RESTART_MIN_MS 250
#define RESTART_MAX_MS 30000
#define STABLE_MS 10000
#define ORPHAN_SCAN_MS 20
/* SPAWN messages waiting for room in the control socket (the fork server is
 * behind); past this many, workers are exec'd directly instead. */
#define QUEUE_MAX 256
/* A spare is primed this long after the last was taken or refused: not
 * at once, where the fork server and the spare would run beside the cold
 * start that took the last one, and soon, so that the fork server's next
 * fork (5 ms after its last message) is over before the next cold start
 * is likely. */
#define PRIME_DELAY_MS 2

typedef struct exit_record {
    pid_t pid;
    int status;
    int oom; /* the memory cgroup's OOM killer struck */
} exit_record;

typedef struct queued_spawn {
    uint32_t tag;
    int unit;
    int fd; /* our own copy of the worker's end */
} queued_spawn;

/* A set of pids (small: a loop's workers). */
typedef struct pid_list {
    pid_t *v;
    size_t n, cap;
} pid_list;

/* Adds pid; out of memory it is left out (its exit is then only not
 * matched: the pool times it out as lost). */
static void pid_list_add(pid_list *l, pid_t pid)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        pid_t *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = pid;
}

/* Removes pid: 1 when it was there. */
static int pid_list_take(pid_list *l, pid_t pid)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == pid) {
            l->v[i] = l->v[--l->n];
            return 1;
        }
    return 0;
}

typedef struct spawner {
    kumo__spawner super;
    /* what every worker is started from (owned copies of the config) */
    kumo__spawner_unit *units;
    size_t nunits;
    char *project_dir, *data_dir, *core_dir, *debug_unit;
    char **envp;      /* what every worker gets: kumo's needs and the stores' variables */
    char **fs_envp;   /* the fork server's: envp, then each unit's variables as KUMO__UNIT<i>_NAME=value */
    char ***unit_env; /* per unit: envp with its declared variables (a worker exec'd directly) */
    int net;
    /* the fork server */
    struct st_h2o_evloop_t *loop; /* to start it again */
    int spares;
    pid_t pid;                               /* 0: none running (never started, or reaped) */
    int sock;                                /* control socket (non-blocking); -1: none */
    h2o_socket_t *watch;                     /* readability of sock, on the loop */
    int dead;                                /* no fork server (any more): exec workers */
    uint64_t started_ms;                     /* when the current one started */
    uint64_t restart_at;                     /* dead: when to start another (0: never; it could not start at all) */
    unsigned deaths;                         /* in a row, each within STABLE_MS of its start */
    uint64_t orphans_until, orphans_scanned; /* after a death: when to look for its orphans (reap_orphans) */
    h2o_timeout_t orphan_timeout;            /* ORPHAN_SCAN_MS: looks again while orphans_until */
    h2o_timeout_entry_t orphan_entry;
    int orphan_timer;    /* orphan_timeout was initialised */
    pid_list fs_workers; /* workers the fork server reported and that have not exited */
    pid_list lost;       /* workers of a fork server that died: their status is lost */
    uint32_t next_tag;
    queued_spawn queue[QUEUE_MAX]; /* sent in order once the socket has room */
    size_t nqueued;
    int notifying;                /* waiting for the socket to be writable */
    exit_record exits[EXITS_MAX]; /* exits not yet claimed by a pool */
    size_t nexits;
    kumo__spawner_pid_cb *on_pid;
    kumo__spawner_exit_cb *on_exit;
    void *cb_data;
    /* the primed spare (KUMO__FS_PRIME): a spare of the fork server that
     * holds the other end of `fd` and waits for its unit. A cold start
     * takes it (spawner_take_primed) without a message to the fork server,
     * which a cold start pays with a wakeup of its own. */
    struct {
        int fd;             /* our end; -1: none */
        h2o_socket_t *sock; /* fd, watched by the loop from the prime on (NULL: gone) */
        uint32_t tag;       /* its PRIME's */
        pid_t pid;          /* 0 until SPAWNED says */
        uint32_t fits;      /* the units it may become (bit i: unit i) */
    } primed;
    int prime_off;               /* this fork server does not prime (egress rules, no unit fits) */
    h2o_timeout_t prime_timeout; /* PRIME_DELAY_MS: the next prime, off the cold start's path */
    h2o_timeout_entry_t prime_entry;
    int prime_timer;
    /* the fallback: workers that are our own children, not yet waited for */
    pid_t *direct;
    size_t ndirect, capdirect;
} spawner;

/* ---- the fallback: a worker exec'd as our own child ----------------------- */

/* The one place a unit becomes kumo-worker's arguments: the fork server's
 * `--unit NAME SO LAYERS MEMORY TIMEOUT_MS` (unit_words) and a worker's
 * own `SO NAME --sandbox ... --timeout-ms ...` (worker_argv) are two
 * spellings of the same kumo__spawner_unit fields. */
typedef struct unit_words {
    char memory[24], timeout_ms[24];
} unit_words;

static void unit_words_make(const kumo__spawner_unit *u, unit_words *out)
{
    snprintf(out->memory, sizeof(out->memory), "%zu", u->memory);
    snprintf(out->timeout_ms, sizeof(out->timeout_ms), "%u", u->timeout_ms);
}

#define WORKER_ARGV_MAX 20

/* The arguments both a worker and the fork server take: the project's
 * read-only view, the writable data directory, and the network when a
 * store needs it. Returns the new count. */
static size_t put_sandbox_args(const spawner *s, char **argv, size_t n)
{
    if (s->project_dir) {
        argv[n++] = "--project";
        argv[n++] = s->project_dir;
    }
    if (s->data_dir) {
        argv[n++] = "--data";
        argv[n++] = s->data_dir;
    }
    if (s->net)
        argv[n++] = "--net";
    if (s->core_dir) {
        argv[n++] = "--core-dir";
        argv[n++] = s->core_dir;
    }
    return n;
}

static void worker_argv(const spawner *s, const kumo__spawner_unit *u, unit_words *words, char **argv)
{
    size_t n = 0;
    unit_words_make(u, words);
    argv[n++] = "kumo-worker";
    argv[n++] = (char *)u->so_path;
    argv[n++] = (char *)u->name;
    argv[n++] = "--sandbox";
    argv[n++] = (char *)u->layers;
    argv[n++] = "--memory";
    argv[n++] = words->memory;
    argv[n++] = "--timeout-ms";
    argv[n++] = words->timeout_ms;
    n = put_sandbox_args(s, argv, n);
    if (s->debug_unit && strcmp(s->debug_unit, u->name) == 0)
        argv[n++] = "--debug";
    argv[n] = NULL;
}

static char *const empty_env[] = {NULL};

/* posix_spawn of `path` with `fd` as its fd 3 and environment envp. */
static int exec_with_fd3(char *const *envp, char **argv, int fd, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    int moved = -1;
    if (fd == 3) { /* dup2(3, 3) would keep FD_CLOEXEC */
        if ((moved = fcntl(fd, F_DUPFD_CLOEXEC, 10)) < 0)
            return errno;
        fd = moved;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 3);
    int rc = posix_spawn(pid, kumo__worker_path(), &fa, NULL, argv, envp ? envp : empty_env);
    posix_spawn_file_actions_destroy(&fa);
    if (moved >= 0)
        close(moved);
    return rc;
}

static int spawn_direct(spawner *s, int unit, int fd, pid_t *pid, kumo__error *err)
{
    if (unit < 0 || (size_t)unit >= s->nunits) {
        kumo__error_set(err, -EINVAL, "no unit %d", unit);
        return -EINVAL;
    }
    if (s->ndirect == s->capdirect) {
        size_t cap = s->capdirect ? 2 * s->capdirect : 16;
        pid_t *d = realloc(s->direct, cap * sizeof(*d));
        if (d == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            return -ENOMEM;
        }
        s->direct = d;
        s->capdirect = cap;
    }
    char *argv[WORKER_ARGV_MAX];
    unit_words words;
    worker_argv(s, &s->units[unit], &words, argv);
    int rc = exec_with_fd3(s->unit_env[unit], argv, fd, pid);
    if (rc != 0) {
        kumo__error_set(err, -rc, "cannot start %s: %s", kumo__worker_path(), strerror(rc));
        return -rc;
    }
    s->direct[s->ndirect++] = *pid;
    return 0;
}

/* Index of `pid` among our own children, or -1. */
static ssize_t find_direct(const spawner *s, pid_t pid)
{
    for (size_t i = 0; i < s->ndirect; i++)
        if (s->direct[i] == pid)
            return (ssize_t)i;
    return -1;
}

static void forget_direct(spawner *s, size_t i)
{
    s->direct[i] = s->direct[--s->ndirect];
}

/* An exited child of ours: its memory cgroup (sandbox.c) says whether the
 * kernel killed it for memory, then goes. */
static void settle_direct(spawner *s, size_t i, int *oom)
{
    pid_t pid = s->direct[i];
    *oom = kumo__sandbox_oom_killed(pid) == 1;
    kumo__sandbox_release(pid);
    forget_direct(s, i);
}

/* ---- the fork server ------------------------------------------------------ */

static void on_writable(h2o_socket_t *sock, const char *err);

/* A fork server that dies leaves children: the workers' pid namespace's
 * init (kumo-pid1), and without a namespace its spares and workers, which
 * die by their parent-death signal. The gateway is their subreaper
 * (kumo__spawner_start), so they become its zombies, and nothing else
 * waits for them: they are reaped here, found by name among the gateway's
 * children (never kumo-worker, a worker exec'd by a spawner, which waits
 * for it; never kumo-forkserver). */
static int orphan_name(const char *comm)
{
    return strcmp(comm, "kumo-pid1") == 0 || strcmp(comm, "kumo-spare") == 0 || strncmp(comm, "kumo:", 5) == 0;
}

static void reap_orphans(void)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[64], list[4096];
        snprintf(path, sizeof(path), "/proc/self/task/%.20s/children", e->d_name);
        if (kumo__sandbox_read_file(path, list, sizeof(list)) != 0)
            continue;
        for (char *p = list; *p;) {
            char *end;
            long pid = strtol(p, &end, 10);
            if (end == p)
                break;
            p = end;
            char stat[256], comm[32];
            char state = 0;
            snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
            if (pid <= 0 || kumo__sandbox_read_file(path, stat, sizeof(stat)) != 0)
                continue;
            /* "PID (COMM) STATE ...": COMM may hold spaces or ')' */
            char *open = strchr(stat, '('), *close = strrchr(stat, ')');
            if (open == NULL || close == NULL || close < open || (size_t)(close - open - 1) >= sizeof(comm))
                continue;
            memcpy(comm, open + 1, (size_t)(close - open - 1));
            comm[close - open - 1] = '\0';
            if (close[1] == ' ')
                state = close[2];
            if (state == 'Z' && orphan_name(comm) && waitpid((pid_t)pid, NULL, WNOHANG) == (pid_t)pid)
                kumo__sandbox_release((pid_t)pid);
        }
    }
    closedir(d);
}

/* Looks for a dead fork server's orphans for a while after its death,
 * every 20 ms at most (they die a moment after it). */
static void maybe_reap_orphans(spawner *s)
{
    if (s->orphans_until == 0)
        return;
    uint64_t now = kumo__mono_ms();
    if (now >= s->orphans_until)
        s->orphans_until = 0;
    if (now - s->orphans_scanned < ORPHAN_SCAN_MS && s->orphans_until != 0)
        return;
    s->orphans_scanned = now;
    reap_orphans();
}

static void maybe_restart(spawner *s);

/* The loop's timer after a fork server died: keeps looking while its
 * orphans may still appear, and starts the next fork server once the
 * backoff allows, so that neither waits for the next spawn (a warm pool
 * may not spawn for minutes, and its next cold start wants a spare). */
static void on_orphan_scan(h2o_timeout_entry_t *entry)
{
    spawner *s = H2O_STRUCT_FROM_MEMBER(spawner, orphan_entry, entry);
    maybe_reap_orphans(s);
    maybe_restart(s);
    if ((s->orphans_until != 0 || (s->dead && s->restart_at != 0)) && !h2o_timeout_is_linked(&s->orphan_entry))
        h2o_timeout_link(s->loop, &s->orphan_timeout, &s->orphan_entry);
}

/* "exited with status 1", "killed by signal 9 (Killed)" */
static void describe_status(int status, char *out, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(out, len, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(out, len, "exited with status %d", WEXITSTATUS(status));
}

/* The fork server is gone: reaped now (no zombie waits for a reload), the
 * cgroups of its spares and workers swept, their exits counted as lost,
 * and its restart planned (spawner_spawn starts it). What still waits in
 * the queue is started directly by flush_queue, from the loop
 * (on_writable: a socket whose peer closed is writable), never from inside
 * a pool's call. */
static void primed_drop(spawner *s);

static void fork_server_lost(spawner *s)
{
    if (s->dead)
        return;
    s->dead = 1;
    primed_drop(s);
    if (s->watch)
        h2o_socket_read_stop(s->watch); /* at EOF it would be readable forever */
    for (size_t i = 0; i < s->fs_workers.n; i++)
        pid_list_add(&s->lost, s->fs_workers.v[i]);
    s->fs_workers.n = 0;
    pid_t pid = s->pid;
    char how[96] = "its control socket failed";
    if (pid > 0) {
        int status = 0;
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == 0) { /* alive, but its socket is broken: it is of no more use */
            kill(pid, SIGKILL);
            while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
                ;
        }
        if (got == pid)
            describe_status(status, how, sizeof(how));
        s->pid = 0;
    }
    reap_orphans();
    kumo__sandbox_sweep(); /* its spares' and workers' cgroups, where they are gone already */
    uint64_t now = kumo__mono_ms();
    s->orphans_until = now + 5000;
    if (s->loop != NULL) {
        if (!s->orphan_timer) {
            h2o_timeout_init(s->loop, &s->orphan_timeout, ORPHAN_SCAN_MS);
            s->orphan_entry.cb = on_orphan_scan;
            s->orphan_timer = 1;
        }
        if (!h2o_timeout_is_linked(&s->orphan_entry))
            h2o_timeout_link(s->loop, &s->orphan_timeout, &s->orphan_entry);
    }
    s->deaths = now - s->started_ms < STABLE_MS ? s->deaths + 1 : 1;
    uint64_t delay = 0;
    if (s->deaths > 1) {
        delay = RESTART_MIN_MS;
        for (unsigned i = 2; i < s->deaths && delay < RESTART_MAX_MS; i++)
            delay *= 2;
        if (delay > RESTART_MAX_MS)
            delay = RESTART_MAX_MS;
    }
    s->restart_at = now + delay + 1;
    if (delay == 0)
        kumo__log_event("error", "the fork server (pid %d) died (%s); starting another", (int)pid, how);
    else
        kumo__log_event("error",
                        "the fork server (pid %d) died (%s), %u times in a row within %d s of its start; the next "
                        "starts in %llu ms, and workers start without it meanwhile",
                        (int)pid, how, s->deaths, STABLE_MS / 1000, (unsigned long long)delay);
    if (s->nqueued > 0 && s->watch && !s->notifying) {
        s->notifying = 1;
        h2o_socket_notify_write(s->watch, on_writable);
    }
}

/* Closes the primed spare's socket (it reads EOF and exits), keeping its
 * pid and tag: the fork server's EXITED for it is still recognised. */
static void primed_close(spawner *s)
{
    if (s->primed.sock != NULL)
        h2o_socket_close(s->primed.sock);
    else if (s->primed.fd >= 0)
        close(s->primed.fd);
    s->primed.sock = NULL;
    s->primed.fd = -1;
}

static void primed_drop(spawner *s)
{
    primed_close(s);
    s->primed.pid = 0;
    s->primed.tag = 0;
}

/* The primed socket, watched from the prime on: the spare's HELLO comes
 * as soon as it has the socket, and stays in the input buffer for the
 * pool that takes it (kumo__pool reads it with no wait). EOF or an error:
 * the spare died unused (its EXITED follows). */
static void on_primed_read(h2o_socket_t *sock, const char *err)
{
    spawner *s = sock->data;
    if (err != NULL && s->primed.sock == sock)
        primed_close(s);
}

/* Sends a PRIME when none is out and the fork server takes them. */
static void prime(spawner *s)
{
    if (s->dead || s->prime_off || s->primed.fd >= 0 || s->nqueued > 0 || s->sock < 0)
        return;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return;
    kumo__fs_msg m = {.op = KUMO__FS_PRIME, .tag = ++s->next_tag, .unit = -1};
    if (kumo__fs_send(s->sock, &m, sv[1]) != 0) { /* full, or gone (noticed on its read side) */
        close(sv[0]);
        close(sv[1]);
        return;
    }
    close(sv[1]);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    s->primed.fd = sv[0];
    s->primed.tag = m.tag;
    s->primed.pid = 0;
    /* Registered with the loop now, off the cold start's path: taking the
     * spare then costs the pool no socket setup and no epoll_ctl. */
    s->primed.sock = h2o_evloop_socket_create(s->loop, sv[0], 0);
    s->primed.sock->data = s;
    h2o_socket_read_start(s->primed.sock, on_primed_read);
}

static void on_prime_due(h2o_timeout_entry_t *e)
{
    spawner *s = (spawner *)((char *)e - offsetof(spawner, prime_entry));
    prime(s);
}

/* A prime in PRIME_DELAY_MS. */
static void prime_later(spawner *s)
{
    if (s->loop == NULL || s->prime_off)
        return;
    if (!s->prime_timer) {
        h2o_timeout_init(s->loop, &s->prime_timeout, PRIME_DELAY_MS);
        s->prime_entry.cb = on_prime_due;
        s->prime_timer = 1;
    }
    if (!h2o_timeout_is_linked(&s->prime_entry))
        h2o_timeout_link(s->loop, &s->prime_timeout, &s->prime_entry);
}

static void drain(spawner *s)
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
            fork_server_lost(s);
            return;
        }
        if (m.op == KUMO__FS_SPAWNED && s->primed.fd >= 0 && m.tag == s->primed.tag) {
            if (m.err == 0 && m.pid > 0) {
                s->primed.pid = m.pid;
                s->primed.fits = (uint32_t)m.status;
                pid_list_add(&s->fs_workers, m.pid);
            } else {
                primed_drop(s);
                /* EAGAIN: the fork server could not fork one; asked again
                 * after the next cold start, not in a loop */
                if (m.err != EAGAIN)
                    s->prime_off = 1;
            }
        } else if (m.op == KUMO__FS_SPAWNED) {
            if (m.pid > 0)
                pid_list_add(&s->fs_workers, m.pid);
            if (s->on_pid)
                s->on_pid(s->cb_data, m.tag, m.pid, m.err);
        } else if (m.op == KUMO__FS_EXITED && m.pid == s->primed.pid && s->primed.pid > 0) {
            pid_list_take(&s->fs_workers, m.pid); /* the primed spare died unused: no pool knows it */
            primed_drop(s);
            prime_later(s);
        } else if (m.op == KUMO__FS_EXITED) {
            pid_list_take(&s->fs_workers, m.pid);
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
    drain(sock->data);
}

static void flush_queue(spawner *s);

static void on_writable(h2o_socket_t *sock, const char *err)
{
    spawner *s = sock->data;
    s->notifying = 0;
    if (err != NULL)
        fork_server_lost(s);
    flush_queue(s);
}

/* Sends the queued SPAWNs in order while the socket takes them; waits for
 * it to be writable again (on the loop) when it is full. Once the fork
 * server is gone, starts them directly instead, and tells the pools their
 * pids by tag as the fork server would have. Runs on the loop only. */
static void flush_queue(spawner *s)
{
    size_t done = 0;
    while (done < s->nqueued) {
        queued_spawn *q = &s->queue[done];
        if (!s->dead) {
            kumo__fs_msg m = {.op = KUMO__FS_SPAWN, .tag = q->tag, .unit = q->unit};
            int rc = kumo__fs_send(s->sock, &m, q->fd);
            if (rc == -EAGAIN) {
                if (!s->notifying && s->watch) {
                    s->notifying = 1;
                    h2o_socket_notify_write(s->watch, on_writable);
                }
                break;
            }
            if (rc != 0) {
                fork_server_lost(s);
                continue; /* this one and the rest: directly */
            }
        } else {
            pid_t pid = 0;
            kumo__error err = {0};
            int rc = spawn_direct(s, q->unit, q->fd, &pid, &err);
            if (rc != 0)
                kumo__log_event("error", "%s", err.msg);
            if (s->on_pid)
                s->on_pid(s->cb_data, q->tag, rc == 0 ? pid : 0, rc == 0 ? 0 : -rc);
        }
        close(q->fd);
        done++;
    }
    memmove(s->queue, s->queue + done, (s->nqueued - done) * sizeof(s->queue[0]));
    s->nqueued -= done;
}

/* Puts a SPAWN behind those waiting; 0, or -EAGAIN when the queue is full. */
static int enqueue(spawner *s, uint32_t tag, int unit, int fd)
{
    if (s->nqueued == QUEUE_MAX)
        return -EAGAIN;
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0)
        return -errno;
    s->queue[s->nqueued++] = (queued_spawn){tag, unit, copy};
    if (!s->notifying && s->watch) {
        s->notifying = 1;
        h2o_socket_notify_write(s->watch, on_writable);
    }
    return 0;
}

/* ---- the methods pool.c calls --------------------------------------------- */

static int start_fork_server(spawner *s, kumo__error *err);

/* Starts another fork server once a dead one's backoff has passed. */
static void maybe_restart(spawner *s)
{
    uint64_t now = kumo__mono_ms();
    if (!s->dead || s->restart_at == 0 || now < s->restart_at)
        return;
    if (s->watch) {
        h2o_socket_close(s->watch);
        s->watch = NULL;
    }
    if (s->sock >= 0)
        close(s->sock);
    s->sock = -1;
    s->notifying = 0;
    kumo__error why = {0};
    if (start_fork_server(s, &why) != 0) {
        s->deaths++;
        s->restart_at = now + RESTART_MAX_MS;
        kumo__log_event("error", "%s; trying again in %d s, and workers start without it meanwhile", why.msg,
                        RESTART_MAX_MS / 1000);
        return;
    }
    s->dead = 0;
    s->started_ms = now;
    s->prime_off = 0;
    prime_later(s);
    kumo__log_event("info", "the fork server was started again (pid %d)", (int)s->pid);
    if (s->nqueued > 0) { /* queued while it was down and not flushed yet: they go to the new one */
        s->notifying = 1;
        h2o_socket_notify_write(s->watch, on_writable);
    }
}

static int spawner_spawn(kumo__spawner *base, int unit, int fd, uint32_t *tag, pid_t *pid, kumo__error *err)
{
    spawner *s = (spawner *)base;
    *pid = 0;
    *tag = 0;
    maybe_reap_orphans(s);
    maybe_restart(s);
    if (!s->dead) {
        kumo__fs_msg m = {.op = KUMO__FS_SPAWN, .tag = ++s->next_tag, .unit = unit};
        /* Order is kept: nothing overtakes a queued SPAWN. When the fork
         * server is behind, the SPAWN waits for room on the loop rather
         * than the loop waiting for the fork server. */
        int rc = s->nqueued > 0 ? -EAGAIN : kumo__fs_send(s->sock, &m, fd);
        if (rc == -EAGAIN)
            rc = enqueue(s, m.tag, unit, fd);
        if (rc == 0) {
            *tag = m.tag;
            prime_later(s); /* none was ready for this cold start */
            return 0;
        }
        if (rc != -EAGAIN)
            fork_server_lost(s);
        /* else a long queue: this worker is exec'd directly, as once the
         * fork server is gone */
    }
    return spawn_direct(s, unit, fd, pid, err);
}

static int spawner_take_primed(kumo__spawner *base, int unit, h2o_socket_t **sock, pid_t *pid)
{
    spawner *s = (spawner *)base;
    if (s->dead || s->primed.sock == NULL || s->primed.pid <= 0 || unit < 0 || unit >= 32 ||
        !(s->primed.fits & (1u << unit)))
        return -EAGAIN;
    *sock = s->primed.sock;
    *pid = s->primed.pid;
    s->primed.sock = NULL;
    s->primed.fd = -1;
    s->primed.pid = 0;
    prime_later(s);
    return 0;
}

static int spawner_exit_status(kumo__spawner *base, pid_t pid, int *status, int *oom)
{
    spawner *s = (spawner *)base;
    maybe_reap_orphans(s);
    ssize_t i = find_direct(s, pid);
    if (i >= 0) {
        pid_t got = waitpid(pid, status, WNOHANG);
        if (got == 0 || (got < 0 && errno != ECHILD))
            return 0;
        if (got < 0) { /* not ours after all: nothing to release */
            forget_direct(s, (size_t)i);
            return -ECHILD;
        }
        settle_direct(s, (size_t)i, oom);
        return 1;
    }
    for (size_t k = 0; k < s->nexits; k++)
        if (s->exits[k].pid == pid) {
            *status = s->exits[k].status;
            *oom = s->exits[k].oom;
            s->exits[k] = s->exits[--s->nexits];
            return 1;
        }
    if (pid_list_take(&s->lost, pid))
        return -ECHILD; /* a worker of a fork server that died */
    return s->dead ? -ECHILD : 0;
}

static void spawner_release(kumo__spawner *base, pid_t pid)
{
    spawner *s = (spawner *)base;
    ssize_t i = find_direct(s, pid);
    if (i >= 0) { /* killed: waitpid returns as soon as the kernel has it */
        int status, oom;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        settle_direct(s, (size_t)i, &oom);
        return;
    }
    for (size_t k = 0; k < s->nexits; k++)
        if (s->exits[k].pid == pid) {
            s->exits[k] = s->exits[--s->nexits];
            return;
        }
    if (!pid_list_take(&s->lost, pid))
        pid_list_take(&s->fs_workers, pid);
}

static void spawner_poll(kumo__spawner *base, int timeout_ms)
{
    spawner *s = (spawner *)base;
    if (!s->dead) {
        struct pollfd p = {s->sock, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) > 0)
            drain(s);
        return;
    }
    /* Our own children: their exits are found by waitpid, so only time has
     * to pass. */
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static const kumo__spawner_methods methods = {
    .version = KUMO__SPAWNER_VERSION,
    .spawn = spawner_spawn,
    .exit_status = spawner_exit_status,
    .release = spawner_release,
    .poll = spawner_poll,
    .take_primed = spawner_take_primed,
};

/* ---- starting and stopping ------------------------------------------------ */

static void env_free(char **envp);

static void spawner_free(spawner *s)
{
    primed_drop(s);
    if (s->prime_timer) {
        if (h2o_timeout_is_linked(&s->prime_entry))
            h2o_timeout_unlink(&s->prime_entry);
        h2o_timeout_dispose(s->loop, &s->prime_timeout);
    }
    if (s->orphan_timer) {
        if (h2o_timeout_is_linked(&s->orphan_entry))
            h2o_timeout_unlink(&s->orphan_entry);
        h2o_timeout_dispose(s->loop, &s->orphan_timeout);
    }
    for (size_t i = 0; i < s->nqueued; i++)
        close(s->queue[i].fd); /* a worker end never handed over: its pool sees EOF */
    for (size_t i = 0; i < s->nunits; i++) {
        free((char *)s->units[i].name);
        free((char *)s->units[i].so_path);
        free((char *)s->units[i].layers);
    }
    free(s->units);
    env_free(s->envp);
    env_free(s->fs_envp);
    for (size_t i = 0; s->unit_env && i < s->nunits; i++)
        env_free(s->unit_env[i]);
    free(s->unit_env);
    free(s->project_dir);
    free(s->data_dir);
    free(s->core_dir);
    free(s->debug_unit);
    free(s->direct);
    free(s->fs_workers.v);
    free(s->lost.v);
    free(s);
}

static void env_free(char **envp)
{
    for (size_t i = 0; envp && envp[i]; i++)
        free(envp[i]);
    free(envp);
}

/* An owned copy of `base` then `extra` (each NULL-terminated, may be
 * NULL); with unit >= 0, each of extra's NAME=value as
 * KUMO__UNIT<unit>_NAME=value, which the fork server hands to that unit's
 * workers alone (forkserver.c). NULL when out of memory. */
static char **env_join(char *const *base, char *const *extra, int unit)
{
    size_t nb = 0, ne = 0;
    while (base && base[nb])
        nb++;
    while (extra && extra[ne])
        ne++;
    char **out = calloc(nb + ne + 1, sizeof(*out));
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < nb; i++)
        if ((out[i] = strdup(base[i])) == NULL)
            goto fail;
    for (size_t i = 0; i < ne; i++) {
        int n = unit >= 0 ? asprintf(&out[nb + i], KUMO__UNIT_ENV_PREFIX "%d_%s", unit, extra[i])
                          : asprintf(&out[nb + i], "%s", extra[i]);
        if (n < 0) {
            out[nb + i] = NULL;
            goto fail;
        }
    }
    return out;
fail:
    env_free(out);
    return NULL;
}

static int copy_str(const char *from, char **to)
{
    *to = NULL;
    return from == NULL || (*to = strdup(from)) != NULL ? 0 : -ENOMEM;
}

/* Owned copies of everything in *cfg that a later spawn reads. */
static int copy_config(spawner *s, const kumo__spawner_config *cfg)
{
    s->net = cfg->net;
    if (copy_str(cfg->project_dir, &s->project_dir) || copy_str(cfg->data_dir, &s->data_dir) ||
        copy_str(cfg->core_dir, &s->core_dir) || copy_str(cfg->debug_unit, &s->debug_unit))
        return -ENOMEM;
    if ((s->units = calloc(cfg->nunits ? cfg->nunits : 1, sizeof(*s->units))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < cfg->nunits; i++) {
        const kumo__spawner_unit *u = &cfg->units[i];
        kumo__spawner_unit *c = &s->units[i];
        s->nunits = i + 1;
        c->memory = u->memory;
        c->timeout_ms = u->timeout_ms;
        if (copy_str(u->name, (char **)&c->name) || copy_str(u->so_path, (char **)&c->so_path) ||
            copy_str(u->layers ? u->layers : "none", (char **)&c->layers))
            return -ENOMEM;
    }
    if ((s->envp = env_join(cfg->envp, NULL, -1)) == NULL || (s->fs_envp = env_join(cfg->envp, NULL, -1)) == NULL ||
        (s->unit_env = calloc(cfg->nunits ? cfg->nunits : 1, sizeof(*s->unit_env))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < cfg->nunits; i++) {
        char **fs_envp = env_join(s->fs_envp, cfg->units[i].env, (int)i);
        if (fs_envp == NULL || (s->unit_env[i] = env_join(cfg->envp, cfg->units[i].env, -1)) == NULL) {
            env_free(fs_envp);
            return -ENOMEM;
        }
        env_free(s->fs_envp);
        s->fs_envp = fs_envp;
    }
    return 0;
}

/* Execs the fork server on a fresh control socket: 0, or an error. */
static int start_fork_server(spawner *s, kumo__error *err)
{
    int sv[2] = {-1, -1};
    char **argv = NULL;
    unit_words *words = NULL;
    int rc = 0;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        kumo__error_set(err, rc = -errno, "socketpair: %s", strerror(errno));
        goto out;
    }
    size_t n = 0, cap = 20 + 6 * s->nunits;
    argv = calloc(cap, sizeof(*argv));
    words = calloc(s->nunits ? s->nunits : 1, sizeof(*words));
    char nspares[16];
    if (argv == NULL || words == NULL) {
        kumo__error_set(err, rc = -ENOMEM, "out of memory");
        goto out;
    }
    snprintf(nspares, sizeof(nspares), "%d", s->spares);
    argv[n++] = "kumo-worker";
    argv[n++] = "--fork-server";
    argv[n++] = "--spares";
    argv[n++] = nspares;
    n = put_sandbox_args(s, argv, n);
    if (s->debug_unit) {
        argv[n++] = "--debug-unit";
        argv[n++] = s->debug_unit;
    }
    for (size_t i = 0; i < s->nunits; i++) {
        const kumo__spawner_unit *u = &s->units[i];
        unit_words_make(u, &words[i]);
        argv[n++] = "--unit";
        argv[n++] = (char *)u->name;
        argv[n++] = (char *)u->so_path;
        argv[n++] = (char *)u->layers;
        argv[n++] = words[i].memory;
        argv[n++] = words[i].timeout_ms;
    }
    argv[n] = NULL;
    if ((rc = exec_with_fd3(s->fs_envp, argv, sv[1], &s->pid)) != 0) {
        kumo__error_set(err, -rc, "cannot start the fork server %s: %s", kumo__worker_path(), strerror(rc));
        rc = -rc;
        s->pid = 0;
        goto out;
    }
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    s->sock = sv[0];
    sv[0] = -1;
    /* Close-on-exec like the socket itself (dup would drop it): a copy in a
     * later fork server or worker would keep this fork server from seeing
     * EOF when the loop closes it, and it would be killed after the grace,
     * its spares' cgroups left behind. */
    s->watch = h2o_evloop_socket_create(s->loop, fcntl(s->sock, F_DUPFD_CLOEXEC, 0), H2O_SOCKET_FLAG_DONT_READ);
    s->watch->data = s;
    h2o_socket_read_start(s->watch, on_readable);
out:
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    free(argv);
    free(words);
    return rc;
}

kumo__spawner *kumo__spawner_start(struct st_h2o_evloop_t *loop, const kumo__spawner_config *cfg, kumo__error *err)
{
    spawner *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    s->super.methods = &methods;
    s->sock = -1;
    s->primed.fd = -1;
    /* Orphans of a fork server that died come to the gateway, which reaps
     * them (reap_orphans), not to an init that might not. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (copy_config(s, cfg) != 0) {
        spawner_free(s);
        kumo__error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->spares = cfg->spares;
    s->started_ms = kumo__mono_ms();
    kumo__error why = {0};
    if (start_fork_server(s, &why) != 0) {
        s->dead = 1; /* and restart_at 0: workers are exec'd from now on */
        kumo__log_event("warn", "%s; workers start one by one instead", why.msg);
    } else {
        prime(s); /* behind the spares the fork server forks as it starts */
    }
    return &s->super;
}

void kumo__spawner_set_callbacks(kumo__spawner *base, kumo__spawner_pid_cb *on_pid, kumo__spawner_exit_cb *on_exit,
                                 void *data)
{
    spawner *s = (spawner *)base;
    s->on_pid = on_pid;
    s->on_exit = on_exit;
    s->cb_data = data;
}

/* Closes the control socket (EOF: the fork server exits); its pid, or 0. */
static pid_t close_control(spawner *s)
{
    if (s->watch) {
        h2o_socket_read_stop(s->watch);
        h2o_socket_close(s->watch);
    }
    if (s->sock >= 0)
        close(s->sock);
    return s->pid;
}

pid_t kumo__spawner_stop_nowait(kumo__spawner *base)
{
    if (base == NULL)
        return 0;
    spawner *s = (spawner *)base;
    pid_t pid = close_control(s);
    spawner_free(s);
    return pid == 0 || kumo__spawner_reap(pid, 0) ? 0 : pid;
}

int kumo__spawner_reap(pid_t pid, int force)
{
    int status;
    if (force)
        kill(pid, SIGKILL);
    pid_t got = waitpid(pid, &status, force ? 0 : WNOHANG);
    if (force) /* killed: its spares and workers die with nobody to remove their cgroups */
        kumo__sandbox_sweep();
    return got != 0;
}

void kumo__spawner_stop(kumo__spawner *base)
{
    if (base == NULL)
        return;
    spawner *s = (spawner *)base;
    pid_t pid = close_control(s);
    int status;
    /* It kills and reaps its spares and workers and removes their cgroups
     * before it exits, which takes a while on a loaded machine (or under
     * a sanitizer's exit checks): up to 3 s, then SIGKILL. */
    for (int i = 0; pid > 0 && i < 600; i++) {
        if (waitpid(pid, &status, WNOHANG) != 0)
            break;
        if (i == 599) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            /* Its children die of their parent-death signal a moment later
             * and come to the gateway (their subreaper) as zombies, which
             * keep their cgroups from the sweep until reaped. */
            for (int k = 0; k < 20; k++) {
                struct timespec ts = {0, 10 * 1000000};
                nanosleep(&ts, NULL);
                reap_orphans();
                kumo__sandbox_sweep();
            }
            break;
        }
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (s->orphans_until)
        reap_orphans();
    spawner_free(s);
}
