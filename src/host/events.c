/*
 * events.c: what the platforms push to kumo-host http, turned into the
 * one request an event's handler gets under kumo up (docs/events.md): a
 * CloudEvents 1.0 binary-mode POST /NAME with kumo's ce-type, ce-source
 * and ce-subject for the event's kind, the producer's id and time, and
 * the data as body.
 *
 * Two doors:
 *
 *   POST /_kumo/events/NAME   the event NAME, whatever pushes it: Cloud
 *       Scheduler (a plain POST; X-CloudScheduler-ScheduleTime is the
 *       planned time), a Pub/Sub push subscription (the JSON envelope
 *       {"message":{"data","attributes","messageId","publishTime"},
 *       "subscription"}), Eventarc's Cloud Storage events, a Knative
 *       PingSource, Trigger or CronJob (CloudEvents binary or structured
 *       mode). The deploy targets point every trigger there (one path per
 *       event, so the event is known without guessing from the type).
 *       /_kumo/ is kumo's: an API may not have paths under it.
 *   POST /FUNCTION            an Azure Functions custom-handler invocation
 *       of an event's function (kumo__host_azure_function): a JSON body
 *       {"Data":{BINDING: ...},"Metadata":{...}}; answered
 *       {"Outputs":{},"Logs":[...],"ReturnValue":...}, 200 when the
 *       handler answered 2xx, 500 otherwise (the Functions host then
 *       retries a queue message, and moves it to the poison queue after
 *       maxDequeueCount).
 *
 *   POST /  with KUMO_EVENT=NAME in the environment: the event NAME (an
 *       OpenFaaS function the cron-connector invokes at its root).
 *
 * Anything else is left to the HTTP dispatcher. Every body is already
 * bounded by the listener (the largest unit's max_body).
 */
#include "host/host.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "sdk/stores/aws.h"   /* kumo__aws_b64_decode */
#include "sdk/stores/azure.h" /* kumo__azqueue_header */

#define EVENTS_PREFIX "/_kumo/events/"

/* What the producer said about one event, before kumo's mapping. Every
 * pointer is into `in`, `doc` or `owned`. */
typedef struct produced {
    char id[160], time[64], type[256], source[512], subject[1024], content_type[128];
    int has_type, has_source;
    const char *data;
    size_t len;
    unsigned receives; /* 0: not said */
    json_t *doc;       /* a parsed body (envelope, structured event), or NULL */
    char *owned;       /* decoded data, or NULL */
} produced;

static void produced_free(produced *pr)
{
    json_decref(pr->doc);
    free(pr->owned);
}

static const kumo__slice *header(const kumo__http_in *in, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < in->nheaders; i++)
        if (in->headers[i].name.len == n && strncasecmp(in->headers[i].name.base, name, n) == 0)
            return &in->headers[i].value;
    return NULL;
}

static void copy_slice(char *dst, size_t cap, const kumo__slice *s)
{
    size_t n = s ? (s->len < cap - 1 ? s->len : cap - 1) : 0;
    if (n)
        memcpy(dst, s->base, n);
    dst[n] = '\0';
}

static void copy_str(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "");
}

static const kumo__event_decl *find_event(const kumo__project *p, const char *name, size_t len)
{
    for (size_t i = 0; i < p->nevents; i++)
        if (strlen(p->events[i].name) == len && memcmp(p->events[i].name, name, len) == 0)
            return &p->events[i];
    return NULL;
}

static void now_rfc3339(char *out, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char s[32];
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03ldZ", s, ts.tv_nsec / 1000000);
}

/* A fresh W3C traceparent: version 00, random trace and parent ids,
 * sampled (obs/trace.h's ids). */
static void new_traceparent(char *out, size_t cap)
{
    uint8_t trace_id[16], span_id[8];
    char tp[56];
    kumo__trace_new_trace_id(trace_id);
    kumo__trace_new_span_id(span_id);
    kumo__traceparent_format(trace_id, span_id, KUMO__TRACE_SAMPLED, tp);
    snprintf(out, cap, "%s", tp);
}

