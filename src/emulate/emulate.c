/*
 * emulate.c: `kumo emulate lambda` (see emulate.h): setting up (the
 * package extracted to a temporary directory, the two listeners, the
 * signals) and the loop.
 *
 * One thread, one poll(2) loop over: the public HTTP listener, the Runtime
 * API listener (127.0.0.1, a free port), their connections (conn.c), and a
 * signalfd for SIGCHLD, SIGINT and SIGTERM. The loop also keeps the two
 * clocks of a Lambda environment: the invocation's timeout (an overrun
 * kills the bootstrap and its request gets a 504) and the init phase's
 * 10 s (a bootstrap that never asks for an event is stopped the same way).
 */
#include "emulate/emulate.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fs.h"
#include "base/store_var.h"
#include "deploy/zip.h"
#include "host/host.h"
#include "project/env.h"
#include "project/project.h"
#include "emulate/emulate_internal.h"

void kumo__emu_uuid(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        uint64_t t = kumo__mono_ms() ^ (uint64_t)getpid() << 32;
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)(t >> (i % 8 * 8)) ^ (unsigned char)i;
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

void kumo__emu_log_request(kumo__emu *e, int status, uint64_t started)
{
    fprintf(stderr, "kumo emulate: %s %s -> %d (%llu ms)\n", e->method, e->path, status,
            (unsigned long long)(kumo__mono_ms() - started));
}

void kumo__emu_remember(kumo__emu *e, kumo__emu_conn *c)
{
    snprintf(e->method, sizeof(e->method), "%s", c->req.method);
    snprintf(e->path, sizeof(e->path), "%.*s", (int)strcspn(c->req.target, "?"), c->req.target);
}

static int serve(kumo__emu *e)
{
    struct pollfd *pfds = calloc(KUMO__EMU_CONNS_MAX + 3, sizeof(*pfds));
    kumo__emu_conn **owners = calloc(KUMO__EMU_CONNS_MAX + 3, sizeof(*owners));
    if (pfds == NULL || owners == NULL) {
        free(pfds);
        free(owners);
        return -ENOMEM;
    }
    while (!e->stopping) {
        size_t n = 0;
        pfds[n++] = (struct pollfd){.fd = e->sig_fd, .events = POLLIN};
        pfds[n++] = (struct pollfd){.fd = e->pub_fd, .events = POLLIN};
        pfds[n++] = (struct pollfd){.fd = e->rt_fd, .events = POLLIN};
        for (kumo__emu_conn *c = e->conns; c && n < KUMO__EMU_CONNS_MAX + 3; c = c->next) {
            short ev = c->state == ST_WRITING ? POLLOUT : c->state == ST_READING ? POLLIN : 0;
            /* a waiting client is watched for hang-ups only */
            owners[n] = c;
            pfds[n++] = (struct pollfd){.fd = c->fd, .events = ev};
        }
        int timeout = -1;
        uint64_t now = kumo__mono_ms();
        if (e->busy)
            timeout = e->deadline_ms > now ? (int)(e->deadline_ms - now) : 0;
        if (e->child == CHILD_STARTING && !e->doomed) {
            uint64_t init_end = e->child_started_ms + INIT_TIMEOUT_MS;
            int t = init_end > now ? (int)(init_end - now) : 0;
            if (timeout < 0 || t < timeout)
                timeout = t;
        }
        int rc = poll(pfds, n, timeout);
        if (rc < 0 && errno != EINTR)
            break;
        now = kumo__mono_ms();
        if (e->busy && now >= e->deadline_ms) {
            unsigned t = e->o->timeout_s ? e->o->timeout_s : 30;
            char detail[200];
            snprintf(detail, sizeof(detail),
                     "the function did not kumo__emu_answer within its timeout of %u s; its bootstrap was stopped (set "
                     "--timeout)",
                     t);
            if (e->inflight) {
                kumo__emu_respond_problem(e, e->inflight, 504, detail, e->inflight_id);
                kumo__emu_log_request(e, 504, e->inflight->started_ms);
            }
            e->busy = 0;
            e->inflight = NULL;
            e->child_answered = 1;
            kumo__emu_kill_child(e, SIGKILL);
        }
        if (e->child == CHILD_STARTING && now >= e->child_started_ms + INIT_TIMEOUT_MS && !e->child_answered) {
            fprintf(stderr, "kumo emulate: the bootstrap did not ask for an event within %d s; stopping it\n",
                    INIT_TIMEOUT_MS / 1000);
            if (e->q_head) {
                kumo__emu_conn *h = e->q_head;
                e->q_head = h->queued;
                if (e->q_head == NULL)
                    e->q_tail = NULL;
                kumo__emu_remember(e, h);
                kumo__emu_respond_problem(e, h, 504, "the function's bootstrap did not finish initialising within 10 s",
                                          NULL);
                kumo__emu_log_request(e, 504, h->started_ms);
            }
            e->child_answered = 1;
            kumo__emu_kill_child(e, SIGKILL);
            kumo__emu_print_ready(e);
        }
        if (rc <= 0)
            continue;
        if (pfds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(e->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGCHLD)
                    kumo__emu_reap(e);
                else
                    e->stopping = 1;
            }
            if (e->stopping)
                break;
        }
        /* connections first (their fds are in this round), then accepts */
        for (size_t i = 3; i < n; i++) {
            if (pfds[i].revents == 0)
                continue;
            kumo__emu_conn *c = owners[i];
            int alive = 0;
            for (kumo__emu_conn *k = e->conns; k && !alive; k = k->next)
                alive = k == c && k->fd == pfds[i].fd;
            if (!alive)
                continue; /* closed earlier in this round */
            if (pfds[i].revents & (POLLERR | POLLHUP | POLLNVAL) && !(pfds[i].revents & POLLIN)) {
                kumo__emu_conn_close(e, c);
                continue;
            }
            if ((pfds[i].revents & POLLOUT) && c->state == ST_WRITING)
                kumo__emu_on_writable(e, c);
            else if (pfds[i].revents & POLLIN)
                kumo__emu_on_readable(e, c);
        }
        if (pfds[1].revents & POLLIN)
            kumo__emu_on_accept(e, e->pub_fd, CONN_PUBLIC);
        if (pfds[2].revents & POLLIN)
            kumo__emu_on_accept(e, e->rt_fd, CONN_RUNTIME);
        kumo__emu_pump(e);
        /* answers queued in this round go out now */
        for (kumo__emu_conn *c = e->conns, *next; c; c = next) {
            next = c->next;
            if (c->state == ST_WRITING && c->out_off == 0)
                kumo__emu_on_writable(e, c);
        }
    }
    free(pfds);
    free(owners);
    return 0;
}

