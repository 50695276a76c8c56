/*
 * monitor.c: the monitor thread of monitor.h. Each round:
 *
 *   1. snapshot the registry and sum its rows per operation (an
 *      operationId, or an event's name): invocations, errors, timeouts,
 *      long runs, and the latency histogram (HTTP: every answer, as
 *      http_server_request_duration_seconds counts them; events: the
 *      invocations);
 *   2. keep those running totals in a ring per operation, one entry a
 *      round, so a window's figures are the difference between now and
 *      the entry `window` ago (the registry lives as long as the gateway,
 *      so the totals never go back, across reloads too);
 *   3. judge the bounds, the anomalies and the long runs; every probe
 *      interval, send the probes;
 *   4. hand what holds to the alerts (alert.c), deliver what is due to the
 *      webhooks, and publish the JSON GET /alerts serves.
 *
 * Everything but the published JSON and the generation hand-over is the
 * thread's own. A generation's project and spec are borrowed until the
 * next one arrives; the thread releases the old one itself.
 */
#include "obs/monitor.h"
#include "base/curl_lazy.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "base/log.h"
#include "obs/alert.h"
#include "openapi/pointer.h"
#include "openapi/security.h"

#define MIN_JUDGED 5         /* invocations in a window before a bound is judged */
#define MIN_LATENCY_ROUND 10 /* answers in a round before its p99 joins the anomaly baseline */
#define RING_MAX 4096        /* rounds a ring holds: a 1 h window at 1 s rounds (shorter rounds: the oldest kept) */
#define OPS_MAX 1024         /* operations watched; more are left out (and said once) */
#define PROBES_MAX 64        /* probes per generation */
#define PROBE_BODY_MAX (1u << 20)
#define WEBHOOK_TIMEOUT_S 5.0

/* ---- the anomaly detector ----------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_of(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void kumo__anomaly_push(kumo__anomaly *a, double x, double floor_abs, double floor_rel, int up_only,
                        kumo__anomaly_verdict *out)
{
    memset(out, 0, sizeof(*out));
    out->value = x;
    if (a->n >= KUMO__ANOM_READY) {
        double v[KUMO__ANOM_HISTORY];
        memcpy(v, a->v, a->n * sizeof(double));
        double med = median_of(v, a->n);
        for (size_t i = 0; i < a->n; i++)
            v[i] = fabs(a->v[i] - med);
        double mad = median_of(v, a->n);
        double scale = 1.4826 * mad; /* the MAD of a normal series, as a standard deviation */
        if (scale < floor_abs)
            scale = floor_abs;
        if (scale < floor_rel * fabs(med))
            scale = floor_rel * fabs(med);
        out->ready = 1;
        out->baseline = med;
        out->scale = scale;
        out->z = scale > 0 ? (x - med) / scale : 0;
        out->anomalous = (up_only ? out->z : fabs(out->z)) > KUMO__ANOM_Z;
    }
    a->run = out->anomalous ? a->run + 1 : 0;
    out->sustained = a->run >= KUMO__ANOM_SUSTAIN;
    a->v[a->next] = x;
    a->next = (a->next + 1) % KUMO__ANOM_HISTORY;
    if (a->n < KUMO__ANOM_HISTORY)
        a->n++;
}

/* ---- the monitor's state ------------------------------------------------------ */

typedef struct totals {
    uint64_t count, errors, timeouts, long_runs;
    uint64_t buckets[KUMO__MBUCKETS];
} totals;

typedef struct probe {
    size_t op_index; /* into the generation's spec */
    char *url;       /* probe_base + base path + the path with its examples, + query */
    char method[16];
    char *body;             /* probe: always: the request's example (JSON), or NULL */
    char content_type[128]; /* its media type */
    char operation[128];
    char function[64];
} probe;

typedef struct probe_result {
    int done, ok;
    long status;
    double seconds;
    char why[512];
    uint64_t at_ms;
} probe_result;

typedef struct op_state {
    char name[128], function[64];
    int http;
    totals now;    /* this round's running totals */
    totals *ring;  /* one entry a round, ring_len long */
    size_t rounds; /* entries written so far */
    int from_zero; /* the ring began with the registry (else at a reload that resized it: its first entry is the base)
                    */
    kumo__anomaly rate, errors, p99;
    kumo__anomaly_verdict v_rate, v_errors, v_p99;
    int have_errors_v, have_p99_v;
    /* the last round's figures, for GET /alerts */
    uint64_t w_count, w_errors, w_long, w_timeouts;
    double w_latency[KUMO__MON_QUANTILES];
    probe_result probe;
    int probed; /* a probe of this generation targets it */
} op_state;

typedef struct held_gen {
    kumo__monitor_gen g;
    int set;
} held_gen;

/* A function's running calls, for the busy-worker check. */
typedef struct fn_state {
    char name[64];
    double oldest_s, usual_s; /* the oldest running call's age; how long a warm call usually runs */
} fn_state;

struct kumo__monitor {
    kumo__metrics *metrics;
    char *probe_base, *admin_url;
    uint64_t interval_ms;
    pthread_t thread;
    pthread_mutex_t lock; /* guards: stop, next, json */
    pthread_cond_t wake;
    int stop;
    int stopping;  /* stop, read without the lock by libcurl's progress callback (atomic) */
    held_gen next; /* handed over, not yet taken by the thread */
    char *json;    /* the last round's GET /alerts */
    /* the thread's own */
    int curl; /* libcurl: 0 not set up yet, 1 set up, -1 it failed (curl_ready) */
    held_gen cur;
    kumo__monitors_config cfg;
    probe *probes;
    size_t nprobes;
    uint64_t last_probe_ms;
    op_state **ops;
    size_t nops;
    size_t ring_len;
    int ops_full_said;
    kumo__alerts alerts;
    kumo__webhook_log hook_logs[KUMO__WEBHOOKS_MAX]; /* per alerts.webhooks entry */
    fn_state *fns;
    size_t nfns;
    uint64_t round_ms; /* epoch of the last round */
    uint64_t rounds;
    char data_dir[4096];     /* where alerts.json is kept; "" until a generation names it */
    char alerts_path[4200];  /* data_dir/alerts.json; "": in memory only */
    int alerts_save_failing; /* the last save failed (said once until one succeeds) */
};

uint64_t kumo__monitor_interval_ms(void)
{
    const char *s = getenv("KUMO_MONITOR_INTERVAL_MS");
    if (s && *s) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (*end == '\0' && v >= 50 && v <= 3600000)
            return v;
    }
    return 10000;
}

/* ---- generations ----------------------------------------------------------- */

static void release_gen(held_gen *h)
{
    if (h->set && h->g.release)
        h->g.release(h->g.ctx);
    memset(h, 0, sizeof(*h));
}