static int is_json_type(const char *ct, const char *want)
{
    size_t n = strlen(want);
    return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* data_base64 / a Pub/Sub message's data: decoded into pr->owned. */
static int take_base64(produced *pr, const char *b64)
{
    size_t n = strlen(b64);
    free(pr->owned);
    if ((pr->owned = malloc(n / 4 * 3 + 4)) == NULL)
        return -ENOMEM;
    long got = kumo__aws_b64_decode(b64, n, (unsigned char *)pr->owned);
    if (got < 0)
        return -EINVAL;
    pr->data = pr->owned;
    pr->len = (size_t)got;
    return 0;
}

/* A JSON value as the data: a string's text, anything else serialized. */
static int take_json_data(produced *pr, json_t *v, int *was_json)
{
    *was_json = 0;
    if (json_is_string(v)) {
        pr->data = json_string_value(v);
        pr->len = json_string_length(v);
        return 0;
    }
    free(pr->owned);
    if ((pr->owned = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
        return -ENOMEM;
    pr->data = pr->owned;
    pr->len = strlen(pr->owned);
    *was_json = 1;
    return 0;
}

static void attr(json_t *o, const char *key, char *dst, size_t cap, int *has)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v)) {
        copy_str(dst, cap, json_string_value(v));
        if (has)
            *has = 1;
    }
}

/* What arrived at /_kumo/events/NAME: the producer's attributes and data.
 * 0, or a negative code with why set. */
static int read_pushed(const kumo__http_in *in, produced *pr, const char **why)
{
    const kumo__slice *ct = header(in, "content-type");
    char ctype[128];
    copy_slice(ctype, sizeof(ctype), ct);
    pr->data = in->body.base ? in->body.base : "";
    pr->len = in->body.len;
    if (is_json_type(ctype, "application/cloudevents-batch+json")) {
        *why = "a CloudEvents batch is not taken here; send each event on its own, or to /_kumo/events";
        return -EINVAL;
    }
    if (is_json_type(ctype, "application/cloudevents+json")) { /* structured mode */
        pr->doc = json_loadb(pr->data, pr->len, 0, NULL);
        if (!json_is_object(pr->doc)) {
            *why = "a structured CloudEvent (application/cloudevents+json) must be a JSON object";
            return -EINVAL;
        }
        attr(pr->doc, "id", pr->id, sizeof(pr->id), NULL);
        attr(pr->doc, "time", pr->time, sizeof(pr->time), NULL);
        attr(pr->doc, "type", pr->type, sizeof(pr->type), &pr->has_type);
        attr(pr->doc, "source", pr->source, sizeof(pr->source), &pr->has_source);
        attr(pr->doc, "subject", pr->subject, sizeof(pr->subject), NULL);
        attr(pr->doc, "datacontenttype", pr->content_type, sizeof(pr->content_type), NULL);
        json_t *b64 = json_object_get(pr->doc, "data_base64"), *data = json_object_get(pr->doc, "data");
        pr->data = "";
        pr->len = 0;
        if (json_is_string(b64)) {
            int rc = take_base64(pr, json_string_value(b64));
            if (rc < 0) {
                *why = "data_base64 is not base64";
                return rc;
            }
        } else if (data) {
            int was_json;
            if (take_json_data(pr, data, &was_json) < 0)
                return -ENOMEM;
            if (was_json && !pr->content_type[0])
                copy_str(pr->content_type, sizeof(pr->content_type), "application/json");
        }
        return 0;
    }
    if (header(in, "ce-specversion")) { /* binary mode */
        copy_slice(pr->id, sizeof(pr->id), header(in, "ce-id"));
        copy_slice(pr->time, sizeof(pr->time), header(in, "ce-time"));
        if ((pr->has_type = header(in, "ce-type") != NULL))
            copy_slice(pr->type, sizeof(pr->type), header(in, "ce-type"));
        if ((pr->has_source = header(in, "ce-source") != NULL))
            copy_slice(pr->source, sizeof(pr->source), header(in, "ce-source"));
        copy_slice(pr->subject, sizeof(pr->subject), header(in, "ce-subject"));
        copy_str(pr->content_type, sizeof(pr->content_type), ctype);
        const kumo__slice *rc = header(in, "kumo-receive-count");
        char n[16];
        copy_slice(n, sizeof(n), rc);
        pr->receives = rc ? (unsigned)strtoul(n, NULL, 10) : 0;
        return 0;
    }
    if (is_json_type(ctype, "application/json") && pr->len > 0) { /* a Pub/Sub push? */
        json_t *doc = json_loadb(pr->data, pr->len, 0, NULL);
        json_t *msg = json_object_get(doc, "message");
        if (json_is_object(msg) && json_is_string(json_object_get(doc, "subscription"))) {
            pr->doc = doc;
            attr(msg, "messageId", pr->id, sizeof(pr->id), NULL);
            attr(msg, "publishTime", pr->time, sizeof(pr->time), NULL);
            json_t *attrs = json_object_get(msg, "attributes");
            attr(attrs, "content-type", pr->content_type, sizeof(pr->content_type), NULL);
            json_t *da = json_object_get(doc, "deliveryAttempt");
            pr->receives = json_is_integer(da) && json_integer_value(da) > 0 ? (unsigned)json_integer_value(da) : 1;
            json_t *data = json_object_get(msg, "data");
            pr->data = "";
            pr->len = 0;
            if (json_is_string(data) && take_base64(pr, json_string_value(data)) < 0) {
                *why = "the Pub/Sub message's data is not base64";
                return -EINVAL;
            }
            if (!pr->id[0]) {
                *why = "the Pub/Sub push has no message.messageId";
                return -EINVAL;
            }
            return 0;
        }
        json_decref(doc);
    }
    /* a plain POST: Cloud Scheduler, or a caller of its own */
    copy_str(pr->content_type, sizeof(pr->content_type), ctype);
    copy_slice(pr->time, sizeof(pr->time), header(in, "x-cloudscheduler-scheduletime"));
    return 0;
}

