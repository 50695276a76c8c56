/*
 * alert.c: alert states, the log line of each transition, Alertmanager's
 * v2 payload and its delivery to the webhooks (libcurl, on the monitor
 * thread), and the Prometheus alerting rules equivalent to the built-in
 * monitors (`kumo monitors rules`). The contract is in alert.h; the
 * states and the payload are in docs/monitors.md.
 */
#include "obs/alert.h"
#include "base/curl_lazy.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "obs/metrics.h"

#define RESOLVED_KEEP_MS (3600 * 1000ull) /* a delivered resolved alert stays listed this long */
#define ALERTS_MAX 4096                   /* conditions at once; more are dropped (and said) */

const char *kumo__alert_state_name(kumo__alert_state s)
{
    switch (s) {
    case KUMO__ALERT_PENDING: return "pending";
    case KUMO__ALERT_FIRING: return "firing";
    case KUMO__ALERT_RESOLVED: return "resolved";
    }
    return "?";
}

void kumo__alerts_init(kumo__alerts *a, const char *project, const char *generator_url)
{
    memset(a, 0, sizeof(*a));
    a->for_s = 60;
    a->resend_s = 60;
    snprintf(a->project, sizeof(a->project), "%s", project ? project : "");
    snprintf(a->generator_url, sizeof(a->generator_url), "%s", generator_url ? generator_url : "");
}

void kumo__alerts_free(kumo__alerts *a)
{
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

void kumo__alerts_begin(kumo__alerts *a)
{
    for (size_t i = 0; i < a->n; i++)
        a->v[i].holding = 0;
}

/* An alert is one (name, operation, function). */
static kumo__alert *find(kumo__alerts *a, const char *name, const char *operation, const char *function)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].name, name) == 0 && strcmp(a->v[i].operation, operation) == 0 &&
            strncmp(a->v[i].function, function, sizeof(a->v[i].function) - 1) == 0)
            return &a->v[i];
    return NULL;
}

static void copy_text(kumo__alert *al, const kumo__alert_cond *c)
{
    snprintf(al->function, sizeof(al->function), "%s", c->function ? c->function : "");
    snprintf(al->severity, sizeof(al->severity), "%s", c->severity ? c->severity : "warning");
    snprintf(al->summary, sizeof(al->summary), "%s", c->summary ? c->summary : c->name);
    snprintf(al->description, sizeof(al->description), "%s", c->description ? c->description : "");
    al->min_rounds = c->min_rounds > 0 ? c->min_rounds : 1;
}

int kumo__alerts_set(kumo__alerts *a, const kumo__alert_cond *c)
{
    const char *op = c->operation ? c->operation : "";
    kumo__alert *al = find(a, c->name, op, c->function ? c->function : "");
    if (al == NULL || al->state == KUMO__ALERT_RESOLVED) {
        if (al == NULL) {
            if (a->n == a->cap) {
                size_t cap = a->cap ? a->cap * 2 : 16;
                if (a->n >= ALERTS_MAX)
                    return -ENOMEM;
                kumo__alert *v = realloc(a->v, cap * sizeof(*v));
                if (v == NULL)
                    return -ENOMEM;
                a->v = v;
                a->cap = cap;
            }
            al = &a->v[a->n++];
        }
        /* a new episode (a resolved alert that holds again starts over) */
        memset(al, 0, sizeof(*al));
        snprintf(al->name, sizeof(al->name), "%s", c->name);
        snprintf(al->operation, sizeof(al->operation), "%s", op);
        al->state = KUMO__ALERT_PENDING;
        al->rounds = 0;
        al->since_ms = 0; /* set by _end: the round's time */
    }
    copy_text(al, c);
    al->holding = 1;
    return 0;
}

static void log_transition(kumo__alerts *a, const kumo__alert *al, const char *level, const char *what)
{
    a->transitions++;
    a->dirty = 1;
    const char *about = al->operation[0] ? al->operation : al->function;
    kumo__log_event(level, "alert %s%s%s%s %s: %s%s%s", al->name, about[0] ? " (" : "", about, about[0] ? ")" : "",
                    what, al->summary, al->description[0] ? "; " : "", al->description);
}