/* A package of kumo-lambda (deploy/bundle.c: the lean Lambda host, which
 * carries the AWS drivers alone) cannot open a store on its local default
 * (SQLite, files), as kumo-host did: said once at start for each store
 * that neither this environment (KUMO_STORE_<NAME>) nor the chosen
 * environment places, rather than as a 503 at the first request. */
static void lean_store_hints(const kumo__emu *e, const kumo__project *p, const char *env)
{
    /* kumo-lambda is the bootstrap (its unit named in a file), or under
     * bin/ behind a shell bootstrap when the package has its own glibc */
    char marker[PATH_MAX + 64], bin[PATH_MAX + 32];
    snprintf(marker, sizeof(marker), "%s/app/%s", e->dir, KUMO__LAMBDA_UNIT_FILE);
    snprintf(bin, sizeof(bin), "%s/bin/kumo-lambda", e->dir);
    if (access(marker, F_OK) != 0 && access(bin, F_OK) != 0)
        return; /* kumo-host, or a package kumo build did not write */
    const kumo__environment *en = env ? kumo__project_environment(p, env) : NULL;
    for (size_t i = 0; i < p->nstores; i++) {
        char var[KUMO__STORE_VAR_MAX];
        if (kumo__store_var(p->stores[i].name, var, sizeof(var)) != 0)
            continue;
        const char *v = getenv(var);
        int placed = v && *v;
        for (size_t k = 0; en && !placed && k < en->nstores; k++)
            placed = strcmp(en->stores[k].store, p->stores[i].name) == 0;
        if (!placed)
            fprintf(stderr,
                    "kumo emulate: store '%s' has no %s here, and this package's kumo-lambda carries the AWS "
                    "drivers alone: its local default (SQLite, files) cannot open. Point %s at DynamoDB, S3, SQS "
                    "or SNS (or moto, LocalStack: ?endpoint=http://...), or build with --host kumo-host\n",
                    p->stores[i].name, var, var);
    }
}

/* The env: of the package's kumo.yaml (app/kumo.yaml) for the unit the
 * package carries (the one whose shared object is in app/; with several,
 * the project's own variables), in environment `env`, expanded from this
 * machine (Lambda gets them as its configuration from the template
 * kumo deploy writes). A package without kumo.yaml has none. */
static int package_env(kumo__emu *e, const char *env, kumo__error *err)
{
    char app[PATH_MAX + 8], yaml[PATH_MAX + 32];
    snprintf(app, sizeof(app), "%s/app", e->dir);
    snprintf(yaml, sizeof(yaml), "%s/kumo.yaml", app);
    if (access(yaml, R_OK) != 0) {
        if (env == NULL)
            return 0;
        kumo__error_set(err, -ENOENT, "--env %s: the package has no app/kumo.yaml to read env: from", env);
        return err->code;
    }
    kumo__project *p = NULL;
    int rc = kumo__project_load_prebuilt(app, &p, err);
    if (rc != 0) {
        kumo__error_wrap(err, "reading the package's kumo.yaml");
        return rc;
    }
    if (env && kumo__project_environment(p, env) == NULL) {
        kumo__error_set(err, -EINVAL, "--env %s: the package's kumo.yaml has no environment '%s'", env, env);
        rc = err->code;
        goto out;
    }
    const kumo__unit *only = NULL;
    size_t present = 0;
    for (size_t i = 0; i < p->nunits; i++)
        if (access(p->units[i].so_path, R_OK) == 0) {
            only = &p->units[i];
            present++;
        }
    rc = kumo__env_unit_block(p, present == 1 ? only : NULL, env, &e->unit_env, err);
    if (rc == 0)
        lean_store_hints(e, p, env);
out:
    kumo__project_free(p);
    return rc;
}