/* An Azure Functions custom-handler invocation: Data's one binding and
 * Metadata. 0, or a negative code with why set. */
static int read_azure(const kumo__http_in *in, const kumo__event_decl *e, produced *pr, const char **why)
{
    pr->doc = json_loadb(in->body.base ? in->body.base : "", in->body.len, 0, NULL);
    json_t *data = json_object_get(pr->doc, "Data"), *meta = json_object_get(pr->doc, "Metadata");
    if (!json_is_object(data)) {
        *why = "an Azure Functions invocation must be a JSON object with \"Data\"";
        return -EINVAL;
    }
    copy_slice(pr->id, sizeof(pr->id), header(in, "x-azure-functions-invocationid"));
    attr(json_object_get(meta, "sys"), "UtcNow", pr->time, sizeof(pr->time), NULL);
    pr->data = "";
    pr->len = 0;
    if (e->kind == KUMO__EVENT_SCHEDULE)
        return 0;
    /* the trigger's binding: the one member of Data */
    json_t *v = NULL;
    const char *k;
    json_t *x;
    json_object_foreach(data, k, x)
    {
        v = x;
        break;
    }
    if (e->kind == KUMO__EVENT_BLOB) {
        /* the blob's content is not the event's data: kumo's JSON is
         * built from Metadata (name, Properties) below */
        json_t *props = json_object_get(meta, "Properties");
        json_t *out = json_object();
        /* BlobTrigger is "CONTAINER/KEY"; {name} is the key between the
         * trigger path's prefix and suffix */
        const char *full = json_string_value(json_object_get(meta, "BlobTrigger"));
        const char *name = json_string_value(json_object_get(meta, "name"));
        if (full && strchr(full, '/')) {
            json_object_set_new(out, "key", json_string(strchr(full, '/') + 1));
        } else if (name) {
            char *key = NULL;
            if (asprintf(&key, "%s%s%s", e->prefix ? e->prefix : "", name, e->suffix ? e->suffix : "") < 0)
                key = NULL;
            json_object_set_new(out, "key", key ? json_string(key) : NULL);
            free(key);
        } else {
            *why = "the blob trigger's Metadata has neither \"BlobTrigger\" nor \"name\"";
            json_decref(out);
            return -EINVAL;
        }
        json_t *len = json_object_get(props, "Length");
        if (!len)
            len = json_object_get(props, "ContentLength");
        if (json_is_integer(len))
            json_object_set(out, "size", len);
        if (json_is_string(json_object_get(props, "ETag")))
            json_object_set(out, "etag", json_object_get(props, "ETag"));
        if (json_is_string(json_object_get(props, "ContentType")))
            json_object_set(out, "content_type", json_object_get(props, "ContentType"));
        json_object_set_new(out, "event", json_string("created"));
        json_object_set_new(pr->doc, "kumo", out); /* owned by doc */
        copy_str(pr->type, sizeof(pr->type), "dev.kumo.blob.created");
        pr->has_type = 1;
        attr(props, "LastModified", pr->time, sizeof(pr->time), NULL);
        return 0;
    }
    if (v == NULL) {
        *why = "the Azure Functions invocation's Data is empty (the queue trigger's binding carries the message)";
        return -EINVAL;
    }
    int was_json;
    if (take_json_data(pr, v, &was_json) < 0)
        return -ENOMEM;
    if (!was_json) { /* a message kumo_queue_send wrote: its body follows azqueue.c's line */
        size_t h = kumo__azqueue_header(pr->data, pr->len);
        pr->data += h;
        pr->len -= h;
    }
    if (was_json)
        copy_str(pr->content_type, sizeof(pr->content_type), "application/json");
    attr(meta, "Id", pr->id, sizeof(pr->id), NULL);
    attr(meta, "InsertionTime", pr->time, sizeof(pr->time), NULL);
    json_t *dq = json_object_get(meta, "DequeueCount");
    if (json_is_integer(dq) && json_integer_value(dq) > 0)
        pr->receives = (unsigned)json_integer_value(dq);
    else if (json_is_string(dq))
        pr->receives = (unsigned)strtoul(json_string_value(dq), NULL, 10);
    return 0;
}

