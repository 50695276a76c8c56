/*
 * lambda_events.c: see lambda_events.h. The requests are the ones kumo up
 * sends (EVENTS2.md, docs/events-delivery.md), built here from Lambda's
 * records instead of a queue driver's messages:
 *
 *   SQS, batch 1    one binary-mode call per record (dev.kumo.queue.message,
 *                   or dev.kumo.topic.message for a topic's subscription
 *                   queue), a non-2xx answer fails that record
 *   SQS, batch > 1  one batch-mode call (application/cloudevents-batch+json)
 *                   per event; the handler's {"batchItemFailures":[...]}
 *                   fails those records, an identifier not in the batch or a
 *                   non-2xx answer fails them all (Lambda's rule)
 *   S3              one dev.kumo.blob.created/deleted call per record and
 *                   matching event, data {"store","key","size","etag",
 *                   "event"}
 *   SNS             one dev.kumo.topic.message call per record
 *   a tick          dev.kumo.schedule.tick with {"schedule","planned",
 *                   "timezone"}, its planned time from the Scheduler
 *
 * Each call goes through kumo__dispatch_event and the unit's invoker in
 * this process, as kumo-host's HTTP requests do. A line per call goes to
 * stderr (CloudWatch Logs): the event, the record's id, the status.
 */
#include "host/lambda_events.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "project/event_data.h"
#include "sdk/sdk.h"
#include "sdk/stores/aws.h"

typedef struct source {
    const kumo__event_decl *decl;
    char *resource;     /* the SQS queue, S3 bucket, SNS topic or schedule name */
    int mapped;         /* `resource` came from $KUMO_EVENTS (the template's): a real SQS queue */
    kumo__store *queue; /* SQS: opened on the first failure to back off (NULL: not yet, or not mapped) */
    int queue_failed;   /* it could not be opened: not tried again */
} source;

struct kumo__lambda_events {
    kumo__host *h;
    kumo__schema **data; /* per event of the project: its data: schema, or NULL */
    source *sources;
    size_t n;
    char *reply; /* the last answer (owned) */
    char error[600];
};

/* kumo's own name for the resource that feeds `d`: what the template
 * names differently is in $KUMO_EVENTS. */
static char *default_resource(const kumo__event_decl *d)
{
    const char *r = d->kind == KUMO__EVENT_SCHEDULE ? d->name
                    : d->kind == KUMO__EVENT_BLOB   ? d->blob
                    : d->kind == KUMO__EVENT_TOPIC  ? d->queue /* TOPIC.EVENT */
                                                    : d->queue;
    char *s = strdup(r ? r : "");
    if (s && d->kind == KUMO__EVENT_TOPIC)
        for (char *p = s; *p; p++)
            if (*p == '.')
                *p = '-'; /* SQS names have no '.' */
    return s;
}

/* $KUMO_EVENTS's value for `name`, copied, or NULL. */
static char *mapped(const char *map, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = map; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=')
            return strndup(p + nl + 1, len - nl - 1);
        p += len;
        if (*p == ',')
            p++;
    }
    return NULL;
}

kumo__lambda_events *kumo__lambda_events_new(kumo__host *h, const char *map, kumo__error *err)
{
    kumo__lambda_events *le = calloc(1, sizeof(*le));
    const kumo__project *p = h->project;
    if (le == NULL)
        goto oom;
    le->h = h;
    if (kumo__event_data_compile(p, h->spec, &le->data, err) != 0) {
        kumo__lambda_events_free(le);
        return NULL;
    }
    le->sources = calloc(p->nevents ? p->nevents : 1, sizeof(*le->sources));
    if (le->sources == NULL)
        goto oom;
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *d = &p->events[i];
        if (d->kind == KUMO__EVENT_CLOUDEVENT || h->invokers[d->unit_index] == NULL)
            continue;
        char *r = mapped(map, d->name);
        int from_map = r != NULL;
        if (r == NULL && (r = default_resource(d)) == NULL)
            goto oom;
        le->sources[le->n++] = (source){.decl = d, .resource = r, .mapped = from_map};
    }
    return le;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
    kumo__lambda_events_free(le);
    return NULL;
}

void kumo__lambda_events_free(kumo__lambda_events *le)
{
    if (le == NULL)
        return;
    for (size_t i = 0; i < le->n; i++) {
        free(le->sources[i].resource);
        kumo__store_close(le->sources[i].queue);
    }
    free(le->sources);
    if (le->data)
        kumo__event_data_free(le->data, le->h->project->nevents);
    free(le->reply);
    free(le);
}