void kumo__alerts_end(kumo__alerts *a, uint64_t now_ms)
{
    size_t keep = 0;
    for (size_t i = 0; i < a->n; i++) {
        kumo__alert *al = &a->v[i];
        int drop = 0;
        if (al->held_until_ms && now_ms >= al->held_until_ms)
            al->held_until_ms = 0; /* restored: judged on its condition from now on */
        if (al->holding || al->held_until_ms) {
            if (al->state == KUMO__ALERT_PENDING && al->rounds == 0) {
                al->since_ms = now_ms;
                log_transition(a, al, "info", "pending");
            }
            al->rounds++;
            if (al->state == KUMO__ALERT_PENDING && al->rounds >= al->min_rounds &&
                (double)(now_ms - al->since_ms) >= a->for_s * 1000) {
                al->state = KUMO__ALERT_FIRING;
                al->fired_ms = now_ms;
                al->unsent = 1;
                log_transition(a, al, "warn", "firing");
            }
        } else if (al->state == KUMO__ALERT_PENDING) {
            if (al->rounds > 0)
                log_transition(a, al, "info", "no longer pending");
            drop = 1;
        } else if (al->state == KUMO__ALERT_FIRING) {
            al->state = KUMO__ALERT_RESOLVED;
            al->resolved_ms = now_ms;
            al->unsent = 1;
            al->rounds = 0;
            log_transition(a, al, "info", "resolved; it was");
        } else if (al->state == KUMO__ALERT_RESOLVED && !al->unsent && now_ms - al->resolved_ms > RESOLVED_KEEP_MS) {
            drop = 1;
            a->dirty = 1;
        }
        if (!drop) {
            if (keep != i)
                a->v[keep] = *al;
            keep++;
        }
    }
    a->n = keep;
}

size_t kumo__alerts_firing(const kumo__alerts *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++)
        n += a->v[i].state == KUMO__ALERT_FIRING;
    return n;
}

static int due(const kumo__alerts *a, const kumo__alert *al, uint64_t now_ms)
{
    if (al->state == KUMO__ALERT_PENDING)
        return 0;
    if (al->unsent)
        return 1;
    return al->state == KUMO__ALERT_FIRING && (double)(now_ms - al->sent_ms) >= a->resend_s * 1000;
}

static void put_time(json_t *o, const char *key, uint64_t epoch_ms)
{
    char buf[64];
    kumo__rfc3339(epoch_ms * 1000, buf, sizeof(buf));
    json_object_set_new(o, key, json_string(buf));
}

static void put_label(json_t *labels, const char *key, const char *value)
{
    if (value && value[0]) /* Prometheus reads an empty label as an absent one: leave it out */
        json_object_set_new(labels, key, json_string(value));
}

static json_t *payload_alert(const kumo__alerts *a, const kumo__alert *al, uint64_t now_ms)
{
    json_t *o = json_object(), *labels = json_object(), *ann = json_object();
    if (o == NULL || labels == NULL || ann == NULL) {
        json_decref(o);
        json_decref(labels);
        json_decref(ann);
        return NULL;
    }
    put_label(labels, "alertname", al->name);
    put_label(labels, "severity", al->severity);
    put_label(labels, "operation", al->operation);
    put_label(labels, "function", al->function);
    put_label(labels, "project", a->project);
    json_object_set_new(ann, "summary", json_string(al->summary));
    json_object_set_new(ann, "description", json_string(al->description));
    json_object_set_new(o, "labels", labels);
    json_object_set_new(o, "annotations", ann);
    put_time(o, "startsAt", al->since_ms);
    /* A firing alert ends by itself if kumo stops sending it (Prometheus
     * does the same: four resend periods), so a dead kumo leaves nothing
     * firing forever in Alertmanager. */
    if (al->state == KUMO__ALERT_RESOLVED)
        put_time(o, "endsAt", al->resolved_ms);
    else
        put_time(o, "endsAt", now_ms + (uint64_t)(4 * a->resend_s * 1000));
    if (a->generator_url[0])
        json_object_set_new(o, "generatorURL", json_string(a->generator_url));
    return o;
}