/* A Cloud Storage object event (Eventarc's google.cloud.storage.object.v1.*)
 * or kumo's own blob event, as kumo's blob data. 1: deliver (out set,
 * *deleted set); 0: filtered out by on:/prefix:/suffix:; negative: not a
 * blob event (why set). */
static int blob_data(const kumo__event_decl *e, produced *pr, json_t **out, int *deleted, const char **why)
{
    int created;
    if (strcmp(pr->type, "google.cloud.storage.object.v1.finalized") == 0 ||
        strcmp(pr->type, "dev.kumo.blob.created") == 0)
        created = 1;
    else if (strcmp(pr->type, "google.cloud.storage.object.v1.deleted") == 0 ||
             strcmp(pr->type, "dev.kumo.blob.deleted") == 0)
        created = 0;
    else {
        *why = "a blob event is a CloudEvent of type google.cloud.storage.object.v1.finalized or .deleted (Eventarc), "
               "or dev.kumo.blob.created or .deleted";
        return -EINVAL;
    }
    *deleted = !created;
    json_t *src = json_object_get(pr->doc, "kumo"); /* Azure's, built by read_azure */
    json_t *parsed = NULL;
    if (src == NULL)
        src = parsed = json_loadb(pr->data, pr->len, 0, NULL);
    int gcs = strncmp(pr->type, "google.", 7) == 0;
    const char *key = json_string_value(json_object_get(src, gcs ? "name" : "key"));
    if (key == NULL) {
        json_decref(parsed);
        *why = gcs ? "the Cloud Storage event's data has no \"name\"" : "the blob event's data has no \"key\"";
        return -EINVAL;
    }
    unsigned bit = created ? KUMO__BLOB_CREATED : KUMO__BLOB_DELETED;
    size_t kl = strlen(key), pl = e->prefix ? strlen(e->prefix) : 0, sl = e->suffix ? strlen(e->suffix) : 0;
    if (!(e->on & bit) || (pl && strncmp(key, e->prefix, pl) != 0) ||
        (sl && (kl < sl || strcmp(key + kl - sl, e->suffix) != 0))) {
        json_decref(parsed);
        return 0;
    }
    json_t *d = json_pack("{s:s, s:s}", "store", e->blob ? e->blob : "", "key", key);
    if (d && created) {
        json_t *size = json_object_get(src, "size");
        if (json_is_string(size)) /* Cloud Storage sends it as a string */
            json_object_set_new(d, "size", json_integer(strtoll(json_string_value(size), NULL, 10)));
        else if (json_is_integer(size))
            json_object_set(d, "size", size);
        json_t *etag = json_object_get(src, "etag"), *ct = json_object_get(src, gcs ? "contentType" : "content_type");
        if (json_is_string(etag))
            json_object_set(d, "etag", etag);
        if (json_is_string(ct))
            json_object_set(d, "content_type", ct);
    }
    if (d)
        json_object_set_new(d, "event", json_string(created ? "created" : "deleted"));
    copy_str(pr->subject, sizeof(pr->subject), key);
    json_decref(parsed);
    *out = d;
    return d ? 1 : -ENOMEM;
}