/* ---- one call ------------------------------------------------------------ */

typedef struct call {
    int status;       /* the handler's, or kumo's 500/502 */
    const char *body; /* the answer's body (valid until the next call) */
    size_t body_len;
    char error[300]; /* why it failed, for the log line */
} call;

#define MAX_HEADERS 12

typedef struct headers {
    kumo__header_view v[MAX_HEADERS];
    size_t n;
} headers;

static void hadd(headers *hs, const char *name, const char *value)
{
    if (value && hs->n < MAX_HEADERS)
        hs->v[hs->n++] = (kumo__header_view){{name, strlen(name)}, {value, strlen(value)}};
}

/* The trace a record without a traceparent of its own starts from:
 * Lambda's X-Ray header of this invocation (_X_AMZN_TRACE_ID, set by the
 * adapter) when it names a parent, else a new sampled trace. */
static void new_traceparent(char out[56])
{
    const char *xray = getenv("_X_AMZN_TRACE_ID");
    kumo__trace_ctx c;
    int has_parent = 0;
    if (xray && kumo__xray_parse(xray, strlen(xray), &c, &has_parent) == 0 && has_parent) {
        kumo__traceparent_format(c.trace_id, c.span_id, c.flags, out);
        return;
    }
    kumo__trace_new_trace_id(c.trace_id);
    kumo__trace_new_span_id(c.span_id);
    kumo__traceparent_format(c.trace_id, c.span_id, KUMO__TRACE_SAMPLED, out);
}

/* The producer's traceparent when it is a valid one, so nothing else
 * reaches the handler as one. */
static int valid_traceparent(const char *t)
{
    kumo__trace_ctx c;
    return t && kumo__traceparent_parse(t, strlen(t), &c) == 0;
}

/* Runs one call of d's handler. links: a batch's other records'
 * traceparents (NULL entries skipped), linked from its CONSUMER span as
 * kumo up links a batch's messages. */
static void run(kumo__lambda_events *le, const kumo__event_decl *d, const kumo__lambda_event *ev, headers *hs,
                const char *body, size_t len, const char *const *links, size_t nlinks, call *c)
{
    kumo__host *h = le->h;
    const kumo__unit *u = &h->project->units[d->unit_index];
    char rid[160], path[300];
    static unsigned seq;
    snprintf(rid, sizeof(rid), "%s-%u", ev->request_id ? ev->request_id : "lambda", ++seq);
    snprintf(path, sizeof(path), "/%s", d->name);
    uint64_t now = kumo__epoch_ms();
    uint64_t timeout_ms = (uint64_t)(u->tuning.timeout_s * 1000.0);
    if (ev->deadline_ms > now && (timeout_ms == 0 || ev->deadline_ms - now < timeout_ms))
        timeout_ms = ev->deadline_ms - now;
    memset(c, 0, sizeof(*c));
    kumo__frame_reset(&h->request);
    kumo__frame_reset(&h->response);
    kumo__frame_header fh;
    kumo__host_event_trace t;
    kumo__host_event_trace_begin(h, d, hs->v, hs->n, &t);
    t.sc.link_tps = links;
    t.sc.n_links = links ? nlinks : 0;
    if (kumo__dispatch_event(d->symbol, path, rid, t.headers ? t.headers : hs->v, t.headers ? t.nheaders : hs->n,
                             (kumo__slice){body, len}, now, timeout_ms, &h->request) != 0) {
        c->status = 500;
        snprintf(c->error, sizeof(c->error), "the event's request is larger than the frame limit");
        kumo__host_event_trace_end(h, d, &t, rid, c->status, c->error, NULL, 0);
        return;
    }
    const char *payload = h->request.buf + KUMO__FRAME_HEADER_SIZE;
    if (kumo__frame_header_decode(h->request.buf, h->request.len, 0, &fh) != 0 ||
        kumo__invoker_call(h->invokers[d->unit_index], payload, fh.length, &h->response) != 0 ||
        kumo__frame_header_decode(h->response.buf, h->response.len, 0, &fh) != 0) {
        c->status = 500;
        snprintf(c->error, sizeof(c->error), "the host could not run the handler (out of memory?)");
        kumo__host_event_trace_end(h, d, &t, rid, c->status, c->error, NULL, 0);
        return;
    }
    kumo__response_in ri;
    kumo__response_read(h->response.buf + KUMO__FRAME_HEADER_SIZE, fh.length, &ri);
    if (ri.invalid) {
        c->status = 502;
        snprintf(c->error, sizeof(c->error), "%s", ri.invalid);
    } else if (ri.error) {
        c->status = 500;
        snprintf(c->error, sizeof(c->error), "%.*s", (int)(ri.error_len < 280 ? ri.error_len : 280), ri.error);
    } else {
        c->status = ri.status;
        c->body = ri.body;
        c->body_len = ri.body_len;
        if (c->status < 200 || c->status > 299)
            snprintf(c->error, sizeof(c->error), "%.*s", (int)(ri.body_len < 280 ? ri.body_len : 280),
                     ri.body ? ri.body : "");
    }
    kumo__host_event_trace_end(h, d, &t, rid, c->status, ri.invalid || ri.error ? c->error : NULL,
                               h->response.buf + KUMO__FRAME_HEADER_SIZE, fh.length);
}