int kumo__lambda_emulate(const kumo__lambda_emulator_opts *o, kumo__error *err)
{
    kumo__emu e = {.o = o, .pub_fd = -1, .rt_fd = -1, .sig_fd = -1};
    int rc = 0, have_dir = 0, blocked = 0;
    sigset_t mask, old;
    /* names and settings */
    const char *base = strrchr(o->zip, '/');
    base = base ? base + 1 : o->zip;
    size_t blen = strlen(base);
    if (blen > 4 && strcmp(base + blen - 4, ".zip") == 0)
        blen -= 4;
    snprintf(e.function, sizeof(e.function), "%.*s", (int)blen, base);
    if (o->function_name)
        snprintf(e.function, sizeof(e.function), "%s", o->function_name);
    const char *region = getenv("AWS_REGION");
    if (region == NULL || *region == '\0')
        region = getenv("AWS_DEFAULT_REGION");
    snprintf(e.region, sizeof(e.region), "%s", region && *region ? region : "us-east-1");
    snprintf(e.handler, sizeof(e.handler), "%s", o->handler ? o->handler : "bootstrap");
    snprintf(e.memory, sizeof(e.memory), "%u", o->memory_mb ? o->memory_mb : 128);
    snprintf(e.arn, sizeof(e.arn), "arn:aws:lambda:%s:123456789012:function:%s", e.region, e.function);

    const char *tmp = getenv("TMPDIR");
    snprintf(e.dir, sizeof(e.dir), "%s/kumo-lambda-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(e.dir) == NULL) {
        kumo__error_set(err, -errno, "cannot create a temporary directory under %s: %s", tmp ? tmp : "/tmp",
                        strerror(errno));
        rc = err->code;
        goto out;
    }
    have_dir = 1;
    rc = kumo__zip_extract(o->zip, e.dir, err);
    if (rc != 0)
        goto out;
    char boot[PATH_MAX + 16];
    snprintf(boot, sizeof(boot), "%s/bootstrap", e.dir);
    struct stat st;
    if (stat(boot, &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0100)) {
        kumo__error_set(err, -ENOENT,
                        "%s: no executable 'bootstrap' at the root of the package; a custom runtime's zip holds one "
                        "(kumo build --target aws writes it)",
                        o->zip);
        rc = err->code;
        goto out;
    }

    if ((rc = package_env(&e, o->env, err)) != 0)
        goto out;

    /* signals through a signalfd, blocked everywhere else; a background
     * job's ignored SIGINT would never reach it, and an ignored SIGCHLD
     * would kumo__emu_reap the bootstrap behind our back */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, &old) != 0) {
        kumo__error_set(err, -errno, "cannot block signals: %s", strerror(errno));
        rc = err->code;
        goto out;
    }
    blocked = 1;
    e.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (e.sig_fd < 0) {
        kumo__error_set(err, -errno, "cannot create a signalfd: %s", strerror(errno));
        rc = err->code;
        goto out;
    }
    e.rt_fd = kumo__emu_listen("127.0.0.1", 0, &e.rt_port, err);
    if (e.rt_fd < 0) {
        rc = err->code;
        goto out;
    }
    e.pub_fd = kumo__emu_listen(o->host ? o->host : "127.0.0.1", o->port, &e.pub_port, err);
    if (e.pub_fd < 0) {
        rc = err->code;
        goto out;
    }
    if (kumo__emu_build_env(&e) != 0) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto out;
    }
    if (kumo__emu_spawn(&e) != 0) {
        kumo__error_set(err, -errno, "cannot start %s: %s", boot, strerror(errno));
        rc = err->code;
        goto out;
    }
    rc = serve(&e);
    if (rc != 0)
        kumo__error_set(err, rc, "the emulator's loop failed: %s", strerror(-rc));
out:
    e.stopping = 1;
    kumo__emu_stop_child(&e);
    while (e.conns)
        kumo__emu_conn_close(&e, e.conns);
    if (e.pub_fd >= 0)
        close(e.pub_fd);
    if (e.rt_fd >= 0)
        close(e.rt_fd);
    if (e.sig_fd >= 0)
        close(e.sig_fd);
    if (blocked)
        sigprocmask(SIG_SETMASK, &old, NULL);
    if (e.envp) {
        for (char **p = e.envp; *p; p++)
            free(*p);
        free(e.envp);
    }
    kumo__env_block_free(e.unit_env);
    if (have_dir)
        kumo__rmtree(e.dir);
    return rc;
}