/* kumo's request for event e from what the producer said, then the call.
 * Returns the handler's reply in r. */
static void deliver(kumo__host *h, const kumo__event_decl *e, const kumo__http_in *in, produced *pr,
                    const char *request_id, kumo__host_reply *r)
{
    const kumo__project *p = h->project;
    char source[600], type[256], subject[1024], receives[16], traceparent[64];
    const char *why = NULL;
    char *body_owned = NULL;
    kumo__slice body = {pr->data, pr->len};
    const char *ctype = pr->content_type[0] ? pr->content_type : "application/octet-stream";
    memset(r, 0, sizeof(*r));
    r->body = "";
    snprintf(r->request_id, sizeof(r->request_id), "%s", request_id);
    if (!pr->id[0])
        copy_str(pr->id, sizeof(pr->id), request_id);
    if (!pr->time[0])
        now_rfc3339(pr->time, sizeof(pr->time));
    copy_str(subject, sizeof(subject), e->name);
    receives[0] = '\0';
    switch (e->kind) {
    case KUMO__EVENT_SCHEDULE: {
        snprintf(source, sizeof(source), "/kumo/%s/events/%s", p->name ? p->name : "", e->name);
        copy_str(type, sizeof(type), "dev.kumo.schedule.tick");
        json_t *doc = json_pack("{s:s, s:s, s:s}", "schedule", e->schedule ? e->schedule : "", "planned", pr->time,
                                "timezone", e->timezone ? e->timezone : "UTC");
        body_owned = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        ctype = "application/json";
        break;
    }
    case KUMO__EVENT_QUEUE:
    case KUMO__EVENT_TOPIC:
        if (e->kind == KUMO__EVENT_QUEUE) {
            snprintf(source, sizeof(source), "/kumo/%s/queues/%s", p->name ? p->name : "", e->queue ? e->queue : "");
            copy_str(type, sizeof(type), "dev.kumo.queue.message");
        } else {
            snprintf(source, sizeof(source), "/kumo/%s/topics/%s", p->name ? p->name : "", e->topic ? e->topic : "");
            copy_str(type, sizeof(type), "dev.kumo.topic.message");
        }
        snprintf(receives, sizeof(receives), "%u", pr->receives ? pr->receives : 1);
        break;
    case KUMO__EVENT_BLOB: {
        json_t *d = NULL;
        int deleted = 0, rc = blob_data(e, pr, &d, &deleted, &why);
        if (rc < 0)
            goto refuse;
        if (rc == 0) { /* on:/prefix:/suffix: leave it out: acknowledged, not delivered */
            r->status = 204;
            kumo__log_event("info", "event %s: %s left out by the event's filters (on, prefix, suffix)", e->name,
                            pr->subject[0] ? pr->subject : "the object");
            return;
        }
        body_owned = json_dumps(d, JSON_COMPACT);
        json_decref(d);
        snprintf(source, sizeof(source), "/kumo/%s/blobs/%s", p->name ? p->name : "", e->blob ? e->blob : "");
        copy_str(type, sizeof(type), deleted ? "dev.kumo.blob.deleted" : "dev.kumo.blob.created");
        copy_str(subject, sizeof(subject), pr->subject);
        snprintf(receives, sizeof(receives), "%u", pr->receives ? pr->receives : 1);
        ctype = "application/json";
        break;
    }
    case KUMO__EVENT_CLOUDEVENT:
        if (!pr->has_type || !pr->has_source) {
            why = "a CloudEvent needs ce-type and ce-source (binary mode) or type and source (structured mode)";
            goto refuse;
        }
        if (strcmp(pr->type, e->ce_type ? e->ce_type : "") != 0 ||
            (e->ce_source && strcmp(pr->source, e->ce_source) != 0)) {
            char detail[1200];
            snprintf(detail, sizeof(detail), "the event '%s' takes type '%s'%s%s%s; this one is type '%s', source '%s'",
                     e->name, e->ce_type ? e->ce_type : "", e->ce_source ? " from source '" : "",
                     e->ce_source ? e->ce_source : "", e->ce_source ? "'" : "", pr->type, pr->source);
            kumo__host_reply_problem(r, in, 404, "No such event", detail);
            return;
        }
        copy_str(type, sizeof(type), pr->type);
        copy_str(source, sizeof(source), pr->source);
        copy_str(subject, sizeof(subject), pr->subject);
        break;
    default: why = "this kind of event cannot be pushed to kumo-host"; goto refuse;
    }
    if (body_owned) {
        body.base = body_owned;
        body.len = strlen(body_owned);
    }
    const kumo__slice *tp = header(in, "traceparent");
    kumo__trace_ctx tc;
    if (tp && tp->len < sizeof(traceparent) && kumo__traceparent_parse(tp->base, tp->len, &tc) == 0)
        copy_slice(traceparent, sizeof(traceparent), tp);
    else
        new_traceparent(traceparent, sizeof(traceparent));
#define HV(n, v)                                                                                                       \
    {                                                                                                                  \
        {n, sizeof(n) - 1},                                                                                            \
        {                                                                                                              \
            v, strlen(v)                                                                                               \
        }                                                                                                              \
    }
    kumo__header_view hv[] = {
        HV("ce-specversion", "1.0"), HV("ce-id", pr->id),       HV("ce-source", source),
        HV("ce-type", type),         HV("ce-time", pr->time),   HV("traceparent", traceparent),
        HV("content-type", ctype),   HV("ce-subject", subject), HV("kumo-receive-count", receives),
    };
#undef HV
    size_t n = sizeof(hv) / sizeof(hv[0]);
    if (!receives[0])
        n--;
    if (!subject[0]) { /* a CloudEvent without a subject: leave it out */
        hv[7] = hv[n - 1];
        n--;
    }
    kumo__host_call_event(h, e, in, hv, n, body, request_id, r);
    free(body_owned);
    return;
refuse:
    free(body_owned);
    char detail[600];
    snprintf(detail, sizeof(detail), "event '%s': %s", e->name, why ? why : "out of memory");
    kumo__host_reply_problem(r, in, why ? 400 : 500, why ? "Bad event" : "Internal Server Error", detail);
}