/* One line per call on stderr, as kumo up's "event" line. */
static void log_call(const kumo__event_decl *d, const char *id, const call *c, unsigned receives, size_t batch)
{
    kumo__logline l;
    kumo__logline_begin(&l, c->status < 500 ? "info" : c->status == 503 ? "warn" : "error", "event", 5);
    kumo__logline_cstr(&l, "event", d->name);
    if (id)
        kumo__logline_cstr(&l, "message_id", id);
    kumo__logline_int(&l, "status", c->status);
    if (receives)
        kumo__logline_int(&l, "receive_count", receives);
    if (batch > 1)
        kumo__logline_int(&l, "batch_size", (long long)batch);
    if (c->error[0] && (c->status < 200 || c->status > 299))
        kumo__logline_cstr(&l, "error", c->error);
    kumo__logline_write(&l, 2);
}

static int ok(int status)
{
    return status >= 200 && status <= 299;
}

/* ---- matching records to events --------------------------------------------- */

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int blob_matches(const kumo__event_decl *d, const kumo__lambda_record *r)
{
    unsigned want = r->deleted ? KUMO__BLOB_DELETED : KUMO__BLOB_CREATED;
    return (d->on & want) && (d->prefix == NULL || strncmp(r->key, d->prefix, strlen(d->prefix)) == 0) &&
           (d->suffix == NULL || has_suffix(r->key, d->suffix));
}

/* The next event (from *from on) of this function fed by r; *from is then
 * one past its source. */
static const kumo__event_decl *match(kumo__lambda_events *le, int kind, const kumo__lambda_record *r, size_t *from)
{
    for (size_t i = *from; i < le->n; i++) {
        const source *s = &le->sources[i];
        const kumo__event_decl *d = s->decl;
        int fits = 0;
        if (kind == KUMO__LAMBDA_SQS)
            fits =
                (d->kind == KUMO__EVENT_QUEUE || d->kind == KUMO__EVENT_TOPIC) && strcmp(s->resource, r->source) == 0;
        else if (kind == KUMO__LAMBDA_SNS)
            fits = d->kind == KUMO__EVENT_TOPIC && d->topic && strcmp(d->topic, r->source) == 0;
        else if (kind == KUMO__LAMBDA_S3)
            fits = d->kind == KUMO__EVENT_BLOB && strcmp(s->resource, r->source) == 0 && blob_matches(d, r);
        else if (kind == KUMO__LAMBDA_SCHEDULE)
            fits = d->kind == KUMO__EVENT_SCHEDULE &&
                   (r->event_name ? strcmp(d->name, r->event_name) == 0 : strcmp(s->resource, r->source) == 0);
        if (fits) {
            *from = i + 1;
            return d;
        }
    }
    return NULL;
}