static void free_probes(kumo__monitor *mon)
{
    for (size_t i = 0; i < mon->nprobes; i++) {
        free(mon->probes[i].url);
        free(mon->probes[i].body);
    }
    free(mon->probes);
    mon->probes = NULL;
    mon->nprobes = 0;
}

/* s percent-encoded (all but RFC 3986's unreserved characters) into out. */
static void encode(const char *s, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

/* The example of a Parameter Object (or its schema), as a string. */
static int param_example(const json_t *param, char *buf, size_t len)
{
    const json_t *ex = json_object_get(param, "example");
    if (ex == NULL) {
        const json_t *examples = json_object_get(param, "examples");
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)examples, k, e)
        {
            ex = json_object_get(e, "value");
            break;
        }
    }
    if (ex == NULL)
        ex = json_object_get(json_object_get(param, "schema"), "example");
    if (json_is_string(ex))
        snprintf(buf, len, "%s", json_string_value(ex));
    else if (json_is_integer(ex))
        snprintf(buf, len, "%lld", (long long)json_integer_value(ex));
    else if (json_is_real(ex))
        snprintf(buf, len, "%g", json_real_value(ex));
    else if (json_is_boolean(ex))
        snprintf(buf, len, "%s", json_is_true(ex) ? "true" : "false");
    else
        return -1;
    return 0;
}

/* The Parameter Object named name/in of the operation, from its own
 * parameters or its path item's, a local $ref followed. */
static const json_t *find_param(const kumo__spec *spec, const kumo__operation *op, const char *name, const char *in)
{
    json_t *root = kumo__doc_root(spec->doc);
    char ptr[1200];
    size_t o = 0;
    o += (size_t)snprintf(ptr, sizeof(ptr), "/paths/");
    for (const char *c = op->path; *c && o + 3 < sizeof(ptr); c++) {
        if (*c == '~' || *c == '/') {
            ptr[o++] = '~';
            ptr[o++] = *c == '~' ? '0' : '1';
        } else {
            ptr[o++] = *c;
        }
    }
    ptr[o] = '\0';
    const json_t *item = kumo__pointer_get(root, ptr, o, 0);
    const json_t *lists[2] = {json_object_get(op->node, "parameters"), json_object_get(item, "parameters")};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *p;
        json_array_foreach((json_t *)lists[l], i, p)
        {
            const json_t *ref = json_object_get(p, "$ref");
            if (json_is_string(ref) && json_string_value(ref)[0] == '#') {
                const char *r = json_string_value(ref) + 1;
                p = kumo__pointer_get(root, r, strlen(r), 1);
            }
            if (p && json_is_string(json_object_get(p, "name")) &&
                strcmp(json_string_value(json_object_get(p, "name")), name) == 0 &&
                json_is_string(json_object_get(p, "in")) &&
                strcmp(json_string_value(json_object_get(p, "in")), in) == 0)
                return p;
        }
    }
    return NULL;
}

/* Whether a 2xx response of op has an example (in a media type, or its schema). */
static int response_has_example(const kumo__operation *op)
{
    const char *status;
    json_t *r;
    json_object_foreach(json_object_get(op->node, "responses"), status, r)
    {
        if (status[0] != '2')
            continue;
        const char *mt;
        json_t *m;
        json_object_foreach(json_object_get(r, "content"), mt, m)
        {
            if (json_object_get(m, "example") || json_object_size(json_object_get(m, "examples")) > 0 ||
                json_object_get(json_object_get(m, "schema"), "example"))
                return 1;
        }
        if (json_object_get(r, "examples")) /* Swagger 2.0 */
            return 1;
    }
    return 0;
}

/* The example of op's JSON request body (OpenAPI 3: requestBody's media
 * type example, the first of its examples, or its schema's example;
 * Swagger 2.0: the body parameter's schema example), dumped into *out with
 * its media type; 0, 1 when op has no body (nothing to send), -1 when it
 * needs one that has no example. */