void kumo__host_deliver_message(kumo__host *h, const kumo__event_decl *e, const char *id, const void *body, size_t len,
                                unsigned receives, const char *trace, const char *request_id, kumo__host_reply *r)
{
    produced pr;
    memset(&pr, 0, sizeof(pr));
    copy_str(pr.id, sizeof(pr.id), id);
    pr.data = body;
    pr.len = len;
    pr.receives = receives;
    kumo__http_in in;
    memset(&in, 0, sizeof(in));
    char path[300];
    snprintf(path, sizeof(path), "/%s", e->name);
    in.method = (kumo__slice){"POST", 4};
    in.path = (kumo__slice){path, strlen(path)};
    kumo__header_view tp = {{"traceparent", 11}, {trace, trace ? strlen(trace) : 0}};
    if (trace) { /* the send's context: deliver continues it */
        in.headers = &tp;
        in.nheaders = 1;
    }
    deliver(h, e, &in, &pr, request_id, r);
}

void kumo__host_azure_function(const char *name, char *out, size_t cap)
{
    int letter = ('a' <= name[0] && name[0] <= 'z') || ('A' <= name[0] && name[0] <= 'Z');
    snprintf(out, cap, "%s%s", letter ? "" : "event_", name);
}

/* The Azure custom handler's answer: the handler's status as ReturnValue,
 * its error (if any) in Logs; 200 when it answered 2xx, else 500 so that
 * the Functions host counts the invocation failed. */
