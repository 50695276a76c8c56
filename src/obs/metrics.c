/*
 * metrics.c: the registry behind metrics.h. Three tables, each grow-only
 * for the registry's life:
 *
 *   targets  the label sets (function, operation, route, method, trigger),
 *            found under `lock` (a generation looks its own up once)
 *   series   one per (target, status, answered-by-the-gateway), each with
 *            one block of counters per shard; published with a release
 *            store of `nseries`, so readers never take the lock
 *   cache    per shard, (target, status, answered) -> series, touched only
 *            by the shard's thread: the request path's lookup is a probe
 *            in its own table; a miss takes the lock once per pair
 *
 * Writers own their shard's block and add with relaxed atomics (a plain
 * add on x86-64); readers sum every shard's blocks with relaxed loads, so
 * a scrape sees each counter whole, and a counter never goes back.
 */
#include "obs/metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/growbuf.h"

const uint64_t kumo__mbucket_us[KUMO__MBUCKETS] = {
    25,    50,     100,    250,    500,     1000,    2500,    5000,     10000,    25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, UINT64_MAX,
};

/* The counters of one series in one shard. */
enum {
    F_COUNT,
    F_ERRORS,
    F_TIMEOUTS,
    F_COLD,
    F_CRASHES,
    F_LONG,
    F_REJECTED,
    F_SUM,
    F_BUCKETS,
    NFIELDS = F_BUCKETS + KUMO__MBUCKETS
};

#define SERIES_MAX 16384
#define CACHE_SLOTS 32768 /* a power of two, twice SERIES_MAX */
#define INITS_MAX 1024
#define FREEFORM_MAX 1024

typedef struct series {
    int target, status, answered;
    uint64_t *blocks; /* nshards * NFIELDS */
} series;

typedef struct cache_slot {
    uint32_t key; /* 0: empty; else the pair's key + 1 */
    int32_t series;
} cache_slot;

typedef struct init_hist {
    char *function;
    uint64_t *blocks; /* nshards * (2 + KUMO__MBUCKETS): count, sum, buckets */
} init_hist;

typedef struct freeform {
    char *name, *help;
    int gauge;
    uint64_t count;
    double value;
} freeform;

struct kumo__metrics {
    int nshards;
    pthread_mutex_t lock;
    kumo__mtarget *targets[KUMO__MTARGETS_MAX];
    int ntargets;
    series *series[SERIES_MAX];
    int nseries;         /* published with a release store */
    cache_slot **caches; /* per shard */
    init_hist inits[INITS_MAX];
    int ninits; /* published with a release store */
    freeform *freeforms[FREEFORM_MAX];
    int nfreeforms;
};

#define ADD(p, n) __atomic_fetch_add((p), (n), __ATOMIC_RELAXED)
#define GET(p) __atomic_load_n((p), __ATOMIC_RELAXED)

kumo__metrics *kumo__metrics_create(int nshards)
{
    if (nshards < 1)
        nshards = 1;
    kumo__metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->nshards = nshards;
    pthread_mutex_init(&m->lock, NULL);
    if ((m->caches = calloc((size_t)nshards, sizeof(*m->caches))) == NULL)
        goto fail;
    for (int i = 0; i < nshards; i++)
        if ((m->caches[i] = calloc(CACHE_SLOTS, sizeof(cache_slot))) == NULL)
            goto fail;
    return m;
fail:
    kumo__metrics_free(m);
    return NULL;
}