static int request_example(const kumo__spec *spec, const kumo__operation *op, char **out, char *ctype, size_t clen)
{
    json_t *rb = json_object_get(op->node, "requestBody");
    const json_t *ref = json_object_get(rb, "$ref");
    if (json_is_string(ref) && json_string_value(ref)[0] == '#') {
        const char *r = json_string_value(ref) + 1;
        rb = (json_t *)kumo__pointer_get(kumo__doc_root(spec->doc), r, strlen(r), 1);
    }
    const char *mt = NULL;
    json_t *m = NULL, *ex = NULL;
    if (rb) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(rb, "content"), k, v)
        {
            if (strstr(k, "json") && mt == NULL)
                mt = k, m = v;
        }
        if (m) {
            ex = json_object_get(m, "example");
            if (ex == NULL) {
                const char *name;
                json_t *e;
                json_object_foreach(json_object_get(m, "examples"), name, e)
                {
                    if ((ex = json_object_get(e, "value")) != NULL)
                        break;
                }
            }
            if (ex == NULL)
                ex = json_object_get(json_object_get(m, "schema"), "example");
        }
        if (ex == NULL)
            return json_is_true(json_object_get(rb, "required")) ? -1 : 1;
    } else {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(op->node, "parameters"), i, p)
        {
            const char *in = json_string_value(json_object_get(p, "in"));
            if (in && strcmp(in, "body") == 0) {
                ex = json_object_get(json_object_get(p, "schema"), "example");
                if (ex == NULL)
                    return json_is_true(json_object_get(p, "required")) ? -1 : 1;
                mt = "application/json";
            }
        }
        if (ex == NULL)
            return 1;
    }
    if ((*out = json_dumps(ex, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
        return -1;
    snprintf(ctype, clen, "%s", mt ? mt : "application/json");
    return 0;
}

/* A probe for op, or -1 when it cannot have one (not GET unless its
 * monitor says probe: always, no example of its answer, a required
 * parameter or body without an example, security that needs a
 * credential: a probe has none, and a 401 would say nothing). */
static int build_probe(const kumo__monitor *mon, const kumo__spec *spec, size_t index, probe *out)
{
    const kumo__operation *op = &spec->ops[index];
    int always = op->operation_id && kumo__monitors_bounds(&mon->cfg, op->operation_id)->probe == KUMO__PROBE_ALWAYS;
    if ((strcmp(op->method, "GET") != 0 && !always) || op->operation_id == NULL || op->unit_index < 0 ||
        !response_has_example(op) || !kumo__security_op_anonymous(spec, index))
        return -1;
    char *body = NULL, ctype[128] = "";
    if (strcmp(op->method, "GET") != 0 && request_example(spec, op, &body, ctype, sizeof(ctype)) < 0)
        return -1;
    char path[2048], query[1024] = "";
    size_t o = 0, q = 0;
    for (const char *c = op->path; *c;) {
        if (*c != '{') {
            if (o + 1 >= sizeof(path))
                return -1;
            path[o++] = *c++;
            continue;
        }
        const char *end = strchr(c, '}');
        if (end == NULL)
            return -1;
        char name[128], value[256], enc[768];
        snprintf(name, sizeof(name), "%.*s", (int)(end - c - 1), c + 1);
        const json_t *p = find_param(spec, op, name, "path");
        if (p == NULL || param_example(p, value, sizeof(value)) < 0)
            return -1;
        encode(value, enc, sizeof(enc));
        if (o + strlen(enc) + 1 >= sizeof(path))
            return -1;
        memcpy(path + o, enc, strlen(enc));
        o += strlen(enc);
        c = end + 1;
    }
    path[o] = '\0';
    for (size_t i = 0; i < op->nparams; i++) {
        const kumo__param *p = &op->params[i];
        if (!p->required || p->in == KUMO__IN_PATH)
            continue;
        if (p->in != KUMO__IN_QUERY)
            return -1; /* a required header or cookie: not guessed */
        char value[256], enc[768];
        const json_t *node = find_param(spec, op, p->name, "query");
        if (node == NULL || param_example(node, value, sizeof(value)) < 0)
            return -1;
        encode(value, enc, sizeof(enc));
        int w = snprintf(query + q, sizeof(query) - q, "%c%s=%s", q ? '&' : '?', p->name, enc);
        if (w < 0 || (size_t)w >= sizeof(query) - q)
            return -1;
        q += (size_t)w;
    }
    memset(out, 0, sizeof(*out));
    out->op_index = index;
    if (asprintf(&out->url, "%s%s%s%s", mon->probe_base, spec->base_path ? spec->base_path : "", path, query) < 0) {
        out->url = NULL;
        free(body);
        return -1;
    }
    snprintf(out->method, sizeof(out->method), "%s", op->method);
    out->body = body;
    snprintf(out->content_type, sizeof(out->content_type), "%s", ctype);
    snprintf(out->operation, sizeof(out->operation), "%s", op->operation_id);
    return 0;
}

/* The alerts a stopped kumo left firing or undelivered, from the data
 * folder's alerts.json, once, at the first generation. A restored firing
 * alert holds until its condition can have been seen again before it is
 * judged: one `for:`, and when probes run one probe interval plus its
 * timeout (at least two rounds). The monitor starts with empty windows
 * and no probe results; an alert that still holds goes on without a
 * second "firing". */
static void restore_alerts(kumo__monitor *mon, const char *data_dir)
{
    snprintf(mon->data_dir, sizeof(mon->data_dir), "%s", data_dir);
    snprintf(mon->alerts_path, sizeof(mon->alerts_path), "%s/alerts.json", data_dir);
    double hold_s = mon->cfg.for_s;
    if (mon->probe_base && mon->cfg.probe_interval_s > 0 &&
        hold_s < mon->cfg.probe_interval_s + mon->cfg.probe_timeout_s)
        hold_s = mon->cfg.probe_interval_s + mon->cfg.probe_timeout_s;
    uint64_t hold = (uint64_t)(hold_s * 1000) + mon->interval_ms;
    if (hold < 2 * mon->interval_ms)
        hold = 2 * mon->interval_ms;
    kumo__error err = {0};
    if (kumo__alerts_load(&mon->alerts, mon->alerts_path, kumo__epoch_ms(), hold, &err) != 0) {
        kumo__log_event("warn", "%s", err.msg);
        return;
    }
    size_t firing = kumo__alerts_firing(&mon->alerts);
    if (mon->alerts.n)
        kumo__log_event("info", "alerts restored from %s: %zu firing, %zu resolved", mon->alerts_path, firing,
                        mon->alerts.n - firing);
}

/* After a round that changed the alerts: alerts.json says so. */
static void keep_alerts(kumo__monitor *mon)
{
    if (!mon->alerts_path[0] || !mon->alerts.dirty)
        return;
    if (mkdir(mon->data_dir, 0700) != 0 && errno != EEXIST) {
        if (!mon->alerts_save_failing)
            kumo__log_event("warn", "cannot make %s to keep the alerts across restarts: %s", mon->data_dir,
                            strerror(errno));
        mon->alerts_save_failing = 1;
        return;
    }
    kumo__error err = {0};
    if (kumo__alerts_save(&mon->alerts, mon->alerts_path, &err) != 0) {
        if (!mon->alerts_save_failing)
            kumo__log_event("warn", "%s; alerts are kept in memory only until it works", err.msg);
        mon->alerts_save_failing = 1;
        return;
    }
    mon->alerts_save_failing = 0;
}

/* The thread moves to the generation handed over, if any. */
static void take_generation(kumo__monitor *mon)
{
    pthread_mutex_lock(&mon->lock);
    held_gen next = mon->next;
    memset(&mon->next, 0, sizeof(mon->next));
    pthread_mutex_unlock(&mon->lock);
    if (!next.set)
        return;
    release_gen(&mon->cur);
    mon->cur = next;
    const kumo__project *p = next.g.project;
    kumo__monitors_config copy;
    if (kumo__monitors_copy(&copy, &p->monitors) == 0) {
        kumo__monitors_free(&mon->cfg);
        mon->cfg = copy;
    }
    memset(mon->hook_logs, 0, sizeof(mon->hook_logs)); /* the list may have changed */
    mon->alerts.for_s = mon->cfg.for_s;
    mon->alerts.resend_s = mon->cfg.resend_s;
    snprintf(mon->alerts.project, sizeof(mon->alerts.project), "%s", p->name);
    if (!mon->alerts_path[0] && next.g.data_dir && next.g.data_dir[0] && p->obs.enabled)
        restore_alerts(mon, next.g.data_dir);
    free_probes(mon);
    for (size_t i = 0; i < mon->nops; i++)
        mon->ops[i]->probed = 0;
    const kumo__spec *spec = next.g.spec;
    if (mon->probe_base && mon->cfg.probe_interval_s > 0 && spec &&
        (mon->probes = calloc(PROBES_MAX, sizeof(*mon->probes))) != NULL) {
        for (size_t i = 0; i < spec->nops && mon->nprobes < PROBES_MAX; i++) {
            probe *pr = &mon->probes[mon->nprobes];
            if (spec->ops[i].operation_id && !kumo__monitors_bounds(&mon->cfg, spec->ops[i].operation_id)->probe)
                continue; /* probe: false */
            if (build_probe(mon, spec, i, pr) != 0)
                continue;
            int u = spec->ops[i].unit_index;
            if (u >= 0 && (size_t)u < p->nunits)
                snprintf(pr->function, sizeof(pr->function), "%s", p->units[u].name);
            mon->nprobes++;
        }
    }
    /* the first probes one interval after start (or the reload): a fresh
     * gateway is not probed while it warms up */
    mon->last_probe_ms = kumo__epoch_ms();
    /* the ring must cover the longest window */
    double longest = mon->cfg.defaults.window_s;
    for (size_t i = 0; i < mon->cfg.nops; i++)
        if (mon->cfg.ops[i].bounds.window_s > longest)
            longest = mon->cfg.ops[i].bounds.window_s;
    size_t len = (size_t)ceil(longest * 1000 / (double)mon->interval_ms) + 2;
    if (len > RING_MAX)
        len = RING_MAX;
    if (len != mon->ring_len) {
        for (size_t i = 0; i < mon->nops; i++) {
            free(mon->ops[i]->ring);
            mon->ops[i]->ring = NULL;
            mon->ops[i]->rounds = 0;
            mon->ops[i]->from_zero = 0; /* old counts must not land in the new window */
        }
        mon->ring_len = len;
    }
}

/* ---- one round --------------------------------------------------------------- */

static op_state *op_find(kumo__monitor *mon, const char *name, const char *function, int http)
{
    for (size_t i = 0; i < mon->nops; i++)
        if (strcmp(mon->ops[i]->name, name) == 0)
            return mon->ops[i];
    if (mon->nops >= OPS_MAX) {
        if (!mon->ops_full_said++)
            kumo__log_event("warn", "the monitor watches at most %d operations; '%s' and later ones are not", OPS_MAX,
                            name);
        return NULL;
    }
    if (mon->nops % 64 == 0) {
        op_state **v = realloc(mon->ops, (mon->nops + 64) * sizeof(*v));
        if (v == NULL)
            return NULL;
        mon->ops = v;
    }
    op_state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->function, sizeof(s->function), "%s", function);
    s->http = http;
    s->from_zero = 1;
    mon->ops[mon->nops++] = s;
    return s;
}

/* The running totals of each operation from a snapshot. */
static void gather(kumo__monitor *mon, const kumo__msnap *snap)
{
    for (size_t i = 0; i < mon->nops; i++)
        memset(&mon->ops[i]->now, 0, sizeof(mon->ops[i]->now));
    for (size_t i = 0; i < snap->n; i++) {
        const kumo__mrow *r = &snap->rows[i];
        if (r->labels == NULL || r->labels->operation == NULL || r->labels->operation[0] == '\0')
            continue; /* no route: nothing to watch it under */
        int http = strcmp(r->labels->trigger, "http") == 0;
        op_state *s = op_find(mon, r->labels->operation, r->labels->function, http);
        if (s == NULL)
            continue;
        if (r->labels->function[0] && s->function[0] == '\0')
            snprintf(s->function, sizeof(s->function), "%s", r->labels->function);
        if (!r->answered) {
            s->now.count += r->count;
            s->now.errors += r->errors;
            s->now.timeouts += r->timeouts;
            s->now.long_runs += r->long_runs;
        }
        if (http || !r->answered)
            for (int k = 0; k < KUMO__MBUCKETS; k++)
                s->now.buckets[k] += r->buckets[k];
    }
}

/* The totals now (the ring's newest entry) minus those `back` rounds ago
 * (zeros before the first round). */
static totals delta(const op_state *s, size_t ring_len, size_t back)
{
    totals d = s->now;
    if (back >= ring_len)
        back = ring_len - 1; /* the oldest kept */
    if (back >= s->rounds) {
        if (s->from_zero)
            return d;         /* the registry started at zero: the whole history */
        back = s->rounds - 1; /* since the ring was reset: its first entry */
    }
    const totals *old = &s->ring[(s->rounds - 1 - back) % ring_len];
    d.count -= old->count;
    d.errors -= old->errors;
    d.timeouts -= old->timeouts;
    d.long_runs -= old->long_runs;
    for (int k = 0; k < KUMO__MBUCKETS; k++)
        d.buckets[k] -= old->buckets[k];
    return d;
}

static uint64_t bucket_total(const uint64_t *b)
{
    uint64_t n = 0;
    for (int k = 0; k < KUMO__MBUCKETS; k++)
        n += b[k];
    return n;
}

/* Invocations longer than limit_s, from the histogram (linear within the
 * bucket the limit falls in). */
static double longer_than(const uint64_t *b, double limit_s)
{
    double limit_us = limit_s * 1e6, n = 0;
    for (int k = 0; k < KUMO__MBUCKETS; k++) {
        double lo = k == 0 ? 0 : (double)kumo__mbucket_us[k - 1];
        double hi = k == KUMO__MBUCKETS - 1 ? lo * 2 : (double)kumo__mbucket_us[k];
        if (lo >= limit_us)
            n += (double)b[k];
        else if (hi > limit_us)
            n += (double)b[k] * (hi - limit_us) / (hi - lo);
    }
    return n;
}

static double timeout_of(const kumo__monitor *mon, const char *function)
{
    const kumo__project *p = mon->cur.g.project;
    const kumo__unit *u = p && function[0] ? kumo__project_unit(p, function) : NULL;
    return u ? u->tuning.timeout_s : p ? p->timeout_s : 10;
}

static void cond(kumo__monitor *mon, const op_state *s, const char *name, const char *severity, const char *summary,
                 const char *description, int min_rounds)
{
    kumo__alert_cond c = {.name = name,
                          .operation = s ? s->name : "",
                          .function = s ? s->function : "",
                          .severity = severity,
                          .summary = summary,
                          .description = description,
                          .min_rounds = min_rounds};
    kumo__alerts_set(&mon->alerts, &c);
}

static void fmt_window(double s, char *buf, size_t len)
{
    if (s >= 3600 && fmod(s, 3600) == 0)
        snprintf(buf, len, "%gh", s / 3600);
    else if (s >= 60 && fmod(s, 60) == 0)
        snprintf(buf, len, "%gm", s / 60);
    else
        snprintf(buf, len, "%gs", s);
}

static void judge_bounds(kumo__monitor *mon, op_state *s, const kumo__mon_bounds *b)
{
    size_t back = (size_t)ceil(b->window_s * 1000 / (double)mon->interval_ms);
    totals w = delta(s, mon->ring_len, back);
    char win[32], summary[256], desc[1024];
    fmt_window(b->window_s, win, sizeof(win));
    s->w_count = w.count;
    s->w_errors = w.errors;
    s->w_timeouts = w.timeouts;
    uint64_t answers = bucket_total(w.buckets);
    for (int q = 0; q < KUMO__MON_QUANTILES; q++) {
        s->w_latency[q] = answers ? kumo__mbuckets_quantile(w.buckets, kumo__mon_quantile[q]) : 0;
        if (b->latency_s[q] <= 0 || answers < MIN_JUDGED || s->w_latency[q] <= b->latency_s[q])
            continue;
        char name[64];
        snprintf(name, sizeof(name), "KumoLatency%s%sHigh", "P", kumo__mon_quantile_key[q] + 1);
        snprintf(summary, sizeof(summary), "%s: %s latency %.1f ms is above its bound of %.1f ms", s->name,
                 kumo__mon_quantile_key[q], s->w_latency[q] * 1000, b->latency_s[q] * 1000);
        snprintf(desc, sizeof(desc),
                 "%s of %llu answers over the last %s: %.3f ms (from the histogram buckets); bound %.3f ms",
                 kumo__mon_quantile_key[q], (unsigned long long)answers, win, s->w_latency[q] * 1000,
                 b->latency_s[q] * 1000);
        cond(mon, s, name, "warning", summary, desc, 1);
    }
    if (b->errors >= 0 && w.count >= MIN_JUDGED) {
        double rate = (double)w.errors / (double)w.count;
        if (rate > b->errors) {
            snprintf(summary, sizeof(summary), "%s: error rate %.2f%% is above its bound of %g%%", s->name, rate * 100,
                     b->errors * 100);
            snprintf(desc, sizeof(desc), "%llu of %llu invocations failed over the last %s (%.2f%%); bound %g%%",
                     (unsigned long long)w.errors, (unsigned long long)w.count, win, rate * 100, b->errors * 100);
            cond(mon, s, "KumoErrorRateHigh", "warning", summary, desc, 1);
        }
    }
    if (b->long_running > 0) {
        double timeout = timeout_of(mon, s->function);
        /* the registry counts runs past 80% of the timeout exactly; another
         * share is read from the histogram */
        double n = fabs(b->long_running - KUMO__LONG_SHARE) < 1e-9 ? (double)w.long_runs
                                                                   : longer_than(w.buckets, b->long_running * timeout);
        s->w_long = (uint64_t)llround(n);
        if (n >= 0.5 || w.timeouts > 0) {
            snprintf(summary, sizeof(summary), "%s: invocations run too long (%g%% of the %g s timeout, or past it)",
                     s->name, b->long_running * 100, timeout);
            snprintf(desc, sizeof(desc),
                     "over the last %s: %llu invocations ran past %.0f ms (%g%% of the timeout), %llu timed out", win,
                     (unsigned long long)s->w_long, b->long_running * timeout * 1000, b->long_running * 100,
                     (unsigned long long)w.timeouts);
            cond(mon, s, "KumoLongRunning", "warning", summary, desc, 1);
        }
    }
}

static void anomaly_cond(kumo__monitor *mon, op_state *s, const char *name, const char *what,
                         const kumo__anomaly_verdict *v, double unit, const char *unit_name)
{
    if (!v->sustained)
        return;
    char summary[256], desc[1024];
    snprintf(summary, sizeof(summary), "%s: %s %.3g%s is far from its baseline of %.3g%s", s->name, what,
             v->value * unit, unit_name, v->baseline * unit, unit_name);
    snprintf(desc, sizeof(desc),
             "%s %.4g%s against a baseline of %.4g%s (the median of its last %d rounds): %.1f deviations "
             "(1.4826 x the median absolute deviation, at least a floor of %.4g%s), for %d rounds in a row",
             what, v->value * unit, unit_name, v->baseline * unit, unit_name, KUMO__ANOM_HISTORY, v->z, v->scale * unit,
             unit_name, KUMO__ANOM_SUSTAIN);
    cond(mon, s, name, "warning", summary, desc, 1);
}

static void judge_anomalies(kumo__monitor *mon, op_state *s, const kumo__mon_bounds *b)
{
    totals d = delta(s, mon->ring_len, 1); /* the last round */
    double secs = (double)mon->interval_ms / 1000;
    /* request rate: at least one request a round, or a fifth of the baseline */
    kumo__anomaly_push(&s->rate, (double)d.count / secs, 1 / secs, 0.2, 0, &s->v_rate);
    if (d.count > 0) {
        /* error rate: at least 2 points, or a fifth of the baseline */
        kumo__anomaly_push(&s->errors, (double)d.errors / (double)d.count, 0.02, 0.2, 1, &s->v_errors);
        s->have_errors_v = 1;
    }
    uint64_t answers = bucket_total(d.buckets);
    if (answers >= MIN_LATENCY_ROUND) {
        /* p99: at least 2 ms, or a quarter of the baseline */
        kumo__anomaly_push(&s->p99, kumo__mbuckets_quantile(d.buckets, 0.99), 0.002, 0.25, 1, &s->v_p99);
        s->have_p99_v = 1;
    }
    if (!b->anomalies)
        return;
    anomaly_cond(mon, s, "KumoRequestRateAnomaly", "request rate", &s->v_rate, 1, "/s");
    if (d.count > 0)
        anomaly_cond(mon, s, "KumoErrorRateAnomaly", "error rate", &s->v_errors, 100, "%");
    if (answers >= MIN_LATENCY_ROUND)
        anomaly_cond(mon, s, "KumoLatencyAnomaly", "p99 latency", &s->v_p99, 1000, " ms");
}

/* A worker busy far longer than its function usually takes: the oldest
 * running call against 10 x the pools' moving average of a warm call's run
 * time (at least 1 s). Warm: a cold start must not make "usual" slow. */
#define BUSY_FACTOR 10
#define BUSY_MIN_S 1.0
static void judge_busy(kumo__monitor *mon)
{
    const kumo__monitor_gen *g = &mon->cur.g;
    mon->nfns = 0;
    if (g->oldest_us == NULL)
        return;
    for (size_t i = 0; i < mon->nops; i++) {
        const op_state *s = mon->ops[i];
        if (s->function[0] == '\0' || kumo__monitors_bounds(&mon->cfg, s->name)->long_running <= 0)
            continue;
        fn_state *f = NULL;
        for (size_t k = 0; k < mon->nfns && f == NULL; k++)
            if (strcmp(mon->fns[k].name, s->function) == 0)
                f = &mon->fns[k];
        if (f == NULL) {
            if (mon->nfns % 16 == 0) {
                fn_state *v = realloc(mon->fns, (mon->nfns + 16) * sizeof(*v));
                if (v == NULL)
                    return;
                mon->fns = v;
            }
            f = &mon->fns[mon->nfns++];
            memset(f, 0, sizeof(*f));
            snprintf(f->name, sizeof(f->name), "%s", s->function);
        }
    }
    for (size_t k = 0; k < mon->nfns; k++) {
        fn_state *f = &mon->fns[k];
        uint64_t usual_us = 0;
        f->oldest_s = (double)g->oldest_us(g->oldest_ctx, f->name, &usual_us) / 1e6;
        f->usual_s = (double)usual_us / 1e6;
        double limit = f->usual_s * BUSY_FACTOR > BUSY_MIN_S ? f->usual_s * BUSY_FACTOR : BUSY_MIN_S;
        if (f->usual_s <= 0 || f->oldest_s <= limit)
            continue;
        char summary[256], desc[1024];
        snprintf(summary, sizeof(summary), "%s: a worker has been running one call for %.1f s", f->name, f->oldest_s);
        snprintf(desc, sizeof(desc),
                 "the oldest call running on a worker of %s began %.3f s ago; its warm calls usually run %.3f s (a "
                 "moving average over its workers), and the limit is %dx that (at least %g s)",
                 f->name, f->oldest_s, f->usual_s, BUSY_FACTOR, BUSY_MIN_S);
        kumo__alert_cond c = {.name = "KumoWorkerBusyLong",
                              .operation = "",
                              .function = f->name,
                              .severity = "warning",
                              .summary = summary,
                              .description = desc,
                              .min_rounds = 1};
        kumo__alerts_set(&mon->alerts, &c);
    }
}

/* ---- probes ----------------------------------------------------------------- */

typedef struct body_buf {
    char *data;
    size_t len;
    int over;
} body_buf;

static size_t body_write(char *ptr, size_t size, size_t n, void *ctx)
{
    body_buf *b = ctx;
    size_t add = size * n;
    if (b->len + add > PROBE_BODY_MAX) {
        b->over = 1;
        return 0;
    }
    char *d = realloc(b->data, b->len + add + 1);
    if (d == NULL)
        return 0;
    memcpy(d + b->len, ptr, add);
    b->data = d;
    b->len += add;
    d[b->len] = '\0';
    return add;
}

/* One probe in flight. */
typedef struct probe_run {
    CURL *c;
    struct curl_slist *headers;
    body_buf body;
    char errbuf[CURL_ERROR_SIZE];
    const probe *pr;
    op_state *s;
} probe_run;

/* The verdict on a finished probe, into r->s->probe. */
static void probe_finish(kumo__monitor *mon, probe_run *r, CURLcode rc)
{
    probe_result *res = &r->s->probe;
    memset(res, 0, sizeof(*res));
    res->done = 1;
    res->at_ms = kumo__epoch_ms();
    curl_off_t total_us = 0;
    curl_easy_getinfo(r->c, CURLINFO_TOTAL_TIME_T, &total_us);
    res->seconds = (double)total_us / 1e6;
    if (rc != CURLE_OK) {
        if (rc == CURLE_OPERATION_TIMEDOUT)
            snprintf(res->why, sizeof(res->why), "no answer within %g s", mon->cfg.probe_timeout_s);
        else if (r->body.over)
            snprintf(res->why, sizeof(res->why), "the answer is over %u bytes", PROBE_BODY_MAX);
        else
            snprintf(res->why, sizeof(res->why), "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
        return;
    }
    curl_easy_getinfo(r->c, CURLINFO_RESPONSE_CODE, &res->status);
    if (res->status >= 500 || res->status < 100) {
        snprintf(res->why, sizeof(res->why), "answered %ld", res->status);
        return;
    }
    kumo__opcheck *const *checks = mon->cur.g.checks;
    if (checks && checks[r->pr->op_index]) {
        char *ct = NULL;
        curl_easy_getinfo(r->c, CURLINFO_CONTENT_TYPE, &ct);
        kumo__violations v = {.limit = 3};
        kumo__slice cts = {ct ? ct : "", ct ? strlen(ct) : 0}, bs = {r->body.data ? r->body.data : "", r->body.len};
        if (kumo__opcheck_response(checks[r->pr->op_index], (int)res->status, cts, bs, &v) != 0) {
            snprintf(res->why, sizeof(res->why), "answered %ld out of contract: %s%s%s", res->status,
                     v.count ? v.items[0].instance : "", v.count && v.items[0].instance[0] ? " " : "",
                     v.count ? v.items[0].message : "the status or its content type is not declared");
            kumo__violations_free(&v);
            return;
        }
        kumo__violations_free(&v);
    }
    res->ok = 1;
}

static int probe_abort(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    return kumo__curl_abort_on(ctx, a, b, c, d);
}

/* libcurl, set up on the monitor's thread when a probe or a webhook first
 * needs it: loading it maps about twenty libraries and sets up their TLS
 * (3 to 8 ms), and a dlopen holds the loader's lock, which a thread's start
 * takes too. A project without probes or webhooks never loads it, and one
 * with them does not pay it during kumo up's start (issue 19). */
static int curl_ready(kumo__monitor *mon)
{
    if (mon->curl == 0)
        mon->curl = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 1 : -1;
    return mon->curl == 1;
}

/* Every probe at once (curl's multi interface), all done within the probe
 * timeout: a slow API delays a round by that much at most. */
static void run_probes(kumo__monitor *mon, uint64_t now_ms)
{
    if (mon->nprobes == 0 || mon->cfg.probe_interval_s <= 0)
        return;
    if ((double)(now_ms - mon->last_probe_ms) < mon->cfg.probe_interval_s * 1000)
        return;
    mon->last_probe_ms = now_ms;
    if (!curl_ready(mon))
        return;
    probe_run *runs = calloc(mon->nprobes, sizeof(*runs));
    CURLM *multi = curl_multi_init();
    if (runs == NULL || multi == NULL)
        goto out;
    for (size_t i = 0; i < mon->nprobes; i++) {
        probe_run *r = &runs[i];
        r->pr = &mon->probes[i];
        if ((r->s = op_find(mon, r->pr->operation, r->pr->function, 1)) == NULL)
            continue;
        r->s->probed = 1;
        r->c = curl_easy_init();
        r->headers = curl_slist_append(NULL, "Accept: application/json, */*;q=0.5");
        struct curl_slist *h = r->headers ? curl_slist_append(r->headers, "User-Agent: kumo-probe") : NULL;
        if (r->c == NULL || h == NULL) {
            r->s->probe = (probe_result){.done = 1, .at_ms = now_ms};
            snprintf(r->s->probe.why, sizeof(r->s->probe.why), "out of memory");
            continue;
        }
        r->headers = h;
        if (r->pr->body) { /* probe: always, with the request's example */
            char ct[160];
            snprintf(ct, sizeof(ct), "Content-Type: %s", r->pr->content_type);
            if ((h = curl_slist_append(r->headers, ct)) != NULL)
                r->headers = h;
            curl_easy_setopt(r->c, CURLOPT_POSTFIELDS, r->pr->body);
            curl_easy_setopt(r->c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->pr->body));
        }
        if (strcmp(r->pr->method, "GET") != 0)
            curl_easy_setopt(r->c, CURLOPT_CUSTOMREQUEST, r->pr->method);
        curl_easy_setopt(r->c, CURLOPT_URL, r->pr->url);
        curl_easy_setopt(r->c, CURLOPT_HTTPHEADER, r->headers);
        curl_easy_setopt(r->c, CURLOPT_TIMEOUT_MS, (long)(mon->cfg.probe_timeout_s * 1000));
        curl_easy_setopt(r->c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(r->c, CURLOPT_ERRORBUFFER, r->errbuf);
        curl_easy_setopt(r->c, CURLOPT_WRITEFUNCTION, body_write);
        curl_easy_setopt(r->c, CURLOPT_WRITEDATA, &r->body);
        curl_easy_setopt(r->c, CURLOPT_PRIVATE, r);
        curl_easy_setopt(r->c, CURLOPT_PROTOCOLS_STR, "http");
        curl_easy_setopt(r->c, CURLOPT_NOPROXY, "*"); /* our own port: never through an http_proxy */
        curl_easy_setopt(r->c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(r->c, CURLOPT_XFERINFOFUNCTION, probe_abort);
        curl_easy_setopt(r->c, CURLOPT_XFERINFODATA, &mon->stopping);
        if (curl_multi_add_handle(multi, r->c) != CURLM_OK) {
            curl_easy_cleanup(r->c);
            r->c = NULL;
        }
    }
    int running = 1;
    while (running) {
        if (curl_multi_perform(multi, &running) != CURLM_OK)
            break;
        if (running && curl_multi_poll(multi, NULL, 0, 100, NULL) != CURLM_OK)
            break;
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        probe_run *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r)
            probe_finish(mon, r, msg->data.result);
    }
out:
    for (size_t i = 0; runs && i < mon->nprobes; i++) {
        if (runs[i].c) {
            curl_multi_remove_handle(multi, runs[i].c);
            curl_easy_cleanup(runs[i].c);
        }
        curl_slist_free_all(runs[i].headers);
        free(runs[i].body.data);
    }
    free(runs);
    if (multi)
        curl_multi_cleanup(multi);
}

/* A failed probe stays a condition until a later probe passes. */
static void judge_probe(kumo__monitor *mon, op_state *s)
{
    if (!s->probed || !s->probe.done || s->probe.ok)
        return;
    const probe *pr = NULL;
    for (size_t i = 0; i < mon->nprobes; i++)
        if (strcmp(mon->probes[i].operation, s->name) == 0)
            pr = &mon->probes[i];
    char summary[256], desc[1024];
    snprintf(summary, sizeof(summary), "%s: the probe failed: %s", s->name, s->probe.why);
    snprintf(desc, sizeof(desc), "GET %s: %s after %.1f ms", pr ? pr->url : "?", s->probe.why, s->probe.seconds * 1000);
    cond(mon, s, "KumoProbeFailed", "critical", summary, desc, 1);
}

/* ---- GET /alerts -------------------------------------------------------------- */

static json_t *verdict_json(const kumo__anomaly_verdict *v, int have)
{
    if (!have || !v->ready)
        return json_pack("{s:b}", "ready", 0);
    return json_pack("{s:b, s:f, s:f, s:f, s:b}", "ready", 1, "value", v->value, "baseline", v->baseline, "deviation",
                     v->z, "anomalous", v->anomalous);
}

static void publish(kumo__monitor *mon)
{
    json_t *ops = json_array();
    for (size_t i = 0; ops && i < mon->nops; i++) {
        op_state *s = mon->ops[i];
        const kumo__mon_bounds *b = kumo__monitors_bounds(&mon->cfg, s->name);
        json_t *bounds = json_object(), *values = json_object();
        for (int q = 0; q < KUMO__MON_QUANTILES; q++) {
            if (b->latency_s[q] > 0)
                json_object_set_new(bounds, kumo__mon_quantile_key[q], json_real(b->latency_s[q]));
            json_object_set_new(values, kumo__mon_quantile_key[q], json_real(s->w_latency[q]));
        }
        if (b->errors >= 0)
            json_object_set_new(bounds, "errors", json_real(b->errors));
        if (b->long_running > 0)
            json_object_set_new(bounds, "long_running", json_real(b->long_running));
        json_object_set_new(values, "invocations", json_integer((json_int_t)s->w_count));
        json_object_set_new(values, "errors", json_integer((json_int_t)s->w_errors));
        json_object_set_new(values, "error_rate", json_real(s->w_count ? (double)s->w_errors / (double)s->w_count : 0));
        json_object_set_new(values, "long_runs", json_integer((json_int_t)s->w_long));
        json_object_set_new(values, "timeouts", json_integer((json_int_t)s->w_timeouts));
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:f, s:o, s:o, s:b, s:{s:o, s:o, s:o}}", "operation", s->name, "function", s->function,
            "trigger", s->http ? "http" : "event", "window_s", b->window_s, "bounds", bounds, "values", values,
            "anomalies_watched", b->anomalies, "anomalies", "request_rate", verdict_json(&s->v_rate, s->rounds > 0),
            "error_rate", verdict_json(&s->v_errors, s->have_errors_v), "p99", verdict_json(&s->v_p99, s->have_p99_v));
        if (o && s->probed && s->probe.done) {
            char at[64];
            kumo__rfc3339(s->probe.at_ms * 1000, at, sizeof(at));
            json_object_set_new(o, "probe",
                                json_pack("{s:b, s:I, s:f, s:s, s:s}", "ok", s->probe.ok, "status",
                                          (json_int_t)s->probe.status, "seconds", s->probe.seconds, "why", s->probe.why,
                                          "at", at));
        }
        if (o)
            json_array_append_new(ops, o);
    }
    json_t *fns = json_array();
    for (size_t i = 0; fns && i < mon->nfns; i++)
        json_array_append_new(fns, json_pack("{s:s, s:f, s:f}", "name", mon->fns[i].name, "oldest_running_s",
                                             mon->fns[i].oldest_s, "usual_s", mon->fns[i].usual_s));
    char evaluated[64] = "";
    if (mon->round_ms)
        kumo__rfc3339(mon->round_ms * 1000, evaluated, sizeof(evaluated));
    json_t *doc = json_pack("{s:s, s:I, s:I, s:s, s:I, s:f, s:f, s:o, s:o, s:o}", "project", mon->alerts.project,
                            "interval_ms", (json_int_t)mon->interval_ms, "rounds", (json_int_t)mon->rounds, "evaluated",
                            evaluated, "webhooks", (json_int_t)mon->cfg.nwebhooks, "for_s", mon->cfg.for_s,
                            "probe_interval_s", mon->cfg.probe_interval_s, "monitors", ops ? ops : json_array(),
                            "functions", fns ? fns : json_array(), "alerts", kumo__alerts_json(&mon->alerts));
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL)
        return;
    pthread_mutex_lock(&mon->lock);
    free(mon->json);
    mon->json = text;
    pthread_mutex_unlock(&mon->lock);
}