static void azure_reply(kumo__host_reply *r, const kumo__event_decl *e)
{
    int ok = r->status >= 200 && r->status < 300;
    json_t *logs = json_array();
    if (!ok) {
        char line[700];
        snprintf(line, sizeof(line), "event %s: the handler answered %d: %.*s", e->name, r->status,
                 (int)(r->body_len < 500 ? r->body_len : 500), r->body ? r->body : "");
        json_array_append_new(logs, json_string(line));
    }
    json_t *doc = json_pack("{s:{}, s:o, s:{s:i}}", "Outputs", "Logs", logs ? logs : json_array(), "ReturnValue",
                            "status", r->status);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    free(r->owned);
    r->owned = text;
    r->body = text ? text : "";
    r->body_len = text ? strlen(text) : 0;
    r->status = ok ? 200 : 500;
    /* the handler's headers describe its own body, no longer sent */
    r->nheaders = 0;
    r->headers[r->nheaders++] = (kumo__host_header){"content-type", "application/json", 12, 16};
    r->headers[r->nheaders++] = (kumo__host_header){"x-request-id", r->request_id, 12, strlen(r->request_id)};
}

int kumo__host_fire(kumo__host *h, const char *name, kumo__error *err)
{
    if (find_event(h->project, name, strlen(name)) == NULL) {
        kumo__error_set(err, -ENOENT, "KUMO_FIRE=%s: no such event in kumo.yaml", name);
        return err->code;
    }
    char path[300], request_id[80];
    snprintf(path, sizeof(path), "%s%s", EVENTS_PREFIX, name);
    kumo__host_new_request_id(h, request_id, sizeof(request_id));
    kumo__http_in in;
    memset(&in, 0, sizeof(in));
    in.method = (kumo__slice){"POST", 4};
    in.path = (kumo__slice){path, strlen(path)};
    kumo__host_reply r;
    kumo__host_event(h, &in, request_id, &r);
    int status = r.status;
    fprintf(stderr, "kumo-host: event %s fired: status %d, request id %s%s%.*s\n", name, status, request_id,
            status >= 200 && status < 300 ? "" : ": ",
            status >= 200 && status < 300 ? 0 : (int)(r.body_len < 500 ? r.body_len : 500), r.body ? r.body : "");
    kumo__host_reply_free(&r);
    if (status < 200 || status >= 300) {
        kumo__error_set(err, -EIO, "event %s: the handler answered %d", name, status);
        return err->code;
    }
    return 0;
}

