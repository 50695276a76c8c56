/*
 * server.c: the HTTP front of `kumo up`, and its start-up (control plane,
 * on the main thread): build the first generation (generation.c), open the
 * listeners (one per loop, sharing the port), print what is served, start
 * one event loop per thread (loop.c), then wait for signals: SIGHUP
 * reloads, SIGTERM and SIGINT drain. Errors are returned up to the CLI.
 * gateway_internal.h maps the other rooms.
 */
#include "gateway/gateway_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/starttime.h"
#include "gateway/h2o_glue.h"
#include "gateway/access_log.h"
#include "gateway/epoll_defer.h"
#include "gateway/mock_modes.h"
#include "gateway/service_mocks.h"
#include "gateway/tls.h"
#include "obs/logstore.h"
#include "sandbox/sandbox.h"

extern char **environ;

/* A loop's listener on *fd, which it now owns (*fd becomes -1): when the
 * loop closes it at a drain, no other copy keeps the socket listening, so
 * a client is refused instead of waiting in a backlog nobody accepts. */
static kumo__listener *listen_on(h2o_evloop_t *loop, int *fd, h2o_accept_ctx_t *actx, const char *name,
                                 size_t max_conns)
{
    kumo__listener *l = kumo__listener_start(loop, *fd, actx, name, max_conns);
    if (l != NULL)
        *fd = -1;
    return l;
}

/* One listening socket on host:port (0: any free port, *bound_port says
 * which); `reuseport` lets the loops' sockets share the port (see
 * open_listeners). */
static int open_listener(const char *host, int port, int reuseport, int *bound_port, kumo__error *err)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        kumo__error_set(err, -EINVAL, "'%s' is not an IPv4 address; use e.g. 127.0.0.1 or 0.0.0.0", host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1024) != 0) {
        kumo__error_set(err, -errno, "cannot listen on %s:%d: %s%s", host, port, strerror(errno),
                        errno == EADDRINUSE ? "; pick another with --port" : "");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *bound_port = ntohs(sa.sin_port);
    return fd;
}

/* A listening socket per loop, all on one port (SO_REUSEPORT): the kernel
 * spreads new connections evenly over the loops, where one shared socket
 * wakes every loop for each connection and leaves the first to accept it
 * with more than its share. A port already in use is refused as before:
 * a socket without SO_REUSEPORT is bound to it first (and closed), so a
 * second kumo up (or anything else) on the port fails with EADDRINUSE
 * instead of silently sharing it. */
static int open_listeners(const char *host, int port, int n, int *fds, int *bound_port, kumo__error *err)
{
    for (int i = 0; i < n; i++)
        fds[i] = -1;
    if (n == 1)
        return (fds[0] = open_listener(host, port, 0, bound_port, err)) < 0 ? -1 : 0;
    int probe = open_listener(host, port, 0, bound_port, err);
    if (probe < 0)
        return -1;
    close(probe);
    for (int i = 0; i < n; i++) {
        if ((fds[i] = open_listener(host, *bound_port, 1, bound_port, err)) < 0) {
            for (int j = 0; j < i; j++) {
                close(fds[j]);
                fds[j] = -1;
            }
            return -1;
        }
    }
    return 0;
}