static void deliver(kumo__monitor *mon, uint64_t now_ms)
{
    json_t *payload = kumo__alerts_payload(&mon->alerts, now_ms, 0);
    if (payload == NULL)
        return;
    if (mon->cfg.nwebhooks == 0) { /* the log has them; nothing else to tell */
        kumo__alerts_sent(&mon->alerts, now_ms);
        json_decref(payload);
        return;
    }
    char *text = curl_ready(mon) ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(payload);
    if (text == NULL)
        return;
    size_t n = mon->cfg.nwebhooks < KUMO__WEBHOOKS_MAX ? mon->cfg.nwebhooks : KUMO__WEBHOOKS_MAX;
    size_t ok = kumo__alerts_post(mon->cfg.webhooks, n, text, WEBHOOK_TIMEOUT_S, mon->hook_logs, &mon->stopping);
    free(text);
    kumo__metrics_count(mon->metrics, "kumo_alert_deliveries_total", "Alert payloads webhooks accepted.", ok);
    if (ok < n)
        kumo__metrics_count(mon->metrics, "kumo_alert_delivery_failures_total",
                            "Alert payloads a webhook refused or could not be sent (sent again next round).", n - ok);
    if (ok > 0) /* one taker is enough; the others are tried again with the next due ones */
        kumo__alerts_sent(&mon->alerts, now_ms);
}