int kumo__host_event(kumo__host *h, const kumo__http_in *in, const char *request_id, kumo__host_reply *r)
{
    const kumo__project *p = h->project;
    if (p->nevents == 0 || in->method.len != 4 || memcmp(in->method.base, "POST", 4) != 0 || in->path.len < 1)
        return 0;
    const char *path = in->path.base;
    size_t plen = in->path.len, pre = sizeof(EVENTS_PREFIX) - 1;
    produced pr;
    memset(&pr, 0, sizeof(pr));
    const char *why = NULL;
    int rc;
    /* KUMO_EVENT=NAME: this instance is the event NAME's (an OpenFaaS
     * function the cron-connector POSTs to at its root) */
    const char *only = getenv("KUMO_EVENT");
    const char *ename = NULL;
    size_t elen = 0;
    if (only && *only && plen == 1 && path[0] == '/') {
        ename = only;
        elen = strlen(only);
    } else if (plen > pre && memcmp(path, EVENTS_PREFIX, pre) == 0) {
        ename = path + pre;
        elen = plen - pre;
    }
    if (ename) {
        const kumo__event_decl *e = find_event(p, ename, elen);
        if (e == NULL) {
            char names[600];
            size_t n = 0;
            names[0] = '\0';
            for (size_t i = 0; i < p->nevents && n < sizeof(names); i++)
                n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "", p->events[i].name);
            char detail[800];
            snprintf(detail, sizeof(detail), "no event '%.*s' in kumo.yaml; the events are: %s",
                     (int)(elen < 100 ? elen : 100), ename, names);
            memset(r, 0, sizeof(*r));
            snprintf(r->request_id, sizeof(r->request_id), "%s", request_id);
            kumo__host_reply_problem(r, in, 404, "No such event", detail);
            return 1;
        }
        if ((rc = read_pushed(in, &pr, &why)) < 0) {
            memset(r, 0, sizeof(*r));
            snprintf(r->request_id, sizeof(r->request_id), "%s", request_id);
            char detail[600];
            snprintf(detail, sizeof(detail), "event '%s': %s", e->name, why ? why : "out of memory");
            kumo__host_reply_problem(r, in, why ? 400 : 500, why ? "Bad event" : "Internal Server Error", detail);
        } else {
            deliver(h, e, in, &pr, request_id, r);
        }
        produced_free(&pr);
        return 1;
    }
    /* Azure: POST /FUNCTION with {"Data":...} */
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *e = &p->events[i];
        if (e->kind == KUMO__EVENT_CLOUDEVENT)
            continue;
        char fn[160];
        kumo__host_azure_function(e->name, fn, sizeof(fn));
        if (plen != strlen(fn) + 1 || memcmp(path + 1, fn, plen - 1) != 0)
            continue;
        const kumo__slice *ct = header(in, "content-type");
        char ctype[128];
        copy_slice(ctype, sizeof(ctype), ct);
        if (!is_json_type(ctype, "application/json") || in->body.len == 0 || in->body.base[0] != '{')
            return 0;
        json_t *probe = json_loadb(in->body.base, in->body.len, 0, NULL);
        int azure = json_is_object(json_object_get(probe, "Data"));
        json_decref(probe);
        if (!azure)
            return 0; /* an API request to the same path */
        if ((rc = read_azure(in, e, &pr, &why)) < 0) {
            memset(r, 0, sizeof(*r));
            snprintf(r->request_id, sizeof(r->request_id), "%s", request_id);
            char detail[600];
            snprintf(detail, sizeof(detail), "event '%s': %s", e->name, why ? why : "out of memory");
            kumo__host_reply_problem(r, in, why ? 400 : 500, why ? "Bad event" : "Internal Server Error", detail);
        } else {
            deliver(h, e, in, &pr, request_id, r);
        }
        azure_reply(r, e);
        produced_free(&pr);
        return 1;
    }
    return 0;
}
