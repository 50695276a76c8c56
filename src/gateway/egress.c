/*
 * egress.c: the workers' outbound HTTP calls under kumo up (the egress
 * path; docs/outbound.md, docs/architecture.md section 4).
 *
 * A worker has no network for services: its SDK writes each kumo_http call
 * to its loop as a KUMO__FRAME_HTTP_CALL frame (sdk/adapters/local.c). The
 * pool hands it here (kumo__gw_egress_call, on the loop's thread), where it
 * becomes a job: an exchange (sdk/http.c, the one implementation of the
 * rules: allow-list, deadline, size ceiling, retries) against the services
 * of the worker's generation. Jobs go to the gateway's one egress thread,
 * which runs them all at once with libcurl multi (a slow service holds no
 * loop and no other call), and hands each result back to the loop it came
 * from through that loop's outlet (outlet.c). The loop writes the KUMO__FRAME_HTTP_RESULT to the
 * worker, if the worker is still there (kumo__pool_http_answer).
 *
 * In --dev, the egress thread also checks each response against the
 * service's OpenAPI document (its router and response contract, as kumo
 * checks its own responses) and logs the violations as warn lines.
 */
#include "gateway/gateway_internal.h"
#include "base/curl_lazy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/clock.h"
#include "gateway/service_mocks.h"
#include "project/services.h"

#define EGRESS_JOBS_MAX 4096 /* calls in flight, all loops together; more are refused (KUMO_EUNAVAILABLE) */
#define EASY_SPARE_MAX 64    /* easy handles kept for the next calls (curl_easy_init costs per call) */

/* One service's contract, in --dev. */
typedef struct contract {
    kumo__spec *spec;
    kumo__router *router;
    kumo__opcheck **checks;
} contract;

/* A generation's services: refcounted, since a job in flight may outlive
 * the generation (the egress thread drops its reference). */
struct kumo__gw_services {
    atomic_int refs;
    kumo__service_target *targets;
    size_t n;
    kumo__http_service *http; /* the same, as sdk/http.c reads them */
    contract *contracts;      /* per service in --dev, else NULL */
};

typedef struct job {
    kumo__gw_posted post; /* first: the outlet hands it back as this */
    kumo__http_exchange *x;
    kumo__pool_anchor *anchor;
    uint64_t worker;
    uint32_t id;
    struct kumo__gw_outlet *outlet;
    struct kumo__gw_services *services; /* one reference, for --dev's check */
    char method[16];
    kumo__http_result r;
    uint64_t due_ms; /* a retry waits until then (monotonic) */
    int lent;        /* its easy handle is the thread's (e->spare) */
    struct job *next;
} job;

struct kumo__gw_egress {
    pthread_t tid;
    CURLM *multi;
    pthread_mutex_t lock;
    job *inbox;
    int stop;
    int state; /* under lock: 0 until the thread set libcurl up, 1 once e->multi is there, -1 when it could not be */
    pthread_cond_t first; /* state 0: a first job (or stop) came */
    atomic_int jobs;
    job *running, *waiting; /* the thread's own */
    int dev;
    kumo__metrics *metrics; /* the gateway's, for kumo_outbound_calls_total */
    CURL *spare[EASY_SPARE_MAX];
    int nspare;
};

/* ---- services per generation ---- */

static void contract_free(contract *c)
{
    for (size_t i = 0; c->checks && c->spec && i < c->spec->nops; i++)
        kumo__opcheck_free(c->checks[i]);
    free(c->checks);
    kumo__router_free(c->router);
    kumo__spec_free(c->spec);
}

void kumo__gw_services_release(struct kumo__gw_services *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (size_t i = 0; s->contracts && i < s->n; i++)
        contract_free(&s->contracts[i]);
    free(s->contracts);
    free(s->http);
    kumo__service_targets_free(s->targets, s->n);
    free(s);
}