json_t *kumo__alerts_payload(const kumo__alerts *a, uint64_t now_ms, int all)
{
    json_t *arr = NULL;
    for (size_t i = 0; i < a->n; i++) {
        const kumo__alert *al = &a->v[i];
        if (all ? al->state == KUMO__ALERT_PENDING : !due(a, al, now_ms))
            continue;
        if (arr == NULL && (arr = json_array()) == NULL)
            return NULL;
        json_t *o = payload_alert(a, al, now_ms);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

void kumo__alerts_sent(kumo__alerts *a, uint64_t now_ms)
{
    for (size_t i = 0; i < a->n; i++) {
        kumo__alert *al = &a->v[i];
        if (!due(a, al, now_ms))
            continue;
        al->unsent = 0;
        al->sent_ms = now_ms;
        a->dirty = 1;
    }
}

/* The answer's body is not needed: only its status. */
static size_t discard(char *ptr, size_t size, size_t n, void *ctx)
{
    (void)ptr;
    (void)ctx;
    return size * n;
}

#define WEBHOOK_LOG_EVERY_MS 60000

int kumo__curl_abort_on(void *ctx, long long dltotal, long long dlnow, long long ultotal, long long ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return ctx && __atomic_load_n((const int *)ctx, __ATOMIC_RELAXED) ? 1 : 0;
}

/* curl_off_t is long long on every platform kumo builds on */
static int abort_on(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    return kumo__curl_abort_on(ctx, a, b, c, d);
}

size_t kumo__alerts_post(char *const *urls, size_t n, const char *payload, double timeout_s, kumo__webhook_log *logs,
                         const int *abort_flag)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        CURL *c = curl_easy_init();
        struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
        char why[CURL_ERROR_SIZE] = "";
        long status = 0;
        if (c == NULL || headers == NULL) {
            snprintf(why, sizeof(why), "out of memory");
        } else {
            curl_easy_setopt(c, CURLOPT_URL, urls[i]);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
            curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(c, CURLOPT_ERRORBUFFER, why);
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
            curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
            if (abort_flag) {
                curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
                curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abort_on);
                curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)abort_flag);
            }
            CURLcode rc = curl_easy_perform(c);
            if (rc == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
            else if (why[0] == '\0')
                snprintf(why, sizeof(why), "%s", curl_easy_strerror(rc));
        }
        kumo__webhook_log *l = &logs[i];
        uint64_t now = kumo__mono_ms();
        if (abort_flag && __atomic_load_n(abort_flag, __ATOMIC_RELAXED)) {
            curl_slist_free_all(headers);
            if (c)
                curl_easy_cleanup(c);
            break; /* stopping: not a webhook's failure */
        }
        if (status >= 200 && status < 300) {
            ok++;
            if (l->failing)
                kumo__log_event("info", "alert webhook %s accepts alerts again", urls[i]);
            l->failing = 0;
            l->unsaid = 0;
        } else if (l->said_ms && now - l->said_ms < WEBHOOK_LOG_EVERY_MS) {
            l->failing = 1;
            l->unsaid++;
        } else {
            char more[64] = "";
            if (l->unsaid)
                snprintf(more, sizeof(more), " (%u more failures since the last line)", l->unsaid);
            if (status != 0)
                kumo__log_event("warn", "alert webhook %s answered %ld%s; the alerts are sent again next round",
                                urls[i], status, more);
            else
                kumo__log_event("warn",
                                "alert webhook %s cannot be reached: %s%s; the alerts are sent again next round",
                                urls[i], why, more);
            l->failing = 1;
            l->said_ms = now;
            l->unsaid = 0;
        }
        curl_slist_free_all(headers);
        if (c)
            curl_easy_cleanup(c);
    }
    return ok;
}