static void round_run(kumo__monitor *mon)
{
    take_generation(mon);
    if (!mon->cur.set || !mon->cur.g.project->obs.enabled)
        return; /* observability: {enabled: false}: nothing recorded, nothing to watch or probe */
    kumo__msnap snap = {0};
    if (kumo__metrics_snapshot(mon->metrics, &snap) != 0)
        return;
    uint64_t now = kumo__epoch_ms();
    mon->round_ms = now;
    mon->rounds++;
    gather(mon, &snap);
    kumo__msnap_free(&snap);
    for (size_t i = 0; i < mon->nops; i++) {
        op_state *s = mon->ops[i];
        if (s->ring == NULL && (s->ring = calloc(mon->ring_len, sizeof(*s->ring))) == NULL)
            continue;
        s->rounds++;
        s->ring[(s->rounds - 1) % mon->ring_len] = s->now;
    }
    run_probes(mon, now);
    if (__atomic_load_n(&mon->stopping, __ATOMIC_RELAXED))
        return; /* probes cut short by the stop say nothing about the API */
    kumo__alerts_begin(&mon->alerts);
    for (size_t i = 0; i < mon->nops; i++) {
        op_state *s = mon->ops[i];
        if (s->ring == NULL)
            continue;
        const kumo__mon_bounds *b = kumo__monitors_bounds(&mon->cfg, s->name);
        judge_bounds(mon, s, b);
        judge_anomalies(mon, s, b);
        judge_probe(mon, s);
    }
    judge_busy(mon);
    kumo__alerts_end(&mon->alerts, now);
    kumo__metrics_gauge(mon->metrics, "kumo_alerts_firing", "Alerts firing now (GET /alerts on the admin port).",
                        (double)kumo__alerts_firing(&mon->alerts));
    deliver(mon, now);
    keep_alerts(mon);
    publish(mon);
}