static int fail(kumo__lambda_events *le, kumo__lambda_event_reply *out, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(kumo__lambda_events *le, kumo__lambda_event_reply *out, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(le->error, sizeof(le->error), fmt, ap);
    va_end(ap);
    out->error_type = type;
    out->error_message = le->error;
    return -1;
}

static int answer(kumo__lambda_events *le, kumo__lambda_event_reply *out, char *json)
{
    free(le->reply);
    le->reply = json;
    if (json == NULL)
        return fail(le, out, "Runtime.OutOfMemory", "out of memory");
    out->body = json;
    out->body_len = strlen(json);
    return 0;
}

/* ---- the requests ------------------------------------------------------------ */

static const char *project_name(const kumo__lambda_events *le)
{
    return le->h->project->name ? le->h->project->name : "";
}

/* The binary-mode headers of a queue or topic message. */
static void message_headers(kumo__lambda_events *le, const kumo__event_decl *d, const kumo__lambda_record *r,
                            headers *hs, char *source, size_t slen, char *count, char *trace)
{
    int topic = d->kind == KUMO__EVENT_TOPIC;
    snprintf(source, slen, "/kumo/%s/%s/%s", project_name(le), topic ? "topics" : "queues",
             topic ? d->topic : d->queue);
    snprintf(count, 16, "%u", r->receives);
    hs->n = 0;
    hadd(hs, "ce-specversion", "1.0");
    hadd(hs, "ce-id", r->id);
    hadd(hs, "ce-source", source);
    hadd(hs, "ce-type", topic ? "dev.kumo.topic.message" : "dev.kumo.queue.message");
    hadd(hs, "ce-time", r->time);
    hadd(hs, "ce-subject", d->name);
    int keep = valid_traceparent(r->traceparent);
    if (!keep)
        new_traceparent(trace);
    hadd(hs, "traceparent", keep ? r->traceparent : trace);
    hadd(hs, "content-type", r->content_type ? r->content_type : "application/octet-stream");
    if (r->receives)
        hadd(hs, "kumo-receive-count", count);
}

/* One structured event of a batch. */
static json_t *structured(kumo__lambda_events *le, const kumo__event_decl *d, const kumo__lambda_record *r)
{
    int topic = d->kind == KUMO__EVENT_TOPIC;
    char source[512];
    snprintf(source, sizeof(source), "/kumo/%s/%s/%s", project_name(le), topic ? "topics" : "queues",
             topic ? d->topic : d->queue);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "specversion", "1.0", "id", r->id, "source", source,
                          "type", topic ? "dev.kumo.topic.message" : "dev.kumo.queue.message", "subject", d->name,
                          "datacontenttype", r->content_type ? r->content_type : "application/octet-stream",
                          "kumoreceivecount", (json_int_t)r->receives);
    if (o == NULL)
        return NULL;
    if (r->time)
        json_object_set_new(o, "time", json_string(r->time));
    json_error_t jerr;
    json_t *data = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, &jerr);
    if (data) {
        json_object_set_new(o, "data", data);
    } else {
        char *b64 = kumo__aws_b64_encode(r->body, r->body_len);
        if (b64 == NULL) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, "data_base64", json_string(b64));
        free(b64);
    }
    return o;
}

/* The ids a batch's answer failed: 0 and *failed marks filled, or -1 when
 * the answer names an id not in the batch (the whole batch failed). */
static int batch_answer(const call *c, const kumo__lambda_record *const *recs, size_t n, char *failed)
{
    json_error_t jerr;
    json_t *doc = c->body_len ? json_loadb(c->body, c->body_len, 0, &jerr) : NULL;
    json_t *list = json_object_get(doc, "batchItemFailures");
    int rc = 0;
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "itemIdentifier"));
        size_t k = 0;
        while (id && k < n && strcmp(recs[k]->id, id) != 0)
            k++;
        if (id == NULL || k == n) {
            rc = -1;
            break;
        }
        failed[k] = 1;
    }
    json_decref(doc);
    return rc;
}

/* A failed message comes back after the event's backoff, doubling with
 * each receive up to 5 minutes (0 once it has had max_receives, so that
 * SQS's redrive moves it to the dead-letter queue at once), as kumo up's
 * consumer nacks it: ChangeMessageVisibility on its receipt. Only for a
 * queue the template named in KUMO_EVENTS (a real SQS queue); the region
 * is Lambda's AWS_REGION, the endpoint AWS_ENDPOINT_URL_SQS or
 * AWS_ENDPOINT_URL when set (the AWS SDKs' variables). Without it the
 * message comes back after the queue's visibility timeout. */