json_t *kumo__alerts_json(const kumo__alerts *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < a->n; i++) {
        const kumo__alert *al = &a->v[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "name", al->name, "state",
                              kumo__alert_state_name(al->state), "operation", al->operation, "function", al->function,
                              "severity", al->severity, "summary", al->summary, "description", al->description,
                              "rounds", (json_int_t)al->rounds);
        if (o == NULL)
            continue;
        if (al->since_ms)
            put_time(o, "since", al->since_ms);
        if (al->fired_ms)
            put_time(o, "fired", al->fired_ms);
        if (al->resolved_ms)
            put_time(o, "resolved", al->resolved_ms);
        json_array_append_new(arr, o);
    }
    return arr;
}

/* ---- across restarts -------------------------------------------------------- */

#define ALERTS_FILE_MAX (4u << 20)
#define ALERTS_FILE_VERSION 1

int kumo__alerts_save(kumo__alerts *a, const char *path, kumo__error *err)
{
    json_t *arr = json_array();
    json_t *doc = json_pack("{s:i, s:o}", "version", ALERTS_FILE_VERSION, "alerts", arr);
    if (doc == NULL)
        goto oom;
    for (size_t i = 0; i < a->n; i++) {
        const kumo__alert *al = &a->v[i];
        if (al->state == KUMO__ALERT_PENDING)
            continue;
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:i}", "name", al->name,
                              "state", kumo__alert_state_name(al->state), "operation", al->operation, "function",
                              al->function, "severity", al->severity, "summary", al->summary, "description",
                              al->description, "since_ms", (json_int_t)al->since_ms, "fired_ms",
                              (json_int_t)al->fired_ms, "resolved_ms", (json_int_t)al->resolved_ms, "sent_ms",
                              (json_int_t)al->sent_ms, "unsent", al->unsent, "min_rounds", al->min_rounds);
        if (o == NULL || json_array_append_new(arr, o) != 0)
            goto oom;
    }
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        json_decref(doc);
        kumo__error_set(err, -ENAMETOOLONG, "%s: path too long for the alerts file", path);
        return -ENAMETOOLONG;
    }
    FILE *f = fopen(tmp, "w");
    int rc = 0;
    if (f == NULL) {
        rc = -errno;
    } else {
        if (json_dumpf(doc, f, JSON_COMPACT) != 0 || fputc('\n', f) == EOF || fflush(f) != 0 || fsync(fileno(f)) != 0)
            rc = errno ? -errno : -EIO;
        if (fclose(f) != 0 && rc == 0)
            rc = -errno;
        if (rc == 0 && rename(tmp, path) != 0)
            rc = -errno;
        if (rc != 0)
            unlink(tmp);
    }
    json_decref(doc);
    if (rc != 0) {
        kumo__error_set(err, rc, "cannot write the alerts to %s: %s", path, strerror(-rc));
        return rc;
    }
    a->dirty = 0;
    return 0;
oom:
    json_decref(doc);
    kumo__error_set(err, -ENOMEM, "out of memory writing the alerts");
    return -ENOMEM;
}

static int state_named(const char *s, kumo__alert_state *out)
{
    if (strcmp(s, "firing") == 0)
        *out = KUMO__ALERT_FIRING;
    else if (strcmp(s, "resolved") == 0)
        *out = KUMO__ALERT_RESOLVED;
    else
        return -1;
    return 0;
}