static void *monitor_main(void *arg)
{
    kumo__monitor *mon = arg;
    pthread_mutex_lock(&mon->lock);
    while (!mon->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + (mon->interval_ms % 1000) * 1000000ull;
        until.tv_sec += (time_t)(mon->interval_ms / 1000 + ns / 1000000000ull);
        until.tv_nsec = (long)(ns % 1000000000ull);
        while (!mon->stop && pthread_cond_timedwait(&mon->wake, &mon->lock, &until) != ETIMEDOUT)
            ;
        if (mon->stop)
            break;
        pthread_mutex_unlock(&mon->lock);
        round_run(mon);
        pthread_mutex_lock(&mon->lock);
    }
    pthread_mutex_unlock(&mon->lock);
    return NULL;
}

int kumo__monitor_start(kumo__metrics *metrics, const char *probe_base, const char *admin_url, kumo__monitor **out,
                        kumo__error *err)
{
    *out = NULL;
    kumo__monitor *mon = calloc(1, sizeof(*mon));
    if (mon == NULL)
        goto oom;
    mon->metrics = metrics;
    mon->interval_ms = kumo__monitor_interval_ms();
    kumo__monitors_defaults(&mon->cfg);
    if ((probe_base && (mon->probe_base = strdup(probe_base)) == NULL) ||
        (admin_url && (mon->admin_url = strdup(admin_url)) == NULL)) {
        free(mon->probe_base);
        free(mon);
        goto oom;
    }
    char gen_url[300] = "";
    if (admin_url)
        snprintf(gen_url, sizeof(gen_url), "%s/alerts", admin_url);
    kumo__alerts_init(&mon->alerts, "", gen_url);
    pthread_mutex_init(&mon->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&mon->wake, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&mon->thread, NULL, monitor_main, mon);
    if (rc != 0) {
        kumo__error_set(err, -rc, "cannot start the monitor thread: %s", strerror(rc));
        pthread_mutex_destroy(&mon->lock);
        pthread_cond_destroy(&mon->wake);
        free(mon->probe_base);
        free(mon->admin_url);
        free(mon);
        return -rc;
    }
    *out = mon;
    return 0;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

void kumo__monitor_generation(kumo__monitor *mon, const kumo__monitor_gen *g)
{
    held_gen old = {0};
    pthread_mutex_lock(&mon->lock);
    old = mon->next; /* never taken: replaced */
    mon->next.g = *g;
    mon->next.set = 1;
    pthread_mutex_unlock(&mon->lock);
    release_gen(&old);
}

void kumo__monitor_stop(kumo__monitor *mon)
{
    if (mon == NULL)
        return;
    __atomic_store_n(&mon->stopping, 1, __ATOMIC_RELAXED); /* a probe or a post in flight gives up */
    pthread_mutex_lock(&mon->lock);
    mon->stop = 1;
    pthread_cond_signal(&mon->wake);
    pthread_mutex_unlock(&mon->lock);
    pthread_join(mon->thread, NULL);
    release_gen(&mon->next);
    release_gen(&mon->cur);
    free_probes(mon);
    for (size_t i = 0; i < mon->nops; i++) {
        free(mon->ops[i]->ring);
        free(mon->ops[i]);
    }
    free(mon->ops);
    free(mon->fns);
    kumo__alerts_free(&mon->alerts);
    kumo__monitors_free(&mon->cfg);
    pthread_mutex_destroy(&mon->lock);
    pthread_cond_destroy(&mon->wake);
    free(mon->json);
    free(mon->probe_base);
    free(mon->admin_url);
    if (mon->curl == 1) /* after the join: set up on the thread, when it was */
        curl_global_cleanup();
    free(mon);
}

char *kumo__monitor_json(kumo__monitor *mon)
{
    pthread_mutex_lock(&mon->lock);
    char *s = mon->json ? strdup(mon->json) : NULL;
    pthread_mutex_unlock(&mon->lock);
    if (s == NULL && (s = strdup("{\"monitors\":[],\"alerts\":[],\"rounds\":0}")) == NULL)
        return NULL;
    return s;
}