static void back_off(source *s, const kumo__lambda_record *r, int now)
{
    const kumo__event_decl *d = s->decl;
    if (!s->mapped || r->receipt == NULL || s->queue_failed)
        return;
    if (s->queue == NULL) {
        const char *region = getenv("AWS_REGION");
        const char *endpoint = getenv("AWS_ENDPOINT_URL_SQS");
        if (endpoint == NULL || *endpoint == '\0')
            endpoint = getenv("AWS_ENDPOINT_URL");
        char url[1024];
        snprintf(url, sizeof(url), "sqs://%s?region=%s&create=false%s%s", s->resource,
                 region && *region ? region : "us-east-1", endpoint && *endpoint ? "&endpoint=" : "",
                 endpoint && *endpoint ? endpoint : "");
        kumo__error e = {0};
        if (kumo__store_open(&kumo__queue_kind, url, d->queue, &s->queue, &e) != 0) {
            s->queue_failed = 1;
            kumo__log_event("warn",
                            "event %s: cannot open its SQS queue to back off a failed message (%s); "
                            "failed messages come back after the queue's visibility timeout",
                            d->name, e.msg);
            return;
        }
    }
    uint64_t delay = 0;
    if (!now && r->receives < d->max_receives) {
        delay = d->backoff_ms;
        for (unsigned i = 1; i < r->receives && delay < 300000; i++)
            delay *= 2;
        if (delay > 300000)
            delay = 300000;
    }
    kumo__queue *q = (kumo__queue *)s->queue;
    int rc = q->driver->nack(q, r->receipt, delay);
    if (rc != 0)
        kumo__log_event("warn",
                        "event %s: message %s: ChangeMessageVisibility failed (%s); it comes back after the "
                        "queue's visibility timeout",
                        d->name, r->id, q->error[0] ? q->error : kumo_strerror(rc));
}