int kumo__alerts_load(kumo__alerts *a, const char *path, uint64_t now_ms, uint64_t hold_ms, kumo__error *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        kumo__error_set(err, -errno, "cannot read the alerts from %s: %s", path, strerror(errno));
        return -errno;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)ALERTS_FILE_MAX) {
        kumo__error_set(err, -EFBIG, "%s: not a regular file of at most %u bytes; the alerts in it are not restored",
                        path, ALERTS_FILE_MAX);
        return -EFBIG;
    }
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) {
        kumo__error_set(err, -EINVAL, "%s:%d:%d: %s; the alerts in it are not restored", path, je.line, je.column,
                        je.text);
        return -EINVAL;
    }
    json_t *arr = json_object_get(doc, "alerts");
    json_t *ver = json_object_get(doc, "version");
    const char *bad = NULL;
    size_t at = SIZE_MAX; /* the file as a whole */
    if (!json_is_integer(ver) || json_integer_value(ver) != ALERTS_FILE_VERSION || !json_is_array(arr) ||
        json_array_size(arr) > ALERTS_MAX) {
        bad = "not an alerts file of version 1 (at most 4096 alerts)";
        goto out;
    }
    size_t n = json_array_size(arr);
    if (n && (a->v = calloc(n, sizeof(*a->v))) == NULL) {
        json_decref(doc);
        kumo__error_set(err, -ENOMEM, "out of memory reading %s", path);
        return -ENOMEM;
    }
    a->cap = n;
    for (at = 0; at < n; at++) {
        const char *name, *state, *op, *fn, *sev, *sum, *desc;
        json_int_t since, fired, resolved, sent;
        int unsent, min_rounds;
        if (json_unpack(json_array_get(arr, at), "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:i}",
                        "name", &name, "state", &state, "operation", &op, "function", &fn, "severity", &sev, "summary",
                        &sum, "description", &desc, "since_ms", &since, "fired_ms", &fired, "resolved_ms", &resolved,
                        "sent_ms", &sent, "unsent", &unsent, "min_rounds", &min_rounds) != 0 ||
            since < 0 || fired < 0 || resolved < 0 || sent < 0) {
            bad = "an alert without its fields";
            goto out;
        }
        kumo__alert *al = &a->v[a->n];
        memset(al, 0, sizeof(*al));
        if (state_named(state, &al->state) != 0) {
            bad = "an alert neither firing nor resolved";
            goto out;
        }
        snprintf(al->name, sizeof(al->name), "%s", name);
        snprintf(al->operation, sizeof(al->operation), "%s", op);
        snprintf(al->function, sizeof(al->function), "%s", fn);
        snprintf(al->severity, sizeof(al->severity), "%s", sev);
        snprintf(al->summary, sizeof(al->summary), "%s", sum);
        snprintf(al->description, sizeof(al->description), "%s", desc);
        al->since_ms = (uint64_t)since;
        al->fired_ms = (uint64_t)fired;
        al->resolved_ms = (uint64_t)resolved;
        al->sent_ms = (uint64_t)sent;
        al->unsent = unsent;
        al->min_rounds = min_rounds > 0 ? min_rounds : 1;
        if (al->state == KUMO__ALERT_FIRING) {
            al->held_until_ms = now_ms + hold_ms;
            al->rounds = al->min_rounds;
        }
        a->n++;
    }
out:
    json_decref(doc);
    if (bad) {
        free(a->v);
        a->v = NULL;
        a->n = a->cap = 0;
        if (at == SIZE_MAX)
            kumo__error_set(err, -EINVAL, "%s: %s; the alerts in it are not restored", path, bad);
        else
            kumo__error_set(err, -EINVAL, "%s: alert %zu: %s; the alerts in it are not restored", path, at, bad);
        return -EINVAL;
    }
    return 0;
}

/* ---- Prometheus rules ------------------------------------------------------- */

/* A PromQL range: "[300s]"; and the same for people: "5m". */
static void range_of(double s, char *buf, size_t len)
{
    snprintf(buf, len, "[%llds]", (long long)ceil(s));
}

static void human_window(double s, char *buf, size_t len)
{
    long long n = (long long)ceil(s);
    if (n % 3600 == 0)
        snprintf(buf, len, "%lldh", n / 3600);
    else if (n % 60 == 0)
        snprintf(buf, len, "%lldm", n / 60);
    else
        snprintf(buf, len, "%llds", n);
}

