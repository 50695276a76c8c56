/*
 * event.c: the CloudEvents a request carries, as a handler reads them
 * (kumo_event_*), and the partial failure of a batch it answers
 * (kumo_event_fail).
 *
 * A request carries events in one of CloudEvents 1.0's HTTP modes
 * (https://github.com/cloudevents/spec, http-protocol-binding.md):
 *  - binary: ce-* headers hold the attributes (ce-specversion says it is
 *    an event at all), content-type the data's type, the body the data;
 *  - structured: content-type application/cloudevents+json, the event a
 *    JSON object in the body (json-format.md);
 *  - batch: content-type application/cloudevents-batch+json, a JSON array
 *    of such objects (what the queue consumer sends for batch: > 1).
 * The body is read once, on the first call that needs it, into the
 * request's arena (kumo_request.events and, for a structured single event,
 * its attributes as strings: kumo_event_attr answers from them as from the
 * headers). The parsed JSON is dropped at once: nothing here outlives the
 * arena. The body's size is the gateway's ceiling (the unit's max_body or
 * the frame limit), so the event count needs none of its own.
 *
 * A structured event's data is `data_base64` decoded, or `data`: a JSON
 * string whose datacontenttype is not JSON is its text (json-format.md
 * 3.1.1); any other JSON value is serialised compactly in member order, so
 * a handler reading JSON sees the same value, not necessarily the same
 * bytes.
 *
 * kumo_event_fail answers with Lambda's shape,
 * {"batchItemFailures":[{"itemIdentifier":"ID"}]}, rebuilt in the arena at
 * each call (a batch is at most 100 events); the queue consumer
 * (src/gateway/consumer.c) reads it back.
 */
#include "sdk/sdk.h"
#include "sdk/stores/aws.h" /* kumo__aws_b64_decode */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BATCH_TYPE "application/cloudevents-batch+json"
#define STRUCTURED_TYPE "application/cloudevents+json"

