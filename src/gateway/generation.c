/*
 * generation.c: everything derived from the project's files, built on the
 * main thread: kumo.yaml, where its stores live and the workers'
 * environment, the OpenAPI document, the router, the docs, the compiled
 * contract checks and a private hard link to each unit's shared object.
 * A generation is read-only once published and refcounted: gw->current
 * holds one reference, and so does each loop that still has pools for it.
 *
 * A reload (SIGHUP, or POST /reload on the admin port, which signals the
 * main thread) builds a new generation; on any error the old one stays
 * live. The loops notice the new one after their next wait (at most
 * 20 ms) and move to it (loop.c). Listeners are never touched, so no
 * connection is refused.
 */
#include "gateway/gateway_internal.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/policy.h"
#include "base/starttime.h"
#include "gateway/mock.h"
#include "gateway/mock_modes.h"
#include "project/spec_only.h"
#include "sdk/sdk.h"

static void warn_line(const char *line)
{
    fprintf(stderr, "kumo: warning: %s\n", line);
}

static void generation_free(generation *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; g->checks && i < g->spec->nops; i++)
        kumo__opcheck_free(g->checks[i]);
    /* kumo mock's modes before the engine whose hook they are */
    kumo__mock_modes_free(g->modes);
    kumo__mock_free(g->mock); /* before the checks and the spec it reads */
    kumo__auth_free(g->auth);
    free(g->checks);
    free(g->mt_ops);
    free(g->mt_events);
    kumo__event_data_free(g->event_data, g->project ? g->project->nevents : 0);
    kumo__ce_routes_free(g->ce);
    kumo__docs_free(g->docs);
    kumo__router_free(g->router);
    kumo__ratelimit_free(g->limits);
    kumo__spec_free(g->spec);
    for (size_t u = 0; g->so_links && u < g->project->nunits; u++) {
        if (g->so_links[u]) {
            unlink(g->so_links[u]);
            free(g->so_links[u]);
        }
    }
    free(g->so_links);
    kumo__store_plan_free(&g->stores);
    free(g->envp);
    for (size_t i = 0; i < g->ninputs; i++)
        free(g->inputs[i]);
    free(g->inputs);
    for (size_t u = 0; g->unit_env && u < g->project->nunits; u++)
        kumo__env_block_free(g->unit_env[u]);
    free(g->unit_env);
    kumo__gw_services_release(g->services);
    kumo__project_free(g->project);
    if (g->gw)
        atomic_fetch_sub(&g->gw->generations, 1);
    free(g);
}

/* Drops one reference; the last frees (on whichever thread that is). */
void kumo__gw_generation_release(generation *g)
{
    if (g && atomic_fetch_sub(&g->refs, 1) == 1)
        generation_free(g);
}

/* Removes links to `so_path` left by a kumo that died without cleaning up:
 * <so_path>.<pid>.<generation> whose process is gone. */