/* A label value in a PromQL string: operation names are identifiers, but
 * quote what could break the string anyway. */
static void promql_str(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    for (; *s && o + 3 < len; s++) {
        if (*s == '"' || *s == '\\')
            buf[o++] = '\\';
        buf[o++] = *s;
    }
    buf[o] = '\0';
}

static int add_rule(json_t *rules, const char *alert, const char *expr, double for_s, const char *severity,
                    const char *op, const char *summary, const char *description)
{
    char forbuf[32];
    snprintf(forbuf, sizeof(forbuf), "%llds", (long long)ceil(for_s));
    json_t *r =
        json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}}", "alert", alert, "expr", expr, "for", forbuf, "labels",
                  "severity", severity, "operation", op, "annotations", "summary", summary, "description", description);
    return r ? json_array_append_new(rules, r) : -1;
}

/* The rules of one operation (HTTP: the request histogram; an event: the
 * invocation histogram). */
static int operation_rules(json_t *rules, const kumo__project *p, const char *op, const char *unit, int http)
{
    const kumo__mon_bounds *b = kumo__monitors_bounds(&p->monitors, op);
    double for_s = p->monitors.for_s;
    char q[300], win[32], hwin[32], sel[400], expr[2048], summary[512], desc[1024];
    promql_str(op, q, sizeof(q));
    range_of(b->window_s, win, sizeof(win));
    human_window(b->window_s, hwin, sizeof(hwin));
    snprintf(sel, sizeof(sel), "{operation=\"%s\"}", q);
    const char *hist = http ? "http_server_request_duration_seconds_bucket" : "faas_invoke_duration_seconds_bucket";
    /* kumo judges a bound once it has 5 invocations in the window */
    char enough[600];
    snprintf(enough, sizeof(enough), "sum(increase(faas_invocations_total%s%s)) >= 5", sel, win);
    for (int i = 0; i < KUMO__MON_QUANTILES; i++) {
        if (b->latency_s[i] <= 0)
            continue;
        snprintf(expr, sizeof(expr), "histogram_quantile(%g, sum by (le) (rate(%s%s%s))) > %g and on() %s",
                 kumo__mon_quantile[i], hist, sel, win, b->latency_s[i], enough);
        char alert[64];
        snprintf(alert, sizeof(alert), "KumoLatencyP%sHigh", kumo__mon_quantile_key[i] + 1);
        snprintf(summary, sizeof(summary), "%s: %s latency above %g ms", op, kumo__mon_quantile_key[i],
                 b->latency_s[i] * 1000);
        snprintf(desc, sizeof(desc), "%s of %s over %s is {{ $value | humanizeDuration }}", kumo__mon_quantile_key[i],
                 op, hwin);
        if (add_rule(rules, alert, expr, for_s, "warning", op, summary, desc) < 0)
            return -1;
    }
    if (b->errors >= 0) {
        snprintf(expr, sizeof(expr),
                 "sum(increase(faas_errors_total%s%s)) / sum(increase(faas_invocations_total%s%s)) > %g and on() %s",
                 sel, win, sel, win, b->errors, enough);
        snprintf(summary, sizeof(summary), "%s: error rate above %g%%", op, b->errors * 100);
        snprintf(desc, sizeof(desc), "the error rate of %s over %s is {{ $value | humanizePercentage }}", op, hwin);
        if (add_rule(rules, "KumoErrorRateHigh", expr, for_s, "warning", op, summary, desc) < 0)
            return -1;
    }
    if (b->long_running > 0) {
        /* kumo_invocations_long_total counts runs past 80% of the timeout;
         * another share is read from the histogram kumo reads too */
        if (fabs(b->long_running - KUMO__LONG_SHARE) < 1e-9) {
            snprintf(expr, sizeof(expr),
                     "(sum(increase(kumo_invocations_long_total%s%s)) or on() vector(0)) + "
                     "(sum(increase(faas_timeouts_total%s%s)) or on() vector(0)) > 0",
                     sel, win, sel, win);
        } else {
            /* the invocations above the first bucket bound at or past the
             * share of the unit's timeout */
            const kumo__unit *u = unit ? kumo__project_unit(p, unit) : p->nunits == 1 ? &p->units[0] : NULL;
            double limit_us = b->long_running * (u ? u->tuning.timeout_s : p->timeout_s) * 1e6;
            int k = 0;
            while (k < KUMO__MBUCKETS - 2 && (double)kumo__mbucket_us[k] < limit_us)
                k++;
            const char *h = http ? "http_server_request_duration_seconds" : "faas_invoke_duration_seconds";
            snprintf(expr, sizeof(expr),
                     "(sum(increase(%s_count%s%s)) - sum(increase(%s_bucket{operation=\"%s\",le=\"%g\"}%s)) or "
                     "on() vector(0)) + (sum(increase(faas_timeouts_total%s%s)) or on() vector(0)) > 0",
                     h, sel, win, h, q, (double)kumo__mbucket_us[k] / 1e6, win, sel, win);
        }
        snprintf(summary, sizeof(summary), "%s: invocations ran past %g%% of their timeout", op, b->long_running * 100);
        snprintf(desc, sizeof(desc), "%s: {{ $value }} invocations too long or timed out over %s", op, hwin);
        if (add_rule(rules, "KumoLongRunning", expr, for_s, "warning", op, summary, desc) < 0)
            return -1;
    }
    if (b->anomalies) {
        /* PromQL has no median absolute deviation over a subquery: the
         * equivalent rule compares the last minute with the median of the
         * last 30 minutes in units of their standard deviation */
        static const struct {
            const char *alert, *what, *fmt;
            int both_ways;
        } series[] = {
            {"KumoRequestRateAnomaly", "request rate", "sum(rate(faas_invocations_total%s[1m]))", 1},
            {"KumoErrorRateAnomaly", "error rate",
             "(sum(rate(faas_errors_total%s[1m])) / sum(rate(faas_invocations_total%s[1m])))", 0},
            {"KumoLatencyAnomaly", "p99 latency", "histogram_quantile(0.99, sum by (le) (rate(%s%s[1m])))", 0},
        };
        for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++) {
            char s[800];
            if (i == 2)
                snprintf(s, sizeof(s), series[i].fmt, hist, sel);
            else
                snprintf(s, sizeof(s), series[i].fmt, sel, sel);
            snprintf(expr, sizeof(expr),
                     "%s(%s - quantile_over_time(0.5, %s[30m:1m])) / (stddev_over_time(%s[30m:1m]) + 0.001) > 5",
                     series[i].both_ways ? "abs" : "", s, s, s);
            snprintf(summary, sizeof(summary), "%s: %s far from its baseline", op, series[i].what);
            snprintf(desc, sizeof(desc),
                     "the %s of %s is {{ $value }} standard deviations from the median of its last 30 minutes",
                     series[i].what, op);
            if (add_rule(rules, series[i].alert, expr, for_s > 180 ? for_s : 180, "warning", op, summary, desc) < 0)
                return -1;
        }
    }
    return 0;
}

json_t *kumo__alert_rules(const kumo__project *p, const kumo__spec *spec)
{
    json_t *rules = json_array();
    char name[128];
    snprintf(name, sizeof(name), "kumo-%s", p->name);
    json_t *doc = json_pack("{s:[{s:s, s:o}]}", "groups", "name", name, "rules", rules);
    if (doc == NULL)
        return NULL;
    for (size_t i = 0; spec && i < spec->nops; i++)
        if (spec->ops[i].operation_id && operation_rules(rules, p, spec->ops[i].operation_id, spec->ops[i].unit, 1) < 0)
            goto oom;
    for (size_t i = 0; i < p->nevents; i++)
        if (operation_rules(rules, p, p->events[i].name, p->events[i].unit, 0) < 0)
            goto oom;
    return doc;
oom:
    json_decref(doc);
    return NULL;
}