/* Whether the media type `ct` (parameters allowed) is `type`, case-insensitively. */
static int media_is(const char *ct, const char *type)
{
    if (ct == NULL)
        return 0;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strlen(type);
    if (strncasecmp(ct, type, n) != 0)
        return 0;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

/* JSON data by CloudEvents' rule: absent datacontenttype, application/json,
 * text/json or any +json subtype. */
static int json_media(const char *ct)
{
    if (ct == NULL || media_is(ct, "application/json") || media_is(ct, "text/json"))
        return 1;
    const char *end = strchr(ct, ';');
    size_t n = end ? (size_t)(end - ct) : strlen(ct);
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return n >= 5 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

/* A structured attribute's value as a string in the arena: a string as is,
 * an integer, real or boolean as its JSON text; NULL for anything else
 * (null, objects and arrays are not attribute values). *nomem on failure. */
static const char *attr_text(kumo__arena *a, json_t *v, int *nomem)
{
    char buf[64];
    const char *s;
    size_t n;
    switch (json_typeof(v)) {
    case JSON_STRING: s = json_string_value(v), n = json_string_length(v); break;
    case JSON_INTEGER:
        n = (size_t)snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = buf;
        break;
    case JSON_REAL: n = (size_t)snprintf(buf, sizeof(buf), "%.17g", json_real_value(v)), s = buf; break;
    case JSON_TRUE: s = "true", n = 4; break;
    case JSON_FALSE: s = "false", n = 5; break;
    default: return NULL;
    }
    if (memchr(s, '\0', n)) /* a C string cannot carry it: as if absent */
        return NULL;
    char *out = kumo__arena_strndup(a, s, n);
    if (out == NULL)
        *nomem = 1;
    return out;
}

/* A serialiser into the arena: a buffer that doubles (what it outgrows
 * stays in the arena until the invocation ends). */
typedef struct arena_buf {
    kumo__arena *a;
    char *p;
    size_t len, cap;
} arena_buf;

static int arena_dump(const char *s, size_t n, void *data)
{
    arena_buf *b = data;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap) {
            if (cap > SIZE_MAX / 4)
                return -1;
            cap *= 2;
        }
        char *p = kumo__arena_alloc(b->a, cap);
        if (p == NULL)
            return -1;
        if (b->len)
            memcpy(p, b->p, b->len);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* A receive count: a non-negative integer, or its decimal text. */
static unsigned receive_count(json_t *v, const char *text)
{
    long long n = -1;
    if (v && json_is_integer(v))
        n = json_integer_value(v);
    else if (text && *text) {
        char *end;
        n = strtoll(text, &end, 10);
        if (*end != '\0')
            n = -1;
    }
    return n < 0 ? 0 : n > 1000000000 ? 1000000000u : (unsigned)n;
}

/* Fills *ev from the structured event `o`. 0, or KUMO_ENOMEM. */
static int read_structured(kumo__arena *a, json_t *o, kumo_event *ev)
{
    int nomem = 0;
    json_t *v;
    memset(ev, 0, sizeof(*ev));
    ev->id = (v = json_object_get(o, "id")) ? attr_text(a, v, &nomem) : NULL;
    ev->type = (v = json_object_get(o, "type")) ? attr_text(a, v, &nomem) : NULL;
    ev->source = (v = json_object_get(o, "source")) ? attr_text(a, v, &nomem) : NULL;
    ev->time = (v = json_object_get(o, "time")) ? attr_text(a, v, &nomem) : NULL;
    ev->subject = (v = json_object_get(o, "subject")) ? attr_text(a, v, &nomem) : NULL;
    ev->content_type = (v = json_object_get(o, "datacontenttype")) ? attr_text(a, v, &nomem) : NULL;
    ev->receives = receive_count(json_object_get(o, "kumoreceivecount"),
                                 json_string_value(json_object_get(o, "kumoreceivecount")));
    ev->data = "";
    ev->len = 0;
    json_t *b64 = json_object_get(o, "data_base64");
    json_t *data = json_object_get(o, "data");
    if (b64 && json_is_string(b64)) {
        size_t n = json_string_length(b64);
        unsigned char *out = kumo__arena_alloc(a, n / 4 * 3 + 4);
        if (out == NULL)
            return KUMO_ENOMEM;
        long got = kumo__aws_b64_decode(json_string_value(b64), n, out);
        if (got >= 0) { /* not base64: as if there were no data */
            out[got] = '\0';
            ev->data = out;
            ev->len = (size_t)got;
        }
    } else if (data && json_is_string(data) && !json_media(ev->content_type)) {
        size_t n = json_string_length(data);
        char *copy = kumo__arena_strndup(a, json_string_value(data), n);
        if (copy == NULL)
            return KUMO_ENOMEM;
        ev->data = copy;
        ev->len = n;
    } else if (data && !json_is_null(data)) {
        arena_buf buf = {.a = a};
        if (json_dump_callback(data, arena_dump, &buf, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER) != 0)
            return KUMO_ENOMEM;
        ev->data = buf.p ? buf.p : "";
        ev->len = buf.len;
    }
    return nomem ? KUMO_ENOMEM : 0;
}

/* The structured event's attributes (every member but data and
 * data_base64 that has a string, number or boolean value) as pairs. */
static int read_attrs(kumo__arena *a, json_t *o, kumo__pair **out, size_t *n)
{
    int nomem = 0;
    size_t cap = json_object_size(o), k = 0;
    kumo__pair *p = kumo__arena_alloc(a, (cap ? cap : 1) * sizeof(*p));
    if (p == NULL)
        return KUMO_ENOMEM;
    const char *name;
    json_t *v;
    json_object_foreach(o, name, v)
    {
        if (strcmp(name, "data") == 0 || strcmp(name, "data_base64") == 0)
            continue;
        const char *text = attr_text(a, v, &nomem);
        char *copy = text ? kumo__arena_strndup(a, name, strlen(name)) : NULL;
        if (nomem || (text && copy == NULL))
            return KUMO_ENOMEM;
        if (text)
            p[k++] = (kumo__pair){copy, text};
    }
    *out = p;
    *n = k;
    return 0;
}

/* Reads the request's events once. A failed allocation leaves them unread
 * (a later call may try again) and returns KUMO_ENOMEM; a body that is not
 * what its content-type says is no event (0 events), not an error. */
static int parse_events(kumo_request *r)
{
    int rc = 0;
    json_t *doc = NULL;
    if (r->events_parsed)
        return 0;
    if (r->ctx == NULL)
        return KUMO_EINVAL;
    kumo__arena *a = &r->ctx->arena;
    const char *ct = kumo_request_header(r, "content-type");
    int batch = media_is(ct, BATCH_TYPE), structured = media_is(ct, STRUCTURED_TYPE);
    r->events = NULL;
    r->nevents = 0;
    r->ce_attrs = NULL;
    r->nce_attrs = 0;
    if (batch || structured) {
        if (r->body && r->body_len)
            doc = json_loadb(r->body, r->body_len, 0, NULL);
        if (batch && json_is_array(doc)) {
            size_t n = json_array_size(doc);
            for (size_t i = 0; i < n; i++)
                if (!json_is_object(json_array_get(doc, i)))
                    goto done; /* not an array of events: none */
            kumo_event *evs = kumo__arena_alloc(a, (n ? n : 1) * sizeof(*evs));
            if (evs == NULL)
                goto nomem;
            for (size_t i = 0; i < n; i++)
                if (read_structured(a, json_array_get(doc, i), &evs[i]) != 0)
                    goto nomem;
            r->events = evs;
            r->nevents = n;
        } else if (structured && json_is_object(doc)) {
            kumo_event *ev = kumo__arena_alloc(a, sizeof(*ev));
            if (ev == NULL || read_structured(a, doc, ev) != 0 || read_attrs(a, doc, &r->ce_attrs, &r->nce_attrs) != 0)
                goto nomem;
            r->events = ev;
            r->nevents = 1;
        }
    } else if (kumo_request_header(r, "ce-specversion") != NULL) {
        kumo_event *ev = kumo__arena_alloc(a, sizeof(*ev));
        if (ev == NULL)
            goto nomem;
        *ev = (kumo_event){
            .id = kumo_request_header(r, "ce-id"),
            .type = kumo_request_header(r, "ce-type"),
            .source = kumo_request_header(r, "ce-source"),
            .time = kumo_request_header(r, "ce-time"),
            .subject = kumo_request_header(r, "ce-subject"),
            .content_type = ct,
            .data = r->body ? r->body : "",
            .len = r->body ? r->body_len : 0,
            .receives = receive_count(NULL, kumo_request_header(r, "kumo-receive-count")),
        };
        r->events = ev;
        r->nevents = 1;
    }
done:
    r->events_parsed = 1;
    goto out;
nomem:
    r->events = NULL;
    r->nevents = 0;
    r->ce_attrs = NULL;
    r->nce_attrs = 0;
    rc = KUMO_ENOMEM;
out:
    json_decref(doc);
    return rc;
}

size_t kumo_event_count(const kumo_request *req)
{
    if (req == NULL)
        return 0;
    kumo_request *r = (kumo_request *)req;
    return parse_events(r) == 0 ? r->nevents : 0;
}

int kumo_event_at(const kumo_request *req, size_t i, kumo_event *out)
{
    if (req == NULL || out == NULL)
        return KUMO_EINVAL;
    kumo_request *r = (kumo_request *)req;
    int rc = parse_events(r);
    if (rc != 0)
        return rc;
    if (i >= r->nevents)
        return KUMO_ENOTFOUND;
    *out = r->events[i];
    return 0;
}

/* CloudEvents attribute names are lower-case letters and digits, at most
 * 20 of them; anything else cannot name a ce-* header we would read. */
const char *kumo_event_attr(const kumo_request *req, const char *name)
{
    char header[32] = "ce-";
    size_t n = name ? strlen(name) : 0;
    if (req == NULL || n == 0 || n > 20)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
            return NULL;
    if (media_is(kumo_request_header(req, "content-type"), STRUCTURED_TYPE)) {
        kumo_request *r = (kumo_request *)req;
        if (parse_events(r) != 0)
            return NULL;
        for (size_t i = 0; i < r->nce_attrs; i++)
            if (strcmp(r->ce_attrs[i].name, name) == 0)
                return r->ce_attrs[i].value;
        return NULL;
    }
    /* Not an event: a stray ce-type on a plain request is not one. */
    if (kumo_request_header(req, "ce-specversion") == NULL)
        return NULL;
    memcpy(header + 3, name, n + 1);
    return kumo_request_header(req, header);
}

const char *kumo_event_id(const kumo_request *req)
{
    return kumo_event_attr(req, "id");
}

const char *kumo_event_type(const kumo_request *req)
{
    return kumo_event_attr(req, "type");
}

const char *kumo_event_source(const kumo_request *req)
{
    return kumo_event_attr(req, "source");
}

const char *kumo_event_time(const kumo_request *req)
{
    return kumo_event_attr(req, "time");
}

const char *kumo_event_subject(const kumo_request *req)
{
    return kumo_event_attr(req, "subject");
}

/* ---- partial failure ------------------------------------------------------ */

int kumo_event_fail(kumo_response *res, const char *id)
{
    int rc = KUMO_ENOMEM;
    json_t *body = NULL, *list = NULL;
    if (res == NULL || res->ctx == NULL || id == NULL || *id == '\0')
        return KUMO_EINVAL;
    json_t *probe = json_string(id); /* NULL: not UTF-8 */
    if (probe == NULL)
        return KUMO_EINVAL;
    json_decref(probe);
    kumo__arena *a = &res->ctx->arena;
    size_t k = 0;
    while (k < res->nfailed && strcmp(res->failed[k], id) != 0)
        k++;
    if (k == res->nfailed) {
        if (res->nfailed == res->cap_failed) {
            size_t cap = res->cap_failed ? res->cap_failed * 2 : 16;
            const char **grown = kumo__arena_alloc(a, cap * sizeof(*grown));
            if (grown == NULL)
                return KUMO_ENOMEM;
            if (res->nfailed)
                memcpy(grown, res->failed, res->nfailed * sizeof(*grown));
            res->failed = grown;
            res->cap_failed = cap;
        }
        const char *copy = kumo__arena_strndup(a, id, strlen(id));
        if (copy == NULL)
            return KUMO_ENOMEM;
        res->failed[res->nfailed++] = copy;
    }
    if ((body = json_object()) == NULL || (list = json_array()) == NULL)
        goto out;
    for (size_t i = 0; i < res->nfailed; i++) {
        json_t *item = json_pack("{s:s}", "itemIdentifier", res->failed[i]);
        if (item == NULL || json_array_append_new(list, item) != 0)
            goto out;
    }
    if (json_object_set_new(body, "batchItemFailures", list) != 0) {
        list = NULL;
        goto out;
    }
    list = NULL;
    arena_buf buf = {.a = a};
    if (json_dump_callback(body, arena_dump, &buf, JSON_COMPACT) != 0)
        goto out;
    if ((rc = kumo_response_body(res, buf.p, buf.len, "application/json")) != 0)
        goto out;
    if (res->status == 0)
        res->status = 200;
out:
    json_decref(list);
    json_decref(body);
    return rc;
}