static int load_contract(const kumo__service *decl, contract *c, kumo__error *err)
{
    int rc;
    if ((rc = kumo__spec_load(decl->spec, &c->spec, err)) != 0 ||
        (rc = kumo__router_build(c->spec, &c->router, err)) != 0)
        goto fail;
    if ((c->checks = calloc(c->spec->nops ? c->spec->nops : 1, sizeof(*c->checks))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < c->spec->nops; i++)
        if ((rc = kumo__opcheck_build(c->spec, i, &c->checks[i], err)) != 0)
            goto fail;
    return 0;
fail:
    kumo__error_wrap(err, "services.%s.spec", decl->name);
    return rc;
}

int kumo__gw_services_build(gateway *gw, generation *g, kumo__error *err)
{
    const kumo__project *p = g->project;
    const char *env = NULL;
    int rc;
    if (p->nservices == 0)
        return 0;
    if ((rc = kumo__project_pick_environment(p, gw->cfg.env, &env, err)) != 0)
        return rc;
    struct kumo__gw_services *s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto oom;
    atomic_init(&s->refs, 1);
    if (gw->mocks == NULL && (gw->mocks = kumo__mock_set_new(p->dir)) == NULL) { /* main thread only */
        free(s);
        goto oom;
    }
    if ((rc = kumo__services_resolve(p, env, kumo__mock_set_start, gw->mocks, &s->targets, &s->n, err)) != 0) {
        free(s);
        return rc;
    }
    if ((s->http = calloc(s->n, sizeof(*s->http))) == NULL)
        goto oom_s;
    for (size_t i = 0; i < s->n; i++) {
        const kumo__service_target *t = &s->targets[i];
        s->http[i] = (kumo__http_service){.name = t->decl->name,
                                          .url = t->url,
                                          .headers = (const char *const *)t->headers,
                                          .nheaders = t->nheaders,
                                          .timeout_ms = t->decl->timeout_ms,
                                          .max_response = t->decl->max_response};
    }
    if (gw->dev) {
        if ((s->contracts = calloc(s->n, sizeof(*s->contracts))) == NULL)
            goto oom_s;
        for (size_t i = 0; i < s->n; i++)
            if ((rc = load_contract(s->targets[i].decl, &s->contracts[i], err)) != 0) {
                kumo__gw_services_release(s);
                return rc;
            }
    }
    g->services = s;
    return 0;
oom_s:
    kumo__gw_services_release(s);
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

void kumo__gw_services_print(const generation *g)
{
    const struct kumo__gw_services *s = g->services;
    for (size_t i = 0; s && i < s->n; i++)
        printf("  service %s -> %s (from %s)\n", s->targets[i].decl->name, s->targets[i].url, s->targets[i].from);
}

/* ---- --dev: the response against the service's document ---- */

static void dev_check(const job *j)
{
    const struct kumo__gw_services *s = j->services;
    if (s == NULL || s->contracts == NULL || j->r.error != 0)
        return;
    size_t k = 0;
    while (k < s->n && strcmp(s->targets[k].decl->name, j->r.service) != 0)
        k++;
    if (k == s->n)
        return;
    const contract *c = &s->contracts[k];
    /* The path as the document sees it: the whole URL path first (the
     * router strips the document's base path), then the path after the
     * service's base URL. */
    kumo__route_match m;
    const char *full = strstr(j->r.url, "://");
    full = full ? strchr(full + 3, '/') : NULL;
    if (full == NULL)
        full = "/";
    const char *base = strstr(s->targets[k].url, "://");
    base = base ? strchr(base + 3, '/') : NULL;
    int rc = kumo__router_match(c->router, j->method, full, strlen(full), &m);
    if (rc != 0 && base && strncmp(full, base, strlen(base)) == 0) {
        const char *rel = full + strlen(base);
        rc = kumo__router_match(c->router, j->method, *rel ? rel : "/", *rel ? strlen(rel) : 1, &m);
    }
    if (rc != 0) {
        kumo__log_event("warn", "service %s: %s %s matches no operation of its document (%s)", j->r.service, j->method,
                        full, s->targets[k].decl->spec);
        return;
    }
    const char *ctype = NULL;
    const char *p = j->r.head;
    for (size_t i = 0; p && i < j->r.nheaders; i++) {
        const char *v = p + strlen(p) + 1;
        if (strcmp(p, "content-type") == 0 && ctype == NULL)
            ctype = v;
        p = v + strlen(v) + 1;
    }
    kumo__violations v = {.limit = 20};
    kumo__slice ct = {ctype ? ctype : "", ctype ? strlen(ctype) : 0}, b = {j->r.body, j->r.body_len};
    if (kumo__opcheck_response(c->checks[m.op_index], j->r.status, ct, b, &v) != 0) {
        char list[1500];
        size_t n = 0;
        for (size_t i = 0; i < v.count && n < sizeof(list) - 1; i++)
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s: %s", i ? "; " : "", v.items[i].instance,
                                  v.items[i].message);
        kumo__log_event("warn", "service %s: the response of %s (%s %s, status %d) breaks its document: %s",
                        j->r.service, m.op->operation_id ? m.op->operation_id : m.op->path, j->method, full,
                        j->r.status, list);
    }
    kumo__violations_free(&v);
}

/* ---- the thread ---- */

/* kumo_outbound_calls_total{service, outcome} (kumo__http_series). */
static void count(struct kumo__gw_egress *e, const kumo__http_result *r)
{
    char name[160];
    kumo__http_series(r, name, sizeof(name));
    kumo__metrics_count(e->metrics, name, KUMO__HTTP_SERIES_HELP, 1);
}

/* A finished job goes back to its loop. */
static void hand_back(struct kumo__gw_egress *e, job *j)
{
    atomic_fetch_sub(&e->jobs, 1);
    kumo__http_exchange_result(j->x, &j->r);
    count(e, &j->r);
    CURL *easy = kumo__http_exchange_handle(j->x);
    int lent = easy && j->lent;
    kumo__http_exchange_free(j->x); /* resets a lent handle, cleans up its own */
    if (lent && e->nspare < EASY_SPARE_MAX)
        e->spare[e->nspare++] = easy;
    else if (lent)
        curl_easy_cleanup(easy);
    j->x = NULL;
    if (e->dev)
        dev_check(j);
    kumo__gw_services_release(j->services);
    j->services = NULL;
    kumo__gw_outlet_post(j->outlet, &j->post);
}

static void start_attempt(struct kumo__gw_egress *e, job *j)
{
    if (!j->lent && kumo__http_exchange_handle(j->x) == NULL) {
        CURL *spare = e->nspare ? e->spare[--e->nspare] : curl_easy_init();
        if (spare) {
            kumo__http_exchange_lend(j->x, spare);
            j->lent = 1;
        }
    }
    CURL *easy = kumo__http_exchange_easy(j->x);
    if (easy == NULL) {
        hand_back(e, j);
        return;
    }
    curl_easy_setopt(easy, CURLOPT_PRIVATE, j);
    if (curl_multi_add_handle(e->multi, easy) != CURLM_OK) {
        kumo__http_exchange_attempt_done(j->x, CURLE_OUT_OF_MEMORY);
        hand_back(e, j);
        return;
    }
    j->next = e->running;
    e->running = j;
}

static void unlink_job(job **list, job *j)
{
    for (job **l = list; *l; l = &(*l)->next)
        if (*l == j) {
            *l = j->next;
            return;
        }
}

/* Jobs that cannot be made (libcurl could not be set up) go back refused. */
static void refuse_job(struct kumo__gw_egress *e, job *j)
{
    atomic_fetch_sub(&e->jobs, 1);
    kumo__http_exchange_free(j->x);
    j->x = NULL;
    j->r.error = KUMO_EUNAVAILABLE;
    snprintf(j->r.message, sizeof(j->r.message), "the gateway's outbound calls' thread could not set up libcurl");
    kumo__gw_services_release(j->services);
    j->services = NULL;
    kumo__gw_outlet_post(j->outlet, &j->post);
}

/* libcurl is loaded and set up here, when the first outbound call comes,
 * not on the main thread nor when the thread starts: loading it maps about
 * twenty libraries (base/curl_lazy.c), and a dlopen holds the loader's
 * lock, which the loop threads' start takes too (their TLS), so even here
 * at start it cost kumo up about 8 ms (issue 19). A kumo up whose
 * functions call nothing outbound never loads it. Jobs handed in meanwhile
 * wait in the inbox, which the loop below takes first. Returns -1 also on
 * a stop before any job. */
static int egress_setup(struct kumo__gw_egress *e)
{
    pthread_mutex_lock(&e->lock);
    while (e->inbox == NULL && !e->stop)
        pthread_cond_wait(&e->first, &e->lock);
    int stop = e->inbox == NULL;
    pthread_mutex_unlock(&e->lock);
    if (stop)
        return -1;
    int ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    CURLM *multi = ok ? curl_multi_init() : NULL;
    if (ok && multi == NULL)
        curl_global_cleanup();
    pthread_mutex_lock(&e->lock);
    e->multi = multi;
    e->state = multi ? 1 : -1;
    job *fresh = multi ? NULL : e->inbox;
    if (multi == NULL)
        e->inbox = NULL;
    pthread_mutex_unlock(&e->lock);
    if (multi)
        return 0;
    kumo__log_event("error", "the outbound calls' thread cannot start: libcurl failed to initialise; every "
                             "outbound call of a function fails");
    while (fresh) { /* no job comes in after state -1 */
        job *j = fresh;
        fresh = j->next;
        refuse_job(e, j);
    }
    return -1;
}

static void *egress_main(void *arg)
{
    struct kumo__gw_egress *e = arg;
    if (egress_setup(e) != 0)
        return NULL;
    for (;;) {
        pthread_mutex_lock(&e->lock);
        job *fresh = e->inbox;
        e->inbox = NULL;
        int stop = e->stop;
        pthread_mutex_unlock(&e->lock);
        if (stop) {
            /* the jobs go back to their outlets, which gateway_free empties */
            while (fresh) {
                job *j = fresh;
                fresh = j->next;
                j->next = e->running;
                e->running = j;
            }
            break;
        }
        while (fresh) {
            job *j = fresh;
            fresh = j->next;
            start_attempt(e, j);
        }
        uint64_t now = kumo__mono_ms();
        for (job **l = &e->waiting; *l;) {
            job *j = *l;
            if (j->due_ms <= now) {
                *l = j->next;
                start_attempt(e, j);
            } else {
                l = &j->next;
            }
        }
        int running = 0;
        curl_multi_perform(e->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(e->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            job *j = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
            CURLcode cc = msg->data.result;
            curl_multi_remove_handle(e->multi, msg->easy_handle);
            unlink_job(&e->running, j);
            long wait = kumo__http_exchange_attempt_done(j->x, (int)cc);
            if (wait < 0) {
                hand_back(e, j);
            } else {
                j->due_ms = kumo__mono_ms() + (uint64_t)wait;
                j->next = e->waiting;
                e->waiting = j;
            }
        }
        int timeout = 1000;
        now = kumo__mono_ms();
        for (job *j = e->waiting; j; j = j->next) {
            int until = j->due_ms > now ? (int)(j->due_ms - now) : 0;
            if (until < timeout)
                timeout = until;
        }
        curl_multi_poll(e->multi, NULL, 0, timeout, NULL);
    }
    return NULL;
}

int kumo__gw_egress_start(gateway *gw, kumo__error *err)
{
    struct kumo__gw_egress *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->first, NULL);
    atomic_init(&e->jobs, 0);
    e->dev = gw->dev;
    e->metrics = gw->metrics;
    if (pthread_create(&e->tid, NULL, egress_main, e) != 0) {
        pthread_cond_destroy(&e->first);
        pthread_mutex_destroy(&e->lock);
        free(e);
        kumo__error_set(err, -EAGAIN, "the outbound calls' thread cannot start");
        return -EAGAIN;
    }
    gw->egress = e;
    return 0;
}

static void job_free(job *j)
{
    kumo__http_exchange_free(j->x);
    kumo__http_result_free(&j->r);
    kumo__gw_services_release(j->services);
    kumo__pool_anchor_release(j->anchor);
    free(j);
}

/* After every loop thread is joined: nothing else touches the jobs, the
 * outlets or the pools' anchors any more. */
void kumo__gw_egress_free(gateway *gw)
{
    struct kumo__gw_egress *e = gw->egress;
    if (e) {
        pthread_mutex_lock(&e->lock);
        e->stop = 1;
        int state = e->state; /* 0: the thread sees stop when its set-up is done, or now */
        pthread_cond_signal(&e->first);
        pthread_mutex_unlock(&e->lock);
        if (state == 1)
            curl_multi_wakeup(e->multi);
        pthread_join(e->tid, NULL);
        job *lists[2] = {e->running, e->waiting};
        for (int i = 0; i < 2; i++)
            while (lists[i]) {
                job *j = lists[i];
                lists[i] = j->next;
                CURL *easy = kumo__http_exchange_handle(j->x);
                if (i == 0)
                    curl_multi_remove_handle(e->multi, easy);
                int lent = j->lent;
                job_free(j);
                if (lent && easy)
                    curl_easy_cleanup(easy);
            }
        while (e->nspare)
            curl_easy_cleanup(e->spare[--e->nspare]);
        if (e->multi) {
            curl_multi_cleanup(e->multi);
            curl_global_cleanup();
        }
        pthread_cond_destroy(&e->first);
        pthread_mutex_destroy(&e->lock);
        free(e);
        gw->egress = NULL;
    }
}

/* ---- a loop's end ---- */

static void answer(kumo__pool_anchor *a, uint64_t worker, uint32_t id, const kumo__http_result *r)
{
    kumo__frame_writer w = {0};
    kumo__http_result_put(&w, id, r);
    if (kumo__frame_end(&w) != 0) { /* a body over the frame limit */
        kumo__http_result big = {.error = KUMO_ETOOBIG};
        snprintf(big.message, sizeof(big.message), "the response is over the frame limit (64 MiB)");
        kumo__frame_reset(&w);
        w.err = 0;
        kumo__http_result_put(&w, id, &big);
        kumo__frame_end(&w);
    }
    kumo__pool_http_answer(a, worker, w.buf, w.len);
    kumo__frame_writer_free(&w);
}

/* A finished job, back on its loop (the outlet's deliver). */
static void deliver(kumo__gw_posted *p, int live)
{
    job *j = (job *)p;
    if (live)
        answer(j->anchor, j->worker, j->id, &j->r);
    job_free(j);
}

static void refuse(kumo__pool_anchor *a, uint64_t worker, uint32_t id, int code, const char *msg)
{
    kumo__http_result r = {.error = code};
    snprintf(r.message, sizeof(r.message), "%s", msg);
    answer(a, worker, id, &r);
    kumo__pool_anchor_release(a);
}

void kumo__gw_egress_call(void *ctx, kumo__pool_anchor *anchor, uint64_t worker, uint32_t id, const char *payload,
                          size_t len)
{
    loop_gen *lg = ctx;
    loop_thread *t = lg->thread;
    struct kumo__gw_egress *e = t->gw->egress;
    if (e == NULL || t->outlet == NULL) {
        refuse(anchor, worker, id, KUMO_EUNAVAILABLE, "the gateway's outbound calls' thread is not running");
        return;
    }
    if (atomic_load(&e->jobs) >= EGRESS_JOBS_MAX) {
        refuse(anchor, worker, id, KUMO_EUNAVAILABLE, "too many outbound calls in flight (4096); try again");
        return;
    }
    kumo__http_call c;
    char *mem = NULL;
    if (kumo__http_call_read(payload, len, &c, &mem) != 0) {
        free(mem);
        refuse(anchor, worker, id, KUMO_EINVAL, "the call's frame is malformed");
        return;
    }
    job *j = calloc(1, sizeof(*j));
    struct kumo__gw_services *s = lg->gen->services;
    if (j == NULL || (j->x = kumo__http_exchange_new(s ? s->http : NULL, s ? s->n : 0, &c)) == NULL) {
        free(j);
        free(mem);
        refuse(anchor, worker, id, KUMO_ENOMEM, "out of memory");
        return;
    }
    snprintf(j->method, sizeof(j->method), "%s", c.method ? c.method : "GET");
    free(mem);
    j->anchor = anchor;
    j->worker = worker;
    j->id = id;
    j->outlet = t->outlet;
    j->post.deliver = deliver;
    if (s && s->contracts) {
        atomic_fetch_add(&s->refs, 1);
        j->services = s;
    }
    atomic_fetch_add(&e->jobs, 1);
    pthread_mutex_lock(&e->lock);
    int state = e->state;
    if (state >= 0) {
        j->next = e->inbox;
        e->inbox = j;
    }
    pthread_mutex_unlock(&e->lock);
    if (state < 0) {
        atomic_fetch_sub(&e->jobs, 1);
        j->anchor = NULL; /* refuse() releases it */
        job_free(j);
        refuse(anchor, worker, id, KUMO_EUNAVAILABLE, "the gateway's outbound calls' thread could not set up libcurl");
        return;
    }
    if (state == 1)
        curl_multi_wakeup(e->multi);
    else /* 0: the thread sets up, then takes the inbox */
        pthread_cond_signal(&e->first);
}