static void register_handler(h2o_globalconf_t *conf, gateway *gw, int (*on_req)(h2o_handler_t *, h2o_req_t *))
{
    h2o_config_init(conf);
    conf->server_name = h2o_iovec_init(H2O_STRLIT("kumo"));
    h2o_hostconf_t *host = h2o_config_register_host(conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    api_handler *h = (api_handler *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_req;
    h->gw = gw;
    kumo__install_problem_filter(host, path);
}

/* The monitor thread, over gw->metrics, probing the API's own port and
 * naming the admin port in its alerts; then the first generation. Once
 * the loops run (it reads their pools). */
static int start_monitor(gateway *gw, const char *host, kumo__error *err)
{
    char base[300], admin[64];
    /* a wildcard address is reached on loopback */
    const char *to = strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : strcmp(host, "::") == 0 ? "::1" : host;
    snprintf(base, sizeof(base), strchr(to, ':') ? "http://[%s]:%d" : "http://%s:%d", to, gw->port);
    snprintf(admin, sizeof(admin), "http://127.0.0.1:%d", gw->admin_port);
    kumo__monitor *mon = NULL;
    /* the admin listener's descriptor belongs to loop 0 by now: its port says whether there is one; the
     * probes speak plain HTTP: none under http.tls (said at start) */
    int rc = kumo__monitor_start(gw->metrics, gw->ssl_ctx ? NULL : base, gw->admin_port > 0 ? admin : NULL, &mon, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&gw->lock); /* GET /alerts reads it under the lock */
    gw->monitor = mon;
    pthread_mutex_unlock(&gw->lock);
    kumo__gw_monitor_generation(gw, gw->current);
    return 0;
}

static void gateway_free(gateway *gw)
{
    kumo__gw_egress_free(gw);    /* the loops are joined: its jobs go back to nobody */
    kumo__gw_slow_work_free(gw); /* the same; before the generations its jobs point into */
    for (int i = 0; gw->threads && i < gw->nthreads; i++)
        kumo__gw_outlet_free(&gw->threads[i]);
    kumo__mock_set_free(gw->mocks); /* service_mocks.h */
    gw->mocks = NULL;
    if (gw->threads) {
        for (int i = 0; i < gw->nthreads; i++) {
            loop_thread *t = &gw->threads[i];
            kumo__gw_loop_gen_free_list(t->live);
            kumo__gw_loop_gen_free_list(t->retired);
            kumo__gw_loop_gen_free_list(t->spent);
            kumo__gw_free_calls(t); /* after the pools: a call they end lands in the list */
            for (reload_wait *w = t->reload_waits, *next; w; w = next) {
                next = w->next;
                free(w);
            }
        }
        free(gw->threads);
    }
    kumo__monitor_stop(gw->monitor); /* releases the generations it holds */
    gw->monitor = NULL;
    kumo__gw_generation_release(gw->current);
    kumo__gw_event_stats_free(gw);
    kumo__gw_dashboard_stop(gw);
    kumo__tracer_free(gw->tracer);              /* its last export counts into the metrics: before them */
    kumo__logstore_metrics(gw->cfg.logs, NULL); /* before the registry goes */
    kumo__log_set_sink(NULL);                   /* every thread that logs has stopped */
    kumo__metrics_free(gw->metrics);
    if (gw->barrier_ready) {
        pthread_mutex_destroy(&gw->stop_lock);
        pthread_cond_destroy(&gw->stop_cond);
    }
    if (gw->lock_ready) {
        pthread_mutex_destroy(&gw->lock);
    }
    for (int i = 0; gw->listen_fds && i < gw->nlisten; i++)
        if (gw->listen_fds[i] >= 0)
            close(gw->listen_fds[i]);
    free(gw->listen_fds);
    if (gw->admin_fd >= 0)
        close(gw->admin_fd);
    if (gw->ssl_ctx)
        SSL_CTX_free(gw->ssl_ctx); /* the loops are joined: no connection uses it */
}

/* kumo up's start-up lines: what is served, where, and how. */

/* The names of a unit's env: variables (never a value), secrets marked. */
static void print_env(const generation *g, const kumo__unit *unit)
{
    kumo__env_entry *list = NULL;
    size_t n = 0;
    kumo__error err = {0};
    if (kumo__env_effective(g->project, unit, g->stores.env, &list, &n, &err) != 0 || n == 0) {
        free(list);
        return;
    }
    printf("           env:");
    for (size_t i = 0; i < n; i++)
        printf("%s %s%s", i ? "," : "", list[i].var->name, list[i].var->secret ? " (secret)" : "");
    printf("\n");
    free(list);
}

static void print_serving(gateway *gw, const generation *g, const char *host, int built)
{
    const kumo__gateway_config *cfg = &gw->cfg;
    size_t bound = 0;
    for (size_t i = 0; i < g->spec->nops; i++)
        bound += g->spec->ops[i].unit_index >= 0;
    printf("kumo: serving '%s' from %s (%d unit%s rebuilt)\n", g->project->name, g->project->dir, built,
           built == 1 ? "" : "s");
    printf("  API      %s://%s:%d%s/  (%zu operations, %zu with handlers)\n", gw->ssl_ctx ? "https" : "http", host,
           gw->port, g->spec->base_path, g->spec->nops, bound);
    const kumo__tls_config *tls = &g->project->http.edge.tls;
    if (gw->ssl_ctx)
        printf("  tls      %s (HTTP/2 and HTTP/1.1 by ALPN)%s%s%s\n", tls->cert,
               tls->client_ca ? "; client certificates verified against " : "", tls->client_ca ? tls->client_ca : "",
               tls->client_ca ? (tls->client_optional ? " (optional)" : " (required)") : "");
    printf("  conns    at most %zu open per loop (%s)\n", gw->max_conns,
           g->project->http.max_connections > 0 ? "http.max_connections" : "from the open-files limit");
    printf("  spec     %s  (served at /openapi.json, /openapi.yaml; docs at %s://%s:%d/docs)\n", g->project->api_path,
           gw->ssl_ctx ? "https" : "http", host, gw->port);
    for (size_t i = 0; i < g->stores.n; i++)
        printf("  store    %s '%s' -> %s\n", kumo__store_kind_name(g->stores.stores[i].kind), g->stores.stores[i].name,
               g->stores.stores[i].shown);
    printf("  data     %s\n", g->data_dir);
    if (kumo__tracer_recording(gw->tracer))
        printf("  traces   %s (service %s, sampler %s)\n", kumo__tracer_endpoint(gw->tracer),
               kumo__tracer_service(gw->tracer), kumo__sampler_name(kumo__tracer_sampler(gw->tracer)));
    if (gw->admin_fd >= 0)
        printf(
            "  admin    http://127.0.0.1:%d/healthz, /readyz, /status, /metrics; POST /reload (or SIGHUP) reloads%s\n",
            gw->admin_port,
            cfg->admin_token && cfg->admin_token[0] ? "; /status, /reload and /events/NAME/fire need the token" : "");
    if (gw->admin_fd >= 0)
        printf("  dashboard http://127.0.0.1:%d/dashboard  (history %s)\n", gw->admin_port,
               g->project->obs.history_s > 0 && g->project->obs.enabled ? "in .kumo/data/metrics.db" : "off");
    const kumo__monitors_config *mc = &g->project->monitors;
    if (!g->project->obs.enabled)
        printf("  monitors off (observability.enabled: false)\n");
    else
        printf("  monitors every %gs over the metrics, probes %s; alerts after %gs to the log%s%s (GET /alerts, "
               "kumo monitors)\n",
               (double)kumo__monitor_interval_ms() / 1000,
               gw->ssl_ctx                ? "off (they speak plain HTTP; http.tls)"
               : mc->probe_interval_s > 0 ? "on"
                                          : "off",
               mc->for_s, mc->nwebhooks ? " and webhooks: " : "", mc->nwebhooks ? mc->webhooks[0] : "");
    for (size_t u = 0; u < g->project->nunits; u++) {
        const kumo__tuning *t = &g->project->units[u].tuning;
        kumo__sandbox_config sc = {
            .layers = (t->sandbox_seccomp ? KUMO__SANDBOX_SECCOMP : 0u) |
                      (t->sandbox_namespaces ? KUMO__SANDBOX_NAMESPACES : 0u) |
                      (t->sandbox_limits ? KUMO__SANDBOX_LIMITS : 0u) |
                      (t->sandbox_no_new_privs ? KUMO__SANDBOX_NO_NEW_PRIVS : 0u),
            .memory = t->memory,
            .cpu_seconds = kumo__sandbox_cpu_seconds((unsigned)(t->timeout_s * 1000.0)),
            .project_dir = g->project->dir,
            .data_dir = g->data_dir,
            .net = kumo__store_plan_needs_net(&g->stores),
        };
        char layers[512];
        kumo__sandbox_describe(&sc, layers, sizeof(layers));
        printf("  function %s: min %d, max %d, concurrency %d, idle %gs, timeout %gs; %s\n", g->project->units[u].name,
               t->min, t->max, t->concurrency, t->idle_s, t->timeout_s, layers);
        print_env(g, &g->project->units[u]);
    }
    kumo__gw_services_print(g);
    if (cfg->mock)
        printf("  mock     operations without a handler answer mock responses (seed %llu; docs/mocks.md)\n",
               (unsigned long long)cfg->mock_seed);
}

/* The log sink's writer (base/log.h): kumo up's log store. */
static void to_log_store(void *ctx, const char *buf, size_t len)
{
    kumo__logstore_put(ctx, buf, len);
}

int kumo__gateway_run(const kumo__gateway_config *cfg, kumo__error *err)
{
    gateway gwv, *gw = &gwv;
    int rc = 0, started = 0, built = 0;
    sigset_t sigs;

    uint64_t start_ms = kumo__mono_ms();
    memset(gw, 0, sizeof(*gw));
    gw->cfg = *cfg;
    kumo__raise_open_files(); /* one descriptor per connection: take what the hard limit allows */
    gw->admin_fd = -1;
    atomic_init(&gw->draining, 0);
    atomic_init(&gw->bodies_held, 0);
    atomic_init(&gw->generations, 0);
    atomic_init(&gw->current_number, 0);
    pthread_mutex_init(&gw->lock, NULL);
    gw->lock_ready = 1;
    snprintf(gw->id_prefix, sizeof(gw->id_prefix), "%08x", (unsigned)(kumo__epoch_ms() ^ ((uint64_t)getpid() << 20)));
    gw->dev = cfg->dev || cfg->strict;
    gw->strict = cfg->strict;

    gw->start_env = environ;
    gw->nthreads = cfg->threads > 0 ? cfg->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (gw->nthreads < 1)
        gw->nthreads = 1;
    if ((gw->metrics = kumo__metrics_create(gw->nthreads)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto out;
    }
    kumo__logstore_metrics(cfg->logs, gw->metrics); /* kumo_log_lines_dropped_total */
    if (cfg->logs) { /* this process's lines skip the pipe, in the order written (logstore.h) */
        gw->log_sink = (kumo__log_sink){.write = to_log_store, .ctx = cfg->logs};
        kumo__log_set_sink(&gw->log_sink);
    }
    kumo__start_mark("setup");
    if ((rc = kumo__gw_generation_build(gw, 1, NULL, &gw->current, &built, err)) != 0)
        goto out;
    kumo__start_mark("links+topics");
    atomic_store(&gw->current_number, 1);
    const generation *g = gw->current;
    if ((rc = kumo__gw_tracer_start(gw, g->project, err)) != 0)
        goto out;
    kumo__tracer_set_metrics(gw->tracer, gw->metrics);

    register_handler(&gw->conf, gw, kumo__gw_on_api_req);
    /* h2o refuses a body over its own ceiling before reading it and closes
     * the connection, which a client still sending sees as a reset. So h2o's
     * ceiling sits 1 MiB above the project's limit: bodies up to it are read
     * and refused here with a 413 problem on a connection that stays open;
     * only larger ones meet h2o's early refusal (problem+json too, through
     * the filter, if the client reads it). Not more: h2o buffers a body
     * whole before any handler sees it, so the ceiling is what one
     * connection can make the gateway hold before http.body_budget is
     * consulted. Set once: a reload that raises the limit past it says so. */
    size_t largest = kumo__gw_largest_body(g->project);
    size_t ceiling = largest + (1u << 20);
    gw->conf.max_request_entity_size = ceiling;
    register_handler(&gw->admin_conf, gw, kumo__gw_on_admin_req);
    /* http.tls: read once; the files are checked here, before any port opens */
    if (g->project->http.edge.tls.cert && (gw->ssl_ctx = kumo__tls_context(&g->project->http.edge.tls, err)) == NULL) {
        rc = err->code;
        goto out;
    }

    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    if ((gw->listen_fds = malloc((size_t)gw->nthreads * sizeof(*gw->listen_fds))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto out;
    }
    gw->nlisten = gw->nthreads;
    gw->max_conns = kumo__gw_connection_bound(g->project, gw->nthreads);
    if (open_listeners(host, cfg->port, gw->nthreads, gw->listen_fds, &gw->port, err) != 0) {
        rc = err->code;
        goto out;
    }
    if (cfg->admin_port >= 0 &&
        (gw->admin_fd = open_listener("127.0.0.1", cfg->admin_port, 0, &gw->admin_port, err)) < 0) {
        kumo__error_wrap(err, "admin port");
        rc = err->code;
        goto out;
    }

    if (cfg->mock_spec) {
        /* the first line is what kumo up reads to find a service's mock */
        printf("listening on http://%s:%d\n", host, gw->port);
        printf("kumo mock: %s (%s, %zu operations, read in %llu ms), seed %llu; answers follow Prefer: code=N, "
               "example=NAME, dynamic=true\n",
               g->project->api_path, g->spec->title ? g->spec->title : "untitled", g->spec->nops,
               (unsigned long long)(kumo__mono_ms() - start_ms), (unsigned long long)cfg->mock_seed);
    } else {
        print_serving(gw, g, host, built);
    }
    fputs(kumo__mock_modes_describe(g->modes), stdout); /* kumo mock's stateful, faults, record, replay */
    fflush(stdout);
    kumo__start_mark("listen+print");

    /* Signals are taken by sigwait on this thread only (the loops inherit
     * the mask); SIGHUP reloads, and POST /reload sends this thread one. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    gw->main_tid = pthread_self();

    gw->threads = calloc((size_t)gw->nthreads, sizeof(*gw->threads));
    pthread_mutex_init(&gw->stop_lock, NULL);
    pthread_cond_init(&gw->stop_cond, NULL);
    gw->barrier_ready = 1;
    if (gw->threads == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto out;
    }
    cpu_set_t allowed;
    int ncpus = 0, cpus[CPU_SETSIZE];
    CPU_ZERO(&allowed);
    if (cfg->cpu_affinity && sched_getaffinity(0, sizeof(allowed), &allowed) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &allowed))
                cpus[ncpus++] = c;
    if (cfg->cpu_affinity) {
        printf("  cpus     loop i on CPU:");
        for (int i = 0; i < gw->nthreads && ncpus > 0; i++)
            printf(" %d->%d", i, cpus[i % ncpus]);
        printf("%s (with its fork servers and workers)\n", ncpus ? "" : " none (no CPU set)");
        fflush(stdout);
    }
    if ((rc = kumo__gw_dashboard_start(gw, g, err)) != 0)
        goto out;
    kumo__start_mark("dashboard");
    /* kumo mock runs no function: no worker calls out through it */
    if (!cfg->mock_spec && (rc = kumo__gw_egress_start(gw, err)) != 0)
        goto out;
    kumo__start_mark("egress");
    kumo__epoll_defer_enable();
    for (int i = 0; i < gw->nthreads; i++) {
        loop_thread *t = &gw->threads[i];
        t->gw = gw;
        t->index = i;
        t->cpu = ncpus > 0 ? cpus[i % ncpus] : -1;
        t->loop = h2o_evloop_create();
        h2o_context_init(&t->ctx, t->loop, &gw->conf);
        t->accept.ctx = &t->ctx;
        t->accept.hosts = gw->conf.hosts;
        t->accept.ssl_ctx = gw->ssl_ctx; /* the API's port only: the admin port stays on loopback, plain */
        char name[32];
        snprintf(name, sizeof(name), "loop %d", i);
        t->listener = listen_on(t->loop, &gw->listen_fds[i], &t->accept, name, gw->max_conns);
        if (i == 0 && gw->admin_fd >= 0) {
            h2o_context_init(&t->admin_ctx, t->loop, &gw->admin_conf);
            t->admin_accept.ctx = &t->admin_ctx;
            t->admin_accept.hosts = gw->admin_conf.hosts;
            t->admin_listener =
                listen_on(t->loop, &gw->admin_fd, &t->admin_accept, "admin port", ADMIN_MAX_CONNECTIONS);
        }
        if (pthread_create(&t->tid, NULL, kumo__gw_thread_main, t) != 0) {
            kumo__error_set(err, -EAGAIN, "cannot start event loop thread %d", i);
            rc = err->code;
            atomic_store(&gw->draining, 1);
            kumo__gw_wake_loops(gw);
            break;
        }
        started++;
        pthread_mutex_lock(&gw->stop_lock);
        gw->nstarted = started;
        pthread_mutex_unlock(&gw->stop_lock);
    }

    kumo__start_mark("loops");
    if (rc == 0 && (rc = start_monitor(gw, host, err)) != 0) {
        atomic_store(&gw->draining, 1);
        kumo__gw_wake_loops(gw);
    }
    kumo__start_mark("monitor");
    kumo__start_serving();
    /* The metrics history's file once the loops serve: its open is not
     * what the first answer waits for. Its thread inherits the mask:
     * signals stay with sigwait. One that cannot open stops the start. */
    if (rc == 0 && (rc = kumo__gw_dashboard_history_open(gw, err)) != 0) {
        atomic_store(&gw->draining, 1);
        kumo__gw_wake_loops(gw);
    }
    kumo__start_mark("history");
    if (rc == 0 && cfg->watch && !cfg->mock_spec) {
        if ((rc = kumo__gw_watch_start(gw, err)) != 0) {
            atomic_store(&gw->draining, 1);
            kumo__gw_wake_loops(gw);
        } else {
            printf("  watching %s: a saved change reloads (kumo dev)\n", g->project->dir);
        }
        fflush(stdout);
    }
    kumo__start_report();
    while (rc == 0) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            kumo__gw_reload(gw);
            continue;
        }
        kumo__log_event("info", "received %s: draining (finishing requests in flight, then stopping workers)",
                        sig == SIGTERM ? "SIGTERM" : "SIGINT");
        atomic_store(&gw->draining, 1);
        kumo__gw_wake_loops(gw);
        break;
    }
    kumo__gw_watch_stop(gw->watch);
    gw->watch = NULL;
    /* no probes or alerts about a gateway that is going away (GET /alerts
     * reads gw->monitor under gw->lock) */
    pthread_mutex_lock(&gw->lock);
    kumo__monitor *mon = gw->monitor;
    gw->monitor = NULL;
    pthread_mutex_unlock(&gw->lock);
    kumo__monitor_stop(mon);
    for (int i = 0; i < started; i++)
        pthread_join(gw->threads[i].tid, NULL);
    kumo__gw_dashboard_stop(gw); /* the history's last point holds every invocation */
    if (rc == 0)
        kumo__log_event("info", "stopped cleanly");
out:
    gateway_free(gw);
    return rc;
}