void kumo__metrics_free(kumo__metrics *m)
{
    if (m == NULL)
        return;
    for (int i = 0; i < m->ntargets; i++) {
        kumo__mtarget *t = m->targets[i];
        free((char *)t->function);
        free((char *)t->operation);
        free((char *)t->route);
        free((char *)t->method);
        free((char *)t->trigger);
        free(t);
    }
    for (int i = 0; i < m->nseries; i++) {
        free(m->series[i]->blocks);
        free(m->series[i]);
    }
    if (m->caches)
        for (int i = 0; i < m->nshards; i++)
            free(m->caches[i]);
    free(m->caches);
    for (int i = 0; i < m->ninits; i++) {
        free(m->inits[i].function);
        free(m->inits[i].blocks);
    }
    for (int i = 0; i < m->nfreeforms; i++) {
        free(m->freeforms[i]->name);
        free(m->freeforms[i]->help);
        free(m->freeforms[i]);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

int kumo__metrics_target(kumo__metrics *m, const kumo__mtarget *t)
{
    if (m == NULL)
        return -1;
    int id = -1;
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < m->ntargets; i++) {
        const kumo__mtarget *o = m->targets[i];
        if (strcmp(o->function, nz(t->function)) == 0 && strcmp(o->operation, nz(t->operation)) == 0 &&
            strcmp(o->route, nz(t->route)) == 0 && strcmp(o->method, nz(t->method)) == 0 &&
            strcmp(o->trigger, nz(t->trigger)) == 0) {
            id = i;
            goto out;
        }
    }
    if (m->ntargets == KUMO__MTARGETS_MAX)
        goto out;
    kumo__mtarget *n = calloc(1, sizeof(*n));
    if (n == NULL)
        goto out;
    n->function = strdup(nz(t->function));
    n->operation = strdup(nz(t->operation));
    n->route = strdup(nz(t->route));
    n->method = strdup(nz(t->method));
    n->trigger = strdup(nz(t->trigger));
    if (!n->function || !n->operation || !n->route || !n->method || !n->trigger) {
        free((char *)n->function);
        free((char *)n->operation);
        free((char *)n->route);
        free((char *)n->method);
        free((char *)n->trigger);
        free(n);
        goto out;
    }
    m->targets[m->ntargets] = n;
    id = m->ntargets++;
out:
    pthread_mutex_unlock(&m->lock);
    return id;
}

int kumo__mbucket_of(uint64_t us)
{
    int k = 0;
    while (us > kumo__mbucket_us[k])
        k++;
    return k;
}

/* The series of (target, status, answered) for `shard`: its cache, else
 * the registry (made when new). NULL when full or out of memory. */
static uint64_t *block_of(kumo__metrics *m, int shard, int target, int status, int answered)
{
    if (status < 0 || status > 999)
        status = 0;
    uint32_t key = ((uint32_t)target << 11 | (uint32_t)status << 1 | (uint32_t)(answered != 0)) + 1;
    cache_slot *cache = m->caches[shard];
    uint32_t h = (key * 2654435761u) & (CACHE_SLOTS - 1);
    for (;;) {
        if (cache[h].key == key)
            return m->series[cache[h].series]->blocks + (size_t)shard * NFIELDS;
        if (cache[h].key == 0)
            break;
        h = (h + 1) & (CACHE_SLOTS - 1);
    }
    int found = -1;
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < m->nseries; i++) {
        series *s = m->series[i];
        if (s->target == target && s->status == status && s->answered == (answered != 0)) {
            found = i;
            break;
        }
    }
    if (found < 0 && m->nseries < SERIES_MAX) {
        series *s = calloc(1, sizeof(*s));
        uint64_t *blocks = calloc((size_t)m->nshards * NFIELDS, sizeof(uint64_t));
        if (s && blocks) {
            s->target = target;
            s->status = status;
            s->answered = answered != 0;
            s->blocks = blocks;
            m->series[m->nseries] = s;
            found = m->nseries;
            __atomic_store_n(&m->nseries, m->nseries + 1, __ATOMIC_RELEASE);
        } else {
            free(s);
            free(blocks);
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (found < 0)
        return NULL;
    cache[h].key = key;
    cache[h].series = found;
    return m->series[found]->blocks + (size_t)shard * NFIELDS;
}

static int shard_ok(const kumo__metrics *m, int shard, int target)
{
    return m && shard >= 0 && shard < m->nshards && target >= 0 && target < KUMO__MTARGETS_MAX;
}

void kumo__metrics_invocation(kumo__metrics *m, int shard, int target, int status, uint64_t duration_us, unsigned flags)
{
    if (!shard_ok(m, shard, target))
        return;
    uint64_t *b = block_of(m, shard, target, status, 0);
    if (b == NULL)
        return;
    ADD(&b[F_COUNT], 1);
    if (flags & KUMO__INV_ERROR)
        ADD(&b[F_ERRORS], 1);
    if (flags & KUMO__INV_TIMEOUT)
        ADD(&b[F_TIMEOUTS], 1);
    if (flags & KUMO__INV_COLD)
        ADD(&b[F_COLD], 1);
    if (flags & KUMO__INV_CRASH)
        ADD(&b[F_CRASHES], 1);
    if (flags & KUMO__INV_LONG)
        ADD(&b[F_LONG], 1);
    ADD(&b[F_SUM], duration_us);
    ADD(&b[F_BUCKETS + kumo__mbucket_of(duration_us)], 1);
}

void kumo__metrics_answered(kumo__metrics *m, int shard, int target, int status, uint64_t duration_us, int rejected)
{
    if (!shard_ok(m, shard, target))
        return;
    uint64_t *b = block_of(m, shard, target, status, 1);
    if (b == NULL)
        return;
    ADD(&b[F_COUNT], 1);
    if (status >= 500)
        ADD(&b[F_ERRORS], 1);
    if (rejected)
        ADD(&b[F_REJECTED], 1);
    ADD(&b[F_SUM], duration_us);
    ADD(&b[F_BUCKETS + kumo__mbucket_of(duration_us)], 1);
}

void kumo__metrics_init(kumo__metrics *m, int shard, const char *function, uint64_t init_us)
{
    if (m == NULL || shard < 0 || shard >= m->nshards || function == NULL)
        return;
    int n = __atomic_load_n(&m->ninits, __ATOMIC_ACQUIRE), found = -1;
    for (int i = 0; i < n && found < 0; i++)
        if (strcmp(m->inits[i].function, function) == 0)
            found = i;
    if (found < 0) {
        pthread_mutex_lock(&m->lock);
        for (int i = 0; i < m->ninits && found < 0; i++)
            if (strcmp(m->inits[i].function, function) == 0)
                found = i;
        if (found < 0 && m->ninits < INITS_MAX) {
            char *name = strdup(function);
            uint64_t *blocks = calloc((size_t)m->nshards * (2 + KUMO__MBUCKETS), sizeof(uint64_t));
            if (name && blocks) {
                m->inits[m->ninits] = (init_hist){name, blocks};
                found = m->ninits;
                __atomic_store_n(&m->ninits, m->ninits + 1, __ATOMIC_RELEASE);
            } else {
                free(name);
                free(blocks);
            }
        }
        pthread_mutex_unlock(&m->lock);
        if (found < 0)
            return;
    }
    uint64_t *b = m->inits[found].blocks + (size_t)shard * (2 + KUMO__MBUCKETS);
    ADD(&b[0], 1);
    ADD(&b[1], init_us);
    ADD(&b[2 + kumo__mbucket_of(init_us)], 1);
}

static int freeform_cmp(const void *a, const void *b)
{
    return strcmp((*(freeform *const *)a)->name, (*(freeform *const *)b)->name);
}

/* The free-form entry `name` (made, and the list kept sorted, when new);
 * with m->lock held. NULL when full. */
static freeform *freeform_of(kumo__metrics *m, const char *name, const char *help, int gauge)
{
    for (int i = 0; i < m->nfreeforms; i++)
        if (strcmp(m->freeforms[i]->name, name) == 0)
            return m->freeforms[i];
    if (m->nfreeforms == FREEFORM_MAX)
        return NULL;
    freeform *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    f->gauge = gauge;
    if (f->name == NULL || f->help == NULL) {
        free(f->name);
        free(f->help);
        free(f);
        return NULL;
    }
    m->freeforms[m->nfreeforms++] = f;
    qsort(m->freeforms, (size_t)m->nfreeforms, sizeof(*m->freeforms), freeform_cmp);
    return f;
}

void kumo__metrics_count(kumo__metrics *m, const char *name, const char *help, uint64_t n)
{
    if (m == NULL || name == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    freeform *f = freeform_of(m, name, help, 0);
    if (f)
        f->count += n;
    pthread_mutex_unlock(&m->lock);
}

void kumo__metrics_gauge(kumo__metrics *m, const char *name, const char *help, double value)
{
    if (m == NULL || name == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    freeform *f = freeform_of(m, name, help, 1);
    if (f)
        f->value = value;
    pthread_mutex_unlock(&m->lock);
}

int kumo__metrics_snapshot(kumo__metrics *m, kumo__msnap *out)
{
    memset(out, 0, sizeof(*out));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    out->taken_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    if (m == NULL)
        return 0;
    int n = __atomic_load_n(&m->nseries, __ATOMIC_ACQUIRE);
    if (n == 0)
        return 0;
    if ((out->rows = calloc((size_t)n, sizeof(*out->rows))) == NULL)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        const series *s = m->series[i];
        kumo__mrow *r = &out->rows[i];
        r->target = s->target;
        r->labels = m->targets[s->target];
        r->status = s->status;
        r->answered = s->answered;
        uint64_t sum[NFIELDS] = {0};
        for (int sh = 0; sh < m->nshards; sh++)
            for (int f = 0; f < NFIELDS; f++)
                sum[f] += GET(&s->blocks[(size_t)sh * NFIELDS + f]);
        r->count = sum[F_COUNT];
        r->errors = sum[F_ERRORS];
        r->timeouts = sum[F_TIMEOUTS];
        r->cold = sum[F_COLD];
        r->crashes = sum[F_CRASHES];
        r->long_runs = sum[F_LONG];
        r->rejected = sum[F_REJECTED];
        r->sum_us = sum[F_SUM];
        memcpy(r->buckets, sum + F_BUCKETS, sizeof(r->buckets));
    }
    out->n = (size_t)n;
    return 0;
}

void kumo__msnap_free(kumo__msnap *s)
{
    free(s->rows);
    s->rows = NULL;
    s->n = 0;
}

double kumo__mbuckets_quantile(const uint64_t *buckets, double q)
{
    uint64_t total = 0;
    for (int k = 0; k < KUMO__MBUCKETS; k++)
        total += buckets[k];
    if (total == 0)
        return 0;
    double rank = q * (double)total, seen = 0;
    for (int k = 0; k < KUMO__MBUCKETS; k++) {
        if (buckets[k] == 0 || seen + (double)buckets[k] < rank) {
            seen += (double)buckets[k];
            continue;
        }
        if (k == KUMO__MBUCKETS - 1)
            return (double)kumo__mbucket_us[k - 1] / 1e6;
        double lo = k == 0 ? 0 : (double)kumo__mbucket_us[k - 1], hi = (double)kumo__mbucket_us[k];
        return (lo + (hi - lo) * (rank - seen) / (double)buckets[k]) / 1e6;
    }
    return (double)kumo__mbucket_us[KUMO__MBUCKETS - 2] / 1e6;
}

/* ---- the Prometheus text format ------------------------------------------ */

static void bprintf(kumo__growbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(kumo__growbuf *b, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(line)) {
        kumo__growbuf_add(b, line, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
        b->over = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    kumo__growbuf_add(b, big, (size_t)n);
    free(big);
}

/* A label value, escaped as the text format wants (\\, \", \n). */
static void put_label(kumo__growbuf *b, const char *name, const char *v, int first)
{
    bprintf(b, "%s%s=\"", first ? "" : ",", name);
    for (const char *c = v; *c; c++) {
        if (*c == '\\')
            kumo__growbuf_add(b, "\\\\", 2);
        else if (*c == '"')
            kumo__growbuf_add(b, "\\\"", 2);
        else if (*c == '\n')
            kumo__growbuf_add(b, "\\n", 2);
        else
            kumo__growbuf_add(b, c, 1);
    }
    kumo__growbuf_add(b, "\"", 1);
}

static void family(kumo__growbuf *b, const char *name, const char *type, const char *help)
{
    bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_le(kumo__growbuf *b, int k)
{
    if (k == KUMO__MBUCKETS - 1)
        bprintf(b, "le=\"+Inf\"");
    else
        bprintf(b, "le=\"%g\"", (double)kumo__mbucket_us[k] / 1e6);
}

/* One histogram's _bucket, _sum and _count lines; `labels` is the label
 * list without braces ("" for none). */
static void put_histogram(kumo__growbuf *b, const char *name, const char *labels, const uint64_t *buckets,
                          uint64_t count, uint64_t sum_us)
{
    uint64_t cum = 0;
    for (int k = 0; k < KUMO__MBUCKETS; k++) {
        cum += buckets[k];
        bprintf(b, "%s_bucket{%s%s", name, labels, *labels ? "," : "");
        put_le(b, k);
        bprintf(b, "} %llu\n", (unsigned long long)cum);
    }
    bprintf(b, "%s_sum{%s} %.6f\n", name, labels, (double)sum_us / 1e6);
    bprintf(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)count);
}

/* The label list built so far ("" before any). */
static const char *labels_of(const kumo__growbuf *lb)
{
    return lb->data && lb->len ? lb->data : "";
}

/* The FaaS label set of a target: faas_name, operation, faas_trigger. */
static void faas_labels(kumo__growbuf *lb, const kumo__mtarget *t)
{
    lb->len = 0;
    put_label(lb, "faas_name", t->function, 1);
    put_label(lb, "operation", t->operation, 0);
    put_label(lb, "faas_trigger", t->trigger, 0);
}

/* Per target, the invoked rows summed over status. */
typedef struct per_target {
    uint64_t count, errors, timeouts, cold, long_runs, sum_us;
    uint64_t buckets[KUMO__MBUCKETS];
    int seen;
} per_target;

char *kumo__metrics_prometheus(kumo__metrics *m, const char *extra)
{
    kumo__msnap snap;
    if (kumo__metrics_snapshot(m, &snap) < 0)
        return NULL;
    kumo__growbuf b = {.max = 64u << 20}, lb = {.max = 1u << 16};
    per_target *pt = NULL;
    int ntargets = 0;
    if (m) {
        pthread_mutex_lock(&m->lock);
        ntargets = m->ntargets;
        pthread_mutex_unlock(&m->lock);
    }
    if (ntargets > 0 && (pt = calloc((size_t)ntargets, sizeof(*pt))) == NULL)
        goto oom;
    for (size_t i = 0; i < snap.n; i++) {
        const kumo__mrow *r = &snap.rows[i];
        if (r->answered || r->target >= ntargets)
            continue;
        per_target *p = &pt[r->target];
        p->seen = 1;
        p->count += r->count;
        p->errors += r->errors;
        p->timeouts += r->timeouts;
        p->cold += r->cold;
        p->long_runs += r->long_runs;
        p->sum_us += r->sum_us;
        for (int k = 0; k < KUMO__MBUCKETS; k++)
            p->buckets[k] += r->buckets[k];
    }

    /* HTTP: every request, invoked or answered by the gateway, by route
     * template, method and status. */
    family(&b, "http_server_request_duration_seconds", "histogram",
           "Duration of HTTP server requests, by OpenAPI route template (OpenTelemetry http.server.request.duration).");
    for (size_t i = 0; i < snap.n; i++) {
        const kumo__mrow *r = &snap.rows[i];
        if (strcmp(r->labels->trigger, "http") != 0)
            continue;
        /* an answered and an invoked row of the same (target, status)
         * are one series: the invoked row adds the answered one's */
        const kumo__mrow *twin = NULL;
        for (size_t j = 0; j < snap.n; j++)
            if (j != i && snap.rows[j].target == r->target && snap.rows[j].status == r->status)
                twin = &snap.rows[j];
        if (twin && r->answered)
            continue;
        uint64_t buckets[KUMO__MBUCKETS], count = r->count, sum = r->sum_us;
        memcpy(buckets, r->buckets, sizeof(buckets));
        if (twin) {
            count += twin->count;
            sum += twin->sum_us;
            for (int k = 0; k < KUMO__MBUCKETS; k++)
                buckets[k] += twin->buckets[k];
        }
        char status[16];
        snprintf(status, sizeof(status), "%d", r->status);
        lb.len = 0;
        put_label(&lb, "http_route", r->labels->route, 1);
        put_label(&lb, "http_request_method", r->labels->method, 0);
        put_label(&lb, "http_response_status_code", status, 0);
        put_label(&lb, "operation", r->labels->operation, 0);
        put_label(&lb, "faas_name", r->labels->function, 0);
        put_histogram(&b, "http_server_request_duration_seconds", labels_of(&lb), buckets, count, sum);
    }

    static const struct {
        const char *name, *help;
        size_t off;
    } counters[] = {
        {"faas_invocations_total",
         "Invocations of a function, by operation or event and trigger (OpenTelemetry faas.invocations).",
         offsetof(per_target, count)},
        {"faas_errors_total",
         "Invocations that failed: the handler failed, crashed or timed out, or answered 5xx (faas.errors).",
         offsetof(per_target, errors)},
        {"faas_timeouts_total", "Invocations that passed their deadline (faas.timeouts).",
         offsetof(per_target, timeouts)},
        {"faas_coldstarts_total", "Invocations that waited for a worker to start (faas.coldstarts).",
         offsetof(per_target, cold)},
        {"kumo_invocations_long_total", "Invocations that ran past 80% of their timeout.",
         offsetof(per_target, long_runs)},
    };
    for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
        family(&b, counters[c].name, "counter", counters[c].help);
        for (int t = 0; t < ntargets; t++) {
            if (!pt[t].seen)
                continue;
            faas_labels(&lb, m->targets[t]);
            bprintf(&b, "%s{%s} %llu\n", counters[c].name, labels_of(&lb),
                    (unsigned long long)*(const uint64_t *)((const char *)&pt[t] + counters[c].off));
        }
    }
    family(&b, "faas_invoke_duration_seconds", "histogram",
           "Duration of invocations, from arrival to the answer (OpenTelemetry faas.invoke_duration).");
    for (int t = 0; t < ntargets; t++) {
        if (!pt[t].seen)
            continue;
        faas_labels(&lb, m->targets[t]);
        put_histogram(&b, "faas_invoke_duration_seconds", labels_of(&lb), pt[t].buckets, pt[t].count, pt[t].sum_us);
    }
    family(&b, "kumo_rejected_total", "counter",
           "Calls refused by admission before a worker ran them (429: at the concurrency limit; 503: queue full or "
           "recovering).");
    for (size_t i = 0; i < snap.n; i++) {
        const kumo__mrow *r = &snap.rows[i];
        if (r->rejected == 0)
            continue;
        char status[16];
        snprintf(status, sizeof(status), "%d", r->status);
        lb.len = 0;
        put_label(&lb, "faas_name", r->labels->function, 1);
        put_label(&lb, "operation", r->labels->operation, 0);
        put_label(&lb, "http_response_status_code", status, 0);
        bprintf(&b, "kumo_rejected_total{%s} %llu\n", labels_of(&lb), (unsigned long long)r->rejected);
    }

    family(&b, "faas_init_duration_seconds", "histogram",
           "Time from asking for a worker to its hello: a cold start's share before the handler runs "
           "(OpenTelemetry faas.init_duration).");
    int ninits = m ? __atomic_load_n(&m->ninits, __ATOMIC_ACQUIRE) : 0;
    for (int i = 0; i < ninits; i++) {
        uint64_t sum[2 + KUMO__MBUCKETS] = {0};
        for (int sh = 0; sh < m->nshards; sh++)
            for (int f = 0; f < 2 + KUMO__MBUCKETS; f++)
                sum[f] += GET(&m->inits[i].blocks[(size_t)sh * (2 + KUMO__MBUCKETS) + f]);
        lb.len = 0;
        put_label(&lb, "faas_name", m->inits[i].function, 1);
        put_histogram(&b, "faas_init_duration_seconds", labels_of(&lb), sum + 2, sum[0], sum[1]);
    }

    if (m) {
        pthread_mutex_lock(&m->lock);
        const char *last = "";
        size_t last_base = 0;
        for (int i = 0; i < m->nfreeforms; i++) {
            const freeform *f = m->freeforms[i];
            size_t base = strcspn(f->name, "{");
            if (last_base != base || strncmp(last, f->name, base) != 0) {
                last_base = base;
                bprintf(&b, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)base, f->name, f->help, (int)base, f->name,
                        f->gauge ? "gauge" : "counter");
                last = f->name;
            }
            if (f->gauge)
                bprintf(&b, "%s %.17g\n", f->name, f->value);
            else
                bprintf(&b, "%s %llu\n", f->name, (unsigned long long)f->count);
        }
        pthread_mutex_unlock(&m->lock);
    }
    if (extra)
        kumo__growbuf_add(&b, extra, strlen(extra));
    if (b.over || b.data == NULL)
        goto oom;
    free(pt);
    free(lb.data);
    kumo__msnap_free(&snap);
    return b.data;
oom:
    free(pt);
    free(lb.data);
    free(b.data);
    kumo__msnap_free(&snap);
    return NULL;
}