static void sweep_stale_links(const char *so_path)
{
    const char *slash = strrchr(so_path, '/');
    if (slash == NULL)
        return;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - so_path), so_path);
    const char *base = slash + 1;
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, base, blen) != 0 || e->d_name[blen] != '.')
            continue;
        char *end;
        long pid = strtol(e->d_name + blen + 1, &end, 10);
        if (pid <= 0 || *end != '.' || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

/* Each generation's pools load their unit through a hard link of its own
 * (<so_path>.<pid>.<generation>): a rebuild renames a new file over
 * so_path, and a worker an old pool starts later must still get the old
 * code. Without hard links (some filesystems) the pools use so_path. */
static int link_units(generation *g, kumo__error *err)
{
    const kumo__project *p = g->project;
    if ((g->so_links = calloc(p->nunits ? p->nunits : 1, sizeof(*g->so_links))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return err->code;
    }
    for (size_t u = 0; u < p->nunits; u++) {
        const char *so = p->units[u].so_path;
        if (g->number == 1)
            sweep_stale_links(so);
        if (asprintf(&g->so_links[u], "%s.%d.%lu", so, (int)getpid(), g->number) < 0) {
            g->so_links[u] = NULL;
            kumo__error_set(err, -ENOMEM, "out of memory");
            return err->code;
        }
        unlink(g->so_links[u]);
        if (link(so, g->so_links[u]) != 0) {
            free(g->so_links[u]);
            g->so_links[u] = NULL;
        }
    }
    return 0;
}

/* A reload keeps a store where it is; kumo.yaml asking for another place
 * is said, and waits for a restart. */
static void store_moved(const kumo__store_place *kept, const char *wanted)
{
    kumo__log_event("warn",
                    "store %s '%s': kumo.yaml now places it at %s; a reload does not move a store: it stays at %s "
                    "(%s) until kumo up restarts",
                    kumo__store_kind_name(kept->kind), kept->name, wanted, kept->shown, kept->var);
}

/* Whether store s can be opened from here: a store that cannot be reached
 * stops kumo up (or refuses a reload) with its name, its URL (password
 * hidden) and where that URL came from. Opening may create the store (the
 * drivers create their file, table, bucket or queue unless the URL says
 * create=false): what the first worker to use it would do. */
static int check_store(const kumo__project *p, const kumo__store_plan *plan, const kumo__store_place *s,
                       kumo__error *err)
{
    static const kumo__store_kind_desc *const kinds[KUMO__STORE_KINDS] = {[KUMO__STORE_KV] = &kumo__kv_kind,
                                                                          [KUMO__STORE_BLOB] = &kumo__blob_kind,
                                                                          [KUMO__STORE_QUEUE] = &kumo__queue_kind,
                                                                          [KUMO__STORE_TOPIC] = &kumo__topic_kind};
    if (kinds[s->kind] == NULL)
        return 0; /* a kind without drivers yet (topic): checked when it has them */
    kumo__store *opened = NULL;
    kumo__error oerr = {0};
    int orc = kumo__store_open(kinds[s->kind], s->url, s->name, &opened, &oerr);
    kumo__store_close(opened);
    if (orc == 0)
        return 0;
    char scrubbed[sizeof(oerr.msg)];
    const char *msg = kumo__store_url_scrub(s->url, oerr.msg, scrubbed, sizeof(scrubbed));
    /* the driver's message may quote the URL: show it redacted */
    char *at = strcmp(s->url, s->shown) != 0 ? strstr(msg, s->url) : NULL;
    char said[1024], fix[1200];
    if (at != NULL)
        snprintf(said, sizeof(said), "%.*s%s%s", (int)(at - msg), msg, s->shown, at + strlen(s->url));
    else
        snprintf(said, sizeof(said), "%s", msg[0] ? msg : "no reason given");
    kumo__store_place_fix(p, plan, s, fix, sizeof(fix));
    if (orc == KUMO_EINVAL)
        kumo__error_set(err, -EINVAL, "store '%s' (%s) cannot be opened: %s; %s", s->name, s->shown, said, fix);
    else
        kumo__error_set(err, -EIO, "store '%s' (%s) cannot be reached: %s; start the server or %s", s->name, s->shown,
                        said, fix);
    return err->code;
}

/* Where the stores live (a reload keeps those the previous generation
 * placed; only new ones are checked), and the environment every worker of
 * this generation gets: what kumo itself needs of its own environment,
 * KUMO_STORE_<NAME> for each store, and its unit's env: variables (their
 * secrets expanded now, at each reload: project/env.h). */
static int place_stores(gateway *gw, generation *g, const generation *previous, kumo__error *err)
{
    int rc = kumo__store_plan_build(g->project, gw->cfg.env, gw->start_env, previous ? &previous->stores : NULL,
                                    store_moved, &g->stores, err);
    if (rc != 0 || (rc = kumo__gw_blob_events_check(g->project, &g->stores, err)) != 0)
        return rc;
    for (size_t i = 0; i < g->stores.n; i++)
        if (g->stores.stores[i].fresh && (rc = check_store(g->project, &g->stores, &g->stores.stores[i], err)) != 0)
            return rc;
    if ((g->envp = kumo__env_worker_base(&g->stores, gw->start_env)) == NULL ||
        (g->unit_env = calloc(g->project->nunits ? g->project->nunits : 1, sizeof(*g->unit_env))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    for (size_t u = 0; u < g->project->nunits; u++)
        if ((rc = kumo__env_unit_block(g->project, &g->project->units[u], g->stores.env, &g->unit_env[u], err)) < 0)
            return rc;
    return 0;
}

/* Loads, builds and checks everything from the project's files into a new
 * generation holding one reference (*out), or leaves *out NULL and says
 * what is wrong in err (file:line:column where it has one). */
int kumo__gw_generation_build(gateway *gw, unsigned long number, const generation *previous, generation **out,
                              int *built, kumo__error *err)
{
    int rc = 0;
    generation *g = calloc(1, sizeof(*g));
    *out = NULL;
    *built = 0;
    if (g == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return err->code;
    }
    atomic_init(&g->refs, 1);
    g->number = number;
    struct timespec began; /* the clock the kernel stamps files with (watch.c's fresh rule) */
    clock_gettime(CLOCK_REALTIME_COARSE, &began);
    if (gw->cfg.mock_spec)
        rc = kumo__project_from_spec(gw->cfg.mock_spec, &g->project, err);
    else
        rc = kumo__project_load(gw->cfg.dir, &g->project, err);
    if (rc != 0)
        goto out;
    kumo__start_mark("project");
    if (previous)
        kumo__gw_trace_reload_check(previous->project, g->project);
    if ((rc = place_stores(gw, g, previous, err)) != 0 || (rc = kumo__gw_services_build(gw, g, err)) != 0)
        goto out;
    kumo__start_mark("stores+services");
    if ((rc = kumo__spec_load(g->project->api_path, &g->spec, err)) != 0)
        goto out;
    kumo__start_mark("spec");
    if ((rc = kumo__router_build(g->spec, &g->router, err)) != 0)
        goto out;
    kumo__start_mark("router");
    if ((rc = kumo__event_data_compile(g->project, g->spec, &g->event_data, err)) != 0 ||
        (rc = kumo__ce_check_spec(g->spec, err)) != 0 ||
        (rc = kumo__ce_routes_build(g->project, g->spec, &g->ce, err)) != 0 ||
        (rc = kumo__monitors_check_spec(g->project, g->spec, err)) != 0 ||
        (rc = kumo__edge_check_spec(&g->project->http.edge, g->spec, err)) != 0)
        goto out;
    /* a spec-only project builds nothing (and writes nothing beside the document) */
    uint64_t build_start = kumo__mono_ms();
    if (!gw->cfg.mock_spec && (rc = kumo__build_units(g->project, built, err)) != 0)
        goto out;
    g->build_ms = kumo__mono_ms() - build_start;
    /* kumo mock: every operation stays unbound (x-kumo-handler names units
     * of a project that is not there) */
    if (!gw->cfg.mock_spec && (rc = kumo__bind_operations(g->project, g->spec, warn_line, err)) != 0)
        goto out;
    if ((rc = kumo__gw_debug_apply(gw, g, err)) != 0) /* kumo dev --debug */
        goto out;
    if ((rc = kumo__gw_metrics_targets(gw, g, err)) != 0)
        goto out;
    kumo__start_mark("events+units+bind");
    /* /docs and the served documents are made on their first request
     * (docs.c). kumo mock starts in the time it takes to read the document:
     * it serves no /docs, and compiles each operation's contract on the
     * operation's first request (mock.c) */
    if (!gw->cfg.mock_spec &&
        (rc = kumo__docs_prepare(g->spec, g->project->name, g->project, (int64_t)kumo__epoch_ms(), &g->docs, err)) != 0)
        goto out;
    kumo__start_mark("docs");
    if ((g->checks = calloc(g->spec->nops ? g->spec->nops : 1, sizeof(*g->checks))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto out;
    }
    if (!gw->cfg.mock_spec && (rc = kumo__opcheck_build_all(g->spec, g->checks, err)) != 0)
        goto out;
    kumo__start_mark("checks");
    /* the document's security, enforced (kumo mock, with no kumo.yaml,
     * checks presence only: mock.c) */
    if (!gw->cfg.mock_spec && (rc = kumo__auth_build(g->project, g->spec, gw->cfg.env, previous ? previous->auth : NULL,
                                                     NULL, NULL, &g->auth, err)) != 0)
        goto out;
    if (gw->cfg.mock_spec || gw->cfg.mock) {
        kumo__mock_config mc = {.seed = gw->cfg.mock_seed};
        if ((rc = kumo__mock_build(g->spec, g->checks, &mc, &g->mock, err)) != 0)
            goto out;
        if (gw->cfg.mock_spec && (rc = kumo__mock_modes_attach(g->mock, g->spec, gw->cfg.mock_modes, gw->cfg.mock_seed,
                                                               previous ? previous->modes : NULL, &g->modes, err)) != 0)
            goto out;
    }
    kumo__start_mark("mock");
    if ((rc = link_units(g, err)) != 0)
        goto out;
    if ((rc = kumo__ratelimit_new(&g->project->http.edge, g->spec, &g->limits, err)) != 0)
        goto out;
    /* last: a generation that is not built registers nothing */
    if ((rc = kumo__gw_topics_subscribe(g->project, &g->stores, err)) != 0)
        goto out;
    /* kumo mock reads one document and builds nothing: it always reloads */
    if (!gw->cfg.mock_spec &&
        (rc = kumo__gw_inputs_note(g, (int64_t)began.tv_sec * 1000000000LL + began.tv_nsec)) != 0) {
        kumo__error_set(err, rc, "out of memory");
        goto out;
    }
    snprintf(g->data_dir, sizeof(g->data_dir), "%s/.kumo/data", g->project->dir);
    g->api = (kumo__api){.project = g->project,
                         .spec = g->spec,
                         .router = g->router,
                         .checks = g->checks,
                         .only_unit = -1,
                         .mock = g->mock,
                         .auth = g->auth,
                         .limits = g->limits};
    g->gw = gw;
    atomic_fetch_add(&gw->generations, 1);
out:
    if (rc != 0)
        generation_free(g);
    else
        *out = g;
    return rc;
}

static void monitor_release(void *ctx)
{
    kumo__gw_generation_release(ctx);
}

static uint64_t monitor_oldest(void *ctx, const char *function, uint64_t *usual_us)
{
    return kumo__gw_oldest_running_us(ctx, function, usual_us);
}

void kumo__gw_monitor_generation(gateway *gw, generation *g)
{
    if (gw->monitor == NULL)
        return;
    atomic_fetch_add(&g->refs, 1);
    kumo__monitor_gen mg = {.project = g->project,
                            .spec = g->spec,
                            .checks = g->checks,
                            .release = monitor_release,
                            .ctx = g,
                            .oldest_us = monitor_oldest,
                            .oldest_ctx = gw,
                            .data_dir = g->data_dir};
    kumo__monitor_generation(gw->monitor, &mg);
}

/* The largest body any unit accepts. */
size_t kumo__gw_largest_body(const kumo__project *p)
{
    size_t largest = p->max_body;
    for (size_t u = 0; u < p->nunits; u++)
        if (p->units[u].tuning.max_body > largest)
            largest = p->units[u].tuning.max_body;
    return largest;
}

size_t kumo__gw_connection_bound(const kumo__project *p, int loops)
{
    /* Descriptors kept for what is not a client connection: the standard
     * ones, logs, stores and compilers (64); per loop, its listener, poller
     * and fork server (16); per worker its socket, twice over (a reload
     * runs two generations' workers for a while). */
    size_t workers = 0;
    for (size_t u = 0; u < p->nunits; u++)
        workers += (size_t)(p->units[u].tuning.max > loops ? p->units[u].tuning.max : loops);
    return kumo__connection_bound(p->http.max_connections, loops, 64 + 16 * (size_t)loops + 4 * workers);
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* kumo dev's line about the change it reloaded for (stdout). */
static void say_change(const char *names, int64_t detected_ms, int rc, int unchanged, const generation *g,
                       unsigned long serving, uint64_t total_ms)
{
    char detected[48] = "";
    if (detected_ms >= 0)
        snprintf(detected, sizeof(detected), " (detected +%lld ms)", (long long)detected_ms);
    if (unchanged)
        printf("change: %s; nothing changed: generation %lu keeps serving%s\n", names, serving, detected);
    else if (rc != 0)
        printf("change: %s; build failed in %llu ms: generation %lu keeps serving (the compiler's messages are above, "
               "in kumo reload's answer and on /docs)%s\n",
               names, (unsigned long long)total_ms, serving, detected);
    else if (g->build_ms > 0 || total_ms > g->build_ms)
        printf("change: %s; built %llu ms; serving generation %lu in %llu ms%s\n", names,
               (unsigned long long)g->build_ms, g->number, (unsigned long long)(total_ms - g->build_ms), detected);
    fflush(stdout);
}

/* SIGHUP or POST /reload, on the main thread: build the next generation
 * and publish it, or keep the live one and record why not; when the
 * files are as the live generation's were, do nothing and say so. */
void kumo__gw_reload(gateway *gw)
{
    kumo__error err = {0};
    generation *g = NULL, *old = NULL;
    int built = 0, unchanged = 0;
    unsigned long number = gw->current->number + 1; /* only this thread changes current */
    char msg[sizeof(gw->reload_msg)], names[sizeof(gw->devwatch.names)] = "";
    int64_t detected_ms = -1;

    pthread_mutex_lock(&gw->lock);
    unsigned long ticket = gw->reload_asked; /* the requests this reload answers */
    if (gw->devwatch.pending) {
        memcpy(names, gw->devwatch.names, sizeof(names));
        detected_ms = gw->devwatch.detected_ms;
        gw->devwatch.pending = 0;
    }
    pthread_mutex_unlock(&gw->lock);
    uint64_t start = kumo__mono_ms();
    int rc = 0;
    if (kumo__gw_inputs_unchanged(gw->current)) {
        unchanged = 1;
        snprintf(msg, sizeof(msg), "nothing changed: generation %lu keeps serving", number - 1);
    } else {
        kumo__log_event("info", "reloading %s (generation %lu keeps serving meanwhile)", gw->cfg.dir, number - 1);
        rc = kumo__gw_generation_build(gw, number, gw->current, &g, &built, &err);
    }
    if (rc == 0 && !unchanged) {
        for (size_t i = 0; i < g->stores.n; i++)
            if (g->stores.stores[i].fresh)
                kumo__log_event("info", "new store %s '%s' -> %s", kumo__store_kind_name(g->stores.stores[i].kind),
                                g->stores.stores[i].name, g->stores.stores[i].shown);
        size_t largest = kumo__gw_largest_body(g->project);
        if (largest > gw->conf.max_request_entity_size)
            kumo__log_event("warn",
                            "a function now accepts bodies of %zu bytes; until kumo up restarts, bodies over "
                            "%zu bytes are refused before they reach it",
                            largest, gw->conf.max_request_entity_size);
        if (g->project->http.max_connections != gw->current->project->http.max_connections)
            kumo__log_event("warn",
                            "http.max_connections changed; until kumo up restarts, each loop keeps its bound of %zu "
                            "open connections",
                            gw->max_conns);
        const kumo__tls_config *tw = &gw->current->project->http.edge.tls, *tn = &g->project->http.edge.tls;
        if (!same_str(tw->cert, tn->cert) || !same_str(tw->key, tn->key) || !same_str(tw->client_ca, tn->client_ca) ||
            tw->client_optional != tn->client_optional)
            kumo__log_event("warn", "http.tls changed; until kumo up restarts, the API's port keeps the TLS "
                                    "settings (and certificates) it started with");
        kumo__gw_dashboard_reloaded(gw, g->project); /* the history's settings wait for a restart */
        const kumo__obs_config *was = &gw->current->project->obs, *now = &g->project->obs;
        if ((was->enabled && was->logs_max) != (now->enabled && now->logs_max) ||
            (now->enabled && now->logs_max && was->logs_max != now->logs_max))
            kumo__log_event("warn", "observability.logs changed; the log store (.kumo/data/logs.db) keeps its "
                                    "settings until kumo up restarts");
        size_t bound = 0;
        for (size_t i = 0; i < g->spec->nops; i++)
            bound += g->spec->ops[i].unit_index >= 0;
        snprintf(msg, sizeof(msg),
                 "generation %lu of '%s': %d unit%s rebuilt, %zu operations (%zu with handlers), ready in %llu ms",
                 number, g->project->name, built, built == 1 ? "" : "s", g->spec->nops, bound,
                 (unsigned long long)(kumo__mono_ms() - start));
    } else if (rc != 0) {
        snprintf(msg, sizeof(msg), "%s", err.msg[0] ? err.msg : "the reload failed");
    }
    uint64_t total_ms = kumo__mono_ms() - start;
    pthread_mutex_lock(&gw->lock);
    if (rc == 0 && !unchanged) {
        old = gw->current;
        gw->current = g;
        atomic_store_explicit(&gw->current_number, number, memory_order_release);
    }
    if (ticket > gw->reload_done)
        gw->reload_done = ticket;
    gw->reloads++;
    gw->reload_failed = rc != 0;
    gw->reload_unchanged = unchanged;
    memcpy(gw->reload_msg, msg, sizeof(msg));
    /* /docs shows a failed build until the files are good again */
    if (rc != 0 && strstr(msg, "did not compile") != NULL)
        snprintf(gw->build_error, sizeof(gw->build_error), "%s", msg);
    else if (rc == 0)
        gw->build_error[0] = '\0';
    pthread_mutex_unlock(&gw->lock);
    /* the loops take the new generation now, not at their next timeout */
    if (rc == 0 && !unchanged)
        kumo__gw_wake_loops(gw);
    if (names[0])
        say_change(names, detected_ms, rc, unchanged, g, rc == 0 && !unchanged ? number : number - 1, total_ms);
    if (unchanged) {
        kumo__log_event("info", "reload: %s", msg);
        return;
    }
    if (rc == 0)
        kumo__gw_monitor_generation(gw, g);
    if (rc == 0)
        kumo__log_event("info", "reloaded: %s; requests already running finish on generation %lu", msg, number - 1);
    else
        kumo__log_event("error", "reload failed; generation %lu keeps serving: %s", number - 1, msg);
    kumo__gw_generation_release(old);
    kumo__gw_watch_refresh(gw);
}