static int handle_sqs(kumo__lambda_events *le, const kumo__lambda_event *ev, kumo__lambda_event_reply *out)
{
    size_t n = ev->nrecords;
    const kumo__event_decl **decl = calloc(n, sizeof(*decl));
    char *failed = calloc(n, 1), *done = calloc(n, 1);
    const kumo__lambda_record **group = calloc(n, sizeof(*group));
    size_t *gidx = calloc(n, sizeof(*gidx));
    const char **ids = calloc(n, sizeof(*ids));
    size_t *src = calloc(n, sizeof(*src));
    char *invalid = calloc(n, 1);
    int rc = -1;
    if (!decl || !failed || !done || !group || !gidx || !ids || !src || !invalid) {
        rc = fail(le, out, "Runtime.OutOfMemory", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t from = 0;
        decl[i] = match(le, KUMO__LAMBDA_SQS, &ev->records[i], &from);
        src[i] = from - 1;
        if (decl[i] == NULL) {
            rc = fail(le, out, "Runtime.UnsupportedEvent",
                      "no queue or topic event of this function consumes the SQS queue '%.200s' (record %zu); the "
                      "events' queues are in KUMO_EVENTS",
                      ev->records[i].source, i);
            goto out;
        }
    }
    /* data: a message that does not match is never handed to the handler:
     * failed, and visible again at once, so that SQS's redrive policy moves
     * it to the dead-letter queue after max_receives receives */
    for (size_t i = 0; i < n; i++) {
        const kumo__schema *schema = le->data[decl[i] - le->h->project->events];
        char why[600];
        if (schema == NULL)
            continue;
        int bad = kumo__event_data_check(schema, ev->records[i].body, ev->records[i].body_len, why, sizeof(why));
        if (bad == 0)
            continue;
        failed[i] = done[i] = invalid[i] = 1;
        kumo__log_event("warn",
                        "event %s: message %s does not match its data: schema (%s); it is not handed to the "
                        "handler and goes to the dead-letter queue after max_receives receives",
                        decl[i]->name, ev->records[i].id, bad < 0 ? "out of memory" : why);
    }
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        const kumo__event_decl *d = decl[i];
        if (d->batch <= 1) {
            const kumo__lambda_record *r = &ev->records[i];
            headers hs;
            char source[512], count[16], trace[56];
            message_headers(le, d, r, &hs, source, sizeof(source), count, trace);
            call c;
            run(le, d, ev, &hs, r->body, r->body_len, NULL, 0, &c);
            log_call(d, r->id, &c, r->receives, 1);
            failed[i] = !ok(c.status);
            done[i] = 1;
            continue;
        }
        /* every record of this event, in order: one batch call */
        size_t g = 0;
        for (size_t k = i; k < n; k++)
            if (!done[k] && decl[k] == d) {
                group[g] = &ev->records[k];
                gidx[g++] = k;
                done[k] = 1;
            }
        json_t *arr = json_array();
        for (size_t k = 0; arr && k < g; k++) {
            json_t *one = structured(le, d, group[k]);
            if (one == NULL || json_array_append_new(arr, one) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        char *body = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
        json_decref(arr);
        if (body == NULL) {
            rc = fail(le, out, "Runtime.OutOfMemory", "out of memory building a batch");
            goto out;
        }
        headers hs = {0};
        char source[512], size[16], trace[56];
        snprintf(source, sizeof(source), "/kumo/%s/%s/%s", project_name(le),
                 d->kind == KUMO__EVENT_TOPIC ? "topics" : "queues",
                 d->kind == KUMO__EVENT_TOPIC ? d->topic : d->queue);
        snprintf(size, sizeof(size), "%zu", g);
        /* the batch continues its first record's trace and links the
         * others' (their producers' spans), as kumo up does; a record sent
         * with no context is not linked */
        int keep = valid_traceparent(group[0]->traceparent);
        if (!keep)
            new_traceparent(trace);
        const char **links = g > 1 ? calloc(g - 1, sizeof(*links)) : NULL;
        for (size_t k = 1; links && k < g; k++)
            links[k - 1] = valid_traceparent(group[k]->traceparent) ? group[k]->traceparent : NULL;
        hadd(&hs, "content-type", "application/cloudevents-batch+json");
        hadd(&hs, "kumo-batch-size", size);
        hadd(&hs, "traceparent", keep ? group[0]->traceparent : trace);
        call c;
        run(le, d, ev, &hs, body, strlen(body), links, g - 1, &c);
        free(links);
        free(body);
        char *marks = calloc(g, 1);
        if (marks == NULL) {
            rc = fail(le, out, "Runtime.OutOfMemory", "out of memory");
            goto out;
        }
        int all = !ok(c.status);
        if (!all && batch_answer(&c, group, g, marks) != 0) {
            all = 1;
            kumo__log_event("warn",
                            "event %s: the handler's batchItemFailures names an id that is not in the batch of %zu; "
                            "the whole batch failed (Lambda's rule)",
                            d->name, g);
        }
        for (size_t k = 0; k < g; k++)
            failed[gidx[k]] = all || marks[k];
        free(marks);
        log_call(d, group[0]->id, &c, 0, g);
    }
    size_t nf = 0;
    for (size_t i = 0; i < n; i++)
        if (failed[i]) {
            ids[nf++] = ev->records[i].id;
            back_off(&le->sources[src[i]], &ev->records[i], invalid[i]);
        }
    rc = answer(le, out, kumo__lambda_batch_failures(ids, nf, NULL));
out:
    free(decl);
    free(failed);
    free(done);
    free(group);
    free(gidx);
    free(ids);
    free(src);
    free(invalid);
    return rc;
}

static int handle_s3(kumo__lambda_events *le, const kumo__lambda_event *ev, kumo__lambda_event_reply *out)
{
    size_t failures = 0, calls = 0;
    for (size_t i = 0; i < ev->nrecords; i++) {
        const kumo__lambda_record *r = &ev->records[i];
        const kumo__event_decl *d;
        size_t from = 0;
        while ((d = match(le, KUMO__LAMBDA_S3, r, &from)) != NULL) {
            json_t *doc = json_pack("{s:s, s:s, s:s}", "store", d->blob, "key", r->key, "event",
                                    r->deleted ? "deleted" : "created");
            if (doc && r->size >= 0)
                json_object_set_new(doc, "size", json_integer(r->size));
            if (doc && r->etag)
                json_object_set_new(doc, "etag", json_string(r->etag));
            char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
            json_decref(doc);
            if (body == NULL)
                return fail(le, out, "Runtime.OutOfMemory", "out of memory");
            headers hs = {0};
            char source[512], trace[56];
            snprintf(source, sizeof(source), "/kumo/%s/blobs/%s", project_name(le), d->blob);
            new_traceparent(trace);
            hadd(&hs, "ce-specversion", "1.0");
            hadd(&hs, "ce-id", r->id);
            hadd(&hs, "ce-source", source);
            hadd(&hs, "ce-type", r->deleted ? "dev.kumo.blob.deleted" : "dev.kumo.blob.created");
            hadd(&hs, "ce-time", r->time);
            hadd(&hs, "ce-subject", r->key);
            hadd(&hs, "traceparent", trace);
            hadd(&hs, "content-type", "application/json");
            call c;
            run(le, d, ev, &hs, body, strlen(body), NULL, 0, &c);
            free(body);
            log_call(d, r->id, &c, 0, 1);
            calls++;
            failures += !ok(c.status);
        }
    }
    if (failures)
        return fail(le, out, "Kumo.EventFailed", "%zu of %zu blob event calls failed; Lambda retries the invocation",
                    failures, calls);
    /* A record no event wants (a filter S3 was not told) is no error. */
    return answer(le, out, strdup("{\"batchItemFailures\":[]}"));
}

static int handle_sns(kumo__lambda_events *le, const kumo__lambda_event *ev, kumo__lambda_event_reply *out)
{
    size_t failures = 0;
    for (size_t i = 0; i < ev->nrecords; i++) {
        const kumo__lambda_record *r = &ev->records[i];
        size_t from = 0;
        const kumo__event_decl *d = match(le, KUMO__LAMBDA_SNS, r, &from);
        if (d == NULL)
            return fail(le, out, "Runtime.UnsupportedEvent",
                        "no topic event of this function subscribes to the SNS topic '%.200s'", r->source);
        headers hs;
        char source[512], count[16], trace[56];
        message_headers(le, d, r, &hs, source, sizeof(source), count, trace);
        call c;
        run(le, d, ev, &hs, r->body, r->body_len, NULL, 0, &c);
        log_call(d, r->id, &c, 0, 1);
        failures += !ok(c.status);
    }
    if (failures)
        return fail(le, out, "Kumo.EventFailed", "%zu of %zu topic message calls failed", failures, ev->nrecords);
    return answer(le, out, strdup("{\"batchItemFailures\":[]}"));
}

static int handle_tick(kumo__lambda_events *le, const kumo__lambda_event *ev, kumo__lambda_event_reply *out)
{
    const kumo__lambda_record *r = &ev->records[0];
    size_t from = 0;
    const kumo__event_decl *d = match(le, KUMO__LAMBDA_SCHEDULE, r, &from);
    if (d == NULL)
        return fail(le, out, "Runtime.UnsupportedEvent", "no schedule event of this function is named '%.200s'",
                    r->event_name ? r->event_name : r->source);
    /* The planned time with milliseconds, as kumo up writes it. */
    char when[40];
    const char *t = r->time ? r->time : "";
    size_t tl = strlen(t);
    if (tl == 20 && t[19] == 'Z')
        snprintf(when, sizeof(when), "%.19s.000Z", t);
    else
        snprintf(when, sizeof(when), "%s", t);
    json_t *doc = json_pack("{s:s, s:s, s:s}", "schedule", d->schedule, "planned", when, "timezone",
                            d->timezone ? d->timezone : "UTC");
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (body == NULL)
        return fail(le, out, "Runtime.OutOfMemory", "out of memory");
    headers hs = {0};
    char source[512], trace[56];
    snprintf(source, sizeof(source), "/kumo/%s/events/%s", project_name(le), d->name);
    new_traceparent(trace);
    hadd(&hs, "ce-specversion", "1.0");
    hadd(&hs, "ce-id", r->id);
    hadd(&hs, "ce-source", source);
    hadd(&hs, "ce-type", "dev.kumo.schedule.tick");
    hadd(&hs, "ce-time", when[0] ? when : NULL);
    hadd(&hs, "ce-subject", d->name);
    hadd(&hs, "traceparent", trace);
    hadd(&hs, "content-type", "application/json");
    call c;
    run(le, d, ev, &hs, body, strlen(body), NULL, 0, &c);
    free(body);
    log_call(d, r->id, &c, 0, 1);
    char status[64];
    snprintf(status, sizeof(status), "{\"status\":%d}", c.status);
    return answer(le, out, strdup(status));
}

int kumo__lambda_events_handle(kumo__lambda_events *le, const kumo__lambda_event *ev, kumo__lambda_event_reply *out)
{
    switch (ev->kind) {
    case KUMO__LAMBDA_SQS: return handle_sqs(le, ev, out);
    case KUMO__LAMBDA_S3: return handle_s3(le, ev, out);
    case KUMO__LAMBDA_SNS: return handle_sns(le, ev, out);
    case KUMO__LAMBDA_SCHEDULE: return handle_tick(le, ev, out);
    default: return fail(le, out, "Runtime.UnsupportedEvent", "this event is not one kumo maps");
    }
}
