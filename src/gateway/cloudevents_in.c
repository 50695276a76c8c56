/*
 * cloudevents_in.c: see cloudevents_in.h. CloudEvents 1.0 from outside,
 * `POST /_kumo/events`: the HTTP binding read (binary, structured and
 * batch modes), each event routed by exact type (and source) to the
 * project's `cloudevent:` events, its data checked against `data:`, and
 * handed to the handler as a binary-mode request; then one answer for the
 * request. The first part has no transport (kumo-host runs it in process);
 * kumo__gw_cloudevents at the end is kumo up's, through the pools.
 *
 * Attribute values reach the handler decoded: a binary-mode header value
 * is percent-decoded (the binding's rule), a structured one is the JSON
 * string; either way it must be valid UTF-8 without control characters
 * (the CloudEvents String type), so the ce-* headers of the handler's
 * request are safe to read as C strings.
 */
#include "gateway/cloudevents_in.h"

#include "gateway/gateway_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/base64.h"
#include "base/http.h"
#include "base/percent.h"
#include "gateway/access_log.h"
#include "openapi/pointer.h"
#include "project/event_data.h"

#define NAME_MAX_LEN 64 /* an attribute name's characters; CloudEvents asks for at most 20 */

/* ---- the project's side --------------------------------------------------- */

typedef struct ce_route {
    const kumo__event_decl *decl;
    const kumo__schema *schema; /* data:, compiled (borrowed from the routes' data); NULL: none */
} ce_route;

struct kumo__ce_routes {
    const kumo__project *project;
    kumo__schema **data; /* every event's data: schema (project/event_data.h); the routes borrow theirs */
    ce_route *list;
    size_t n;
    char *accepts; /* "com.example.a (source /shop), com.example.b": for 404s */
    size_t max_body;
};

int kumo__ce_routes_build(const kumo__project *p, const kumo__spec *spec, kumo__ce_routes **out, kumo__error *err)
{
    int rc = 0;
    size_t n = 0;
    *out = NULL;
    for (size_t i = 0; i < p->nevents; i++)
        n += p->events[i].kind == KUMO__EVENT_CLOUDEVENT;
    if (n == 0)
        return 0;
    kumo__ce_routes *r = calloc(1, sizeof(*r));
    size_t cap = 1;
    for (size_t i = 0; i < p->nevents; i++)
        if (p->events[i].kind == KUMO__EVENT_CLOUDEVENT)
            cap += strlen(p->events[i].ce_type) + 2 +
                   (p->events[i].ce_source ? strlen(p->events[i].ce_source) + sizeof(" (source )") : 0);
    if (r == NULL || (r->list = calloc(n, sizeof(*r->list))) == NULL || (r->accepts = malloc(cap)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto out;
    }
    r->project = p;
    r->accepts[0] = '\0';
    if ((rc = kumo__event_data_compile(p, spec, &r->data, err)) != 0)
        goto out;
    size_t used = 0;
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *e = &p->events[i];
        if (e->kind != KUMO__EVENT_CLOUDEVENT)
            continue;
        ce_route *cr = &r->list[r->n++];
        cr->decl = e;
        cr->schema = r->data[i];
        used += (size_t)snprintf(r->accepts + used, cap - used, "%s%s", used ? ", " : "", e->ce_type);
        if (e->ce_source)
            used += (size_t)snprintf(r->accepts + used, cap - used, " (source %s)", e->ce_source);
        size_t mb = p->units[e->unit_index].tuning.max_body;
        if (mb > r->max_body)
            r->max_body = mb;
    }
out:
    if (rc != 0)
        kumo__ce_routes_free(r);
    else
        *out = r;
    return rc;
}

void kumo__ce_routes_free(kumo__ce_routes *r)
{
    if (r == NULL)
        return;
    kumo__event_data_free(r->data, r->project ? r->project->nevents : 0);
    free(r->list);
    free(r->accepts);
    free(r);
}

size_t kumo__ce_routes_max_body(const kumo__ce_routes *r)
{
    return r ? r->max_body : 0;
}

int kumo__ce_is_path(const char *path, size_t len)
{
    return len == sizeof(KUMO__CE_PATH) - 1 && memcmp(path, KUMO__CE_PATH, len) == 0;
}

int kumo__ce_check_spec(const kumo__spec *spec, kumo__error *err)
{
    const char *base = spec->base_path ? spec->base_path : "";
    size_t blen = strlen(base);
    for (size_t i = 0; i < spec->nops; i++) {
        const char *path = spec->ops[i].path;
        char full[1024];
        snprintf(full, sizeof(full), "%s%s", base, path);
        if (strncmp(full, "/_kumo/", 7) != 0 && strcmp(full, "/_kumo") != 0)
            continue;
        /* The path's key: the Paths Object holds it under its template. */
        const json_t *paths = json_object_get(kumo__doc_root(spec->doc), "paths");
        kumo__doc_key_error(err, spec->doc, paths, path,
                            "paths: '%s'%s%s%s is under /_kumo/, which kumo keeps for its own endpoints (%s); move "
                            "the operation to another path",
                            path, blen ? " (served as " : "", blen ? full : "", blen ? ")" : "", KUMO__CE_PATH);
        return err->code;
    }
    return 0;
}

/* ---- parsing -------------------------------------------------------------- */

static void event_error(kumo__ce_event *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void event_error(kumo__ce_event *e, const char *fmt, ...)
{
    if (e->error[0])
        return; /* the first thing wrong is said */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->error, sizeof(e->error), fmt, ap);
    va_end(ap);
}

static int name_ok(const char *s, size_t len)
{
    if (len == 0 || len > NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

/* The CloudEvents String type: valid UTF-8, no control characters (C0,
 * DEL, C1), no NUL. */
static int value_ok(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = u[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp;
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07;
        else
            return 0;
        if (i + n >= len)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (u[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (u[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff) ||
            (cp >= 0x80 && cp <= 0x9f))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* RFC 3339: 2026-12-05T08:00:00Z, with fractions and offsets. */
static int time_ok(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    size_t i = 0;
    for (; shape[i]; i++) {
        char c = s[i];
        if (shape[i] == 'd' ? !(c >= '0' && c <= '9') : shape[i] == 'T' ? !(c == 'T' || c == 't') : c != shape[i])
            return 0;
    }
    if (s[i] == '.') {
        size_t start = ++i;
        while (s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return 0;
    }
    if (s[i] == 'Z' || s[i] == 'z')
        return s[i + 1] == '\0';
    if (s[i] != '+' && s[i] != '-')
        return 0;
    return s[i + 1] >= '0' && s[i + 1] <= '9' && s[i + 2] >= '0' && s[i + 2] <= '9' && s[i + 3] == ':' &&
           s[i + 4] >= '0' && s[i + 4] <= '9' && s[i + 5] >= '0' && s[i + 5] <= '9' && s[i + 6] == '\0';
}

const char *kumo__ce_attr_get(const kumo__ce_event *e, const char *name)
{
    for (size_t i = 0; i < e->nattrs; i++)
        if (strcmp(e->attrs[i].name, name) == 0)
            return e->attrs[i].value;
    return NULL;
}

/* Adds an attribute (name and value copied); refuses a second one of the
 * same name, and more than KUMO__CE_ATTRS_MAX. */
static int attr_add(kumo__ce_event *e, const char *name, size_t nlen, const char *value, size_t vlen)
{
    for (size_t i = 0; i < e->nattrs; i++)
        if (strlen(e->attrs[i].name) == nlen && memcmp(e->attrs[i].name, name, nlen) == 0) {
            event_error(e, "attribute '%.*s' is given twice", (int)nlen, name);
            return -1;
        }
    if (e->nattrs == KUMO__CE_ATTRS_MAX) {
        event_error(e, "has more than %d attributes", KUMO__CE_ATTRS_MAX);
        return -1;
    }
    if (vlen > KUMO__CE_VALUE_MAX) {
        event_error(e, "attribute '%.*s' has %zu bytes; at most %d are taken", (int)nlen, name, vlen,
                    KUMO__CE_VALUE_MAX);
        return -1;
    }
    if (!value_ok(value, vlen)) {
        event_error(e, "attribute '%.*s' is not a CloudEvents string (valid UTF-8 without control characters)",
                    (int)nlen, name);
        return -1;
    }
    if (e->attrs == NULL && (e->attrs = calloc(KUMO__CE_ATTRS_MAX, sizeof(*e->attrs))) == NULL)
        goto oom;
    kumo__ce_attr *a = &e->attrs[e->nattrs];
    if ((a->name = strndup(name, nlen)) == NULL || (a->value = strndup(value, vlen)) == NULL) {
        free(a->name);
        a->name = NULL;
        goto oom;
    }
    e->nattrs++;
    return 0;
oom:
    event_error(e, "cannot be read: out of memory");
    return -1;
}

/* Media type `ct` (parameters ignored) is `type`. */
static int media_is(const char *ct, size_t len, const char *type)
{
    size_t n = 0;
    while (n < len && ct[n] != ';' && ct[n] != ' ' && ct[n] != '\t')
        n++;
    return n == strlen(type) && strncasecmp(ct, type, n) == 0;
}

/* application/json, text/json, anything/anything+json. */
static int media_is_json(const char *ct)
{
    if (ct == NULL)
        return 0;
    size_t n = 0;
    while (ct[n] && ct[n] != ';' && ct[n] != ' ' && ct[n] != '\t')
        n++;
    return media_is(ct, n, "application/json") || media_is(ct, n, "text/json") ||
           (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

/* The required attributes and the ones with a type to check. */
static void check_event(kumo__ce_event *e, enum kumo__ce_mode mode)
{
    const char *how = mode == KUMO__CE_BINARY ? "header ce-" : "attribute ";
    e->specversion = kumo__ce_attr_get(e, "specversion");
    e->id = kumo__ce_attr_get(e, "id");
    e->source = kumo__ce_attr_get(e, "source");
    e->type = kumo__ce_attr_get(e, "type");
    const char *time = kumo__ce_attr_get(e, "time");
    if (e->specversion == NULL)
        event_error(e, "has no specversion (%sspecversion: 1.0)", how);
    else if (strcmp(e->specversion, "1.0") != 0)
        event_error(e, "specversion '%.40s' is not 1.0; kumo reads CloudEvents 1.0", e->specversion);
    if (e->id == NULL || e->id[0] == '\0')
        event_error(e, "has no id (%sid)", how);
    if (e->source == NULL || e->source[0] == '\0')
        event_error(e, "has no source (%ssource)", how);
    if (e->type == NULL || e->type[0] == '\0')
        event_error(e, "has no type (%stype)", how);
    if (time && !time_ok(time))
        event_error(e, "time '%.60s' is not an RFC 3339 timestamp (2026-12-05T08:00:00Z)", time);
}

/* RFC 4648 base64 with its padding; 0 and *out malloc'd, -1 when `s` is
 * not that. */
static int b64_decode(const char *s, size_t len, char **out, size_t *out_len)
{
    if (len % 4 != 0)
        return -1;
    char *buf = malloc(len / 4 * 3 + 1);
    if (buf == NULL)
        return -1;
    long n = kumo__b64_decode(s, len, KUMO__B64, (unsigned char *)buf);
    if (n < 0) {
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = (size_t)n;
    return 0;
}

static int set_data(kumo__ce_event *e, const char *s, size_t len)
{
    if ((e->data = malloc(len + 1)) == NULL) {
        event_error(e, "cannot be read: out of memory");
        return -1;
    }
    memcpy(e->data, s, len);
    e->data[len] = '\0';
    e->data_len = len;
    return 0;
}

/* One event in the JSON format (structured mode, or a batch's item). */
static void event_from_json(const json_t *o, kumo__ce_event *e)
{
    if (!json_is_object(o)) {
        event_error(e, "is not a JSON object");
        return;
    }
    const char *key;
    json_t *v, *data = NULL, *b64 = NULL;
    json_object_foreach((json_t *)o, key, v)
    {
        size_t klen = strlen(key);
        if (strcmp(key, "data") == 0) {
            data = v;
            continue;
        }
        if (strcmp(key, "data_base64") == 0) {
            b64 = v;
            continue;
        }
        if (!name_ok(key, klen)) {
            event_error(e, "attribute name '%.*s' is not lower-case letters and digits (at most %d)",
                        (int)(klen < 40 ? klen : 40), key, NAME_MAX_LEN);
            return;
        }
        if (json_is_null(v))
            continue; /* the JSON format: null is absent */
        if (strcmp(key, "specversion") == 0 && !json_is_string(v)) {
            event_error(e, "specversion is not the string \"1.0\"");
            return;
        }
        char num[32];
        const char *value;
        size_t vlen;
        if (json_is_string(v)) {
            value = json_string_value(v);
            vlen = json_string_length(v);
        } else if (json_is_integer(v)) {
            vlen = (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            value = num;
        } else if (json_is_boolean(v)) {
            value = json_is_true(v) ? "true" : "false";
            vlen = strlen(value);
        } else {
            event_error(e, "attribute '%s' is %s; an attribute is a string, an integer or a boolean", key,
                        json_is_object(v)  ? "an object"
                        : json_is_array(v) ? "an array"
                                           : "a fraction");
            return;
        }
        if (strcmp(key, "datacontenttype") == 0) {
            if (!json_is_string(v) || !value_ok(value, vlen) || vlen > 255) {
                event_error(e, "datacontenttype is not a media type string");
                return;
            }
            if ((e->content_type = strdup(value)) == NULL) {
                event_error(e, "cannot be read: out of memory");
                return;
            }
            continue;
        }
        if (attr_add(e, key, klen, value, vlen) != 0)
            return;
    }
    if (json_is_null(data))
        data = NULL;
    if (json_is_null(b64))
        b64 = NULL;
    if (data && b64) {
        event_error(e, "has both data and data_base64; send one");
        return;
    }
    if (b64) {
        if (!json_is_string(b64) ||
            b64_decode(json_string_value(b64), json_string_length(b64), &e->data, &e->data_len) != 0) {
            event_error(e, "data_base64 is not base64 (RFC 4648, with padding)");
            return;
        }
        if (e->content_type == NULL && (e->content_type = strdup("application/octet-stream")) == NULL)
            event_error(e, "cannot be read: out of memory");
        return;
    }
    if (data == NULL)
        return;
    if (e->content_type && !media_is_json(e->content_type) && json_is_string(data)) {
        /* text in a JSON string: the data is the text (the JSON format's rule) */
        set_data(e, json_string_value(data), json_string_length(data));
        return;
    }
    char *s = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL) {
        event_error(e, "cannot be read: out of memory");
        return;
    }
    e->data = s;
    e->data_len = strlen(s);
    e->json = json_incref(data);
    if (e->content_type == NULL && (e->content_type = strdup("application/json")) == NULL)
        event_error(e, "cannot be read: out of memory");
}

static void binary_event(const kumo__http_in *in, kumo__ce_event *e)
{
    const char *ct = NULL, *ce_ct = NULL;
    size_t ct_len = 0, ce_ct_len = 0;
    for (size_t i = 0; i < in->nheaders; i++) {
        const kumo__slice *n = &in->headers[i].name, *v = &in->headers[i].value;
        if (n->len == 12 && strncasecmp(n->base, "content-type", 12) == 0 && ct == NULL) {
            ct = v->base;
            ct_len = v->len;
            continue;
        }
        if (n->len < 3 || strncasecmp(n->base, "ce-", 3) != 0)
            continue;
        const char *name = n->base + 3;
        size_t nlen = n->len - 3;
        if (!name_ok(name, nlen)) {
            event_error(e, "header '%.*s' names no CloudEvents attribute (lower-case letters and digits, at most %d)",
                        (int)(n->len < 40 ? n->len : 40), n->base, NAME_MAX_LEN);
            return;
        }
        if (nlen == 15 && memcmp(name, "datacontenttype", 15) == 0) {
            ce_ct = v->base; /* Content-Type is the binding's place for it; this only when that is absent */
            ce_ct_len = v->len;
            continue;
        }
        char buf[KUMO__CE_VALUE_MAX];
        if (v->len > sizeof(buf)) {
            event_error(e, "header '%.*s' has %zu bytes; at most %d are taken", (int)n->len, n->base, v->len,
                        KUMO__CE_VALUE_MAX);
            return;
        }
        ssize_t dlen = kumo__percent_decode_into(v->base, v->len, buf, KUMO__PCT_NO_NUL);
        if (dlen < 0) {
            event_error(e, "header '%.*s' has a malformed percent-escape", (int)n->len, n->base);
            return;
        }
        if (attr_add(e, name, nlen, buf, (size_t)dlen) != 0)
            return;
    }
    if (ct == NULL)
        ct = ce_ct, ct_len = ce_ct_len;
    if (ct && ct_len > 0) {
        if (ct_len > 255 || !value_ok(ct, ct_len)) {
            event_error(e, "Content-Type is not a media type");
            return;
        }
        if ((e->content_type = strndup(ct, ct_len)) == NULL) {
            event_error(e, "cannot be read: out of memory");
            return;
        }
    }
    if (in->body.base && in->body.len > 0) {
        if (set_data(e, in->body.base, in->body.len) != 0)
            return;
        if (e->content_type == NULL && (e->content_type = strdup("application/octet-stream")) == NULL)
            event_error(e, "cannot be read: out of memory");
    }
}

static int why_set(char *why, size_t cap, int status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int why_set(char *why, size_t cap, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return status;
}

int kumo__ce_parse(const kumo__http_in *in, kumo__ce_message *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    why[0] = '\0';
    const char *ct = NULL;
    size_t ct_len = 0;
    int has_specversion = 0;
    for (size_t i = 0; i < in->nheaders; i++) {
        const kumo__slice *n = &in->headers[i].name;
        if (n->len == 12 && strncasecmp(n->base, "content-type", 12) == 0 && ct == NULL)
            ct = in->headers[i].value.base, ct_len = in->headers[i].value.len;
        else if (n->len == 14 && strncasecmp(n->base, "ce-specversion", 14) == 0)
            has_specversion = 1;
    }
    int batch = ct && media_is(ct, ct_len, "application/cloudevents-batch+json");
    int structured = ct && media_is(ct, ct_len, "application/cloudevents+json");
    if (!batch && !structured && ct && ct_len >= 23 && strncasecmp(ct, "application/cloudevents", 23) == 0)
        return why_set(why, why_len, 415,
                       "the event format '%.*s' is not one kumo reads; send application/cloudevents+json, "
                       "application/cloudevents-batch+json, or ce-* headers (binary mode)",
                       (int)(ct_len < 80 ? ct_len : 80), ct);
    if (!batch && !structured && !has_specversion)
        return why_set(why, why_len, 415,
                       "the request is no CloudEvent: send it in binary mode (ce-specversion, ce-id, ce-source and "
                       "ce-type headers, the data as body), as application/cloudevents+json or as "
                       "application/cloudevents-batch+json");
    if (!batch && !structured) {
        out->mode = KUMO__CE_BINARY;
        if ((out->events = calloc(1, sizeof(*out->events))) == NULL)
            return why_set(why, why_len, 503, "out of memory");
        out->n = 1;
        binary_event(in, &out->events[0]);
    } else {
        out->mode = batch ? KUMO__CE_BATCH : KUMO__CE_STRUCTURED;
        json_error_t jerr;
        json_t *doc = json_loadb(in->body.base ? in->body.base : "", in->body.len,
                                 JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (doc == NULL)
            return why_set(why, why_len, 400, "the body is not JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                           jerr.column);
        if (batch && !json_is_array(doc)) {
            json_decref(doc);
            return why_set(why, why_len, 400, "a batch is a JSON array of events; the body is not an array");
        }
        size_t n = batch ? json_array_size(doc) : 1;
        if (n > KUMO__CE_BATCH_MAX) {
            json_decref(doc);
            return why_set(why, why_len, 413, "the batch has %zu events; kumo takes at most %d in one request", n,
                           KUMO__CE_BATCH_MAX);
        }
        if (n > 0 && (out->events = calloc(n, sizeof(*out->events))) == NULL) {
            json_decref(doc);
            return why_set(why, why_len, 503, "out of memory");
        }
        out->n = n;
        for (size_t i = 0; i < n; i++)
            event_from_json(batch ? json_array_get(doc, i) : doc, &out->events[i]);
        json_decref(doc);
    }
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (out->events[i].error[0] == '\0')
            check_event(&out->events[i], out->mode);
        if (out->events[i].error[0] && bad++ == 0)
            first = i;
    }
    if (bad == 0)
        return 0;
    if (out->mode == KUMO__CE_BATCH)
        return why_set(why, why_len, 400, "%zu of the batch's %zu events %s malformed; the first, at index %zu: %s",
                       bad, out->n, bad == 1 ? "is" : "are", first, out->events[first].error);
    return why_set(why, why_len, 400, "the event %s", out->events[0].error);
}

void kumo__ce_message_free(kumo__ce_message *m)
{
    for (size_t i = 0; i < m->n; i++) {
        kumo__ce_event *e = &m->events[i];
        for (size_t k = 0; k < e->nattrs; k++) {
            free(e->attrs[k].name);
            free(e->attrs[k].value);
        }
        free(e->attrs);
        free(e->content_type);
        free(e->data);
        json_decref(e->json);
    }
    free(m->events);
    memset(m, 0, sizeof(*m));
}

/* ---- one request's exchange ------------------------------------------------- */

/* A problem document (RFC 9457) as kumo's other answers: type, title,
 * status, detail, instance, request_id; the caller adds members. */
static json_t *problem_doc(int status, const char *detail, const char *request_id)
{
    json_t *doc = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", "about:blank", "title", kumo__http_reason(status),
                            "status", status, "detail", detail ? detail : "", "instance", KUMO__CE_PATH);
    if (doc && request_id)
        json_object_set_new(doc, "request_id", json_string(request_id));
    return doc;
}

static void answer_doc(kumo__ce_exchange *x, int status, json_t *doc, const char *content_type)
{
    x->status = status;
    free(x->body);
    x->body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    x->body_len = x->body ? strlen(x->body) : 0;
    x->content_type = x->body ? content_type : NULL;
    if (status == 429 || status == 503)
        x->retry_after = "1";
    json_decref(doc);
}

static void answer_problem(kumo__ce_exchange *x, int status, const char *detail, const char *request_id)
{
    answer_doc(x, status, problem_doc(status, detail, request_id), "application/problem+json");
}

static kumo__ce_delivery *add_delivery(kumo__ce_exchange *x, size_t event, const kumo__event_decl *decl, size_t *cap)
{
    if (x->nd == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        kumo__ce_delivery *nd = realloc(x->d, ncap * sizeof(*nd));
        if (nd == NULL)
            return NULL;
        x->d = nd;
        *cap = ncap;
    }
    kumo__ce_delivery *d = &x->d[x->nd++];
    memset(d, 0, sizeof(*d));
    d->event = event;
    d->decl = decl;
    d->violations.limit = 20;
    return d;
}

static void fail(kumo__ce_delivery *d, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(kumo__ce_delivery *d, int status, const char *fmt, ...)
{
    d->status = status;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&d->detail, fmt, ap) < 0)
        d->detail = NULL;
    va_end(ap);
}

/* The data of e against route r's data: schema; sets d failed (400) when
 * it does not hold. */
static void validate(kumo__ce_event *e, const ce_route *r, kumo__ce_delivery *d)
{
    const kumo__event_decl *decl = r->decl;
    if (e->json == NULL) {
        if (e->data == NULL) {
            fail(d, 400, "the event has no data; event '%s' takes data matching %s", decl->name, decl->data);
            return;
        }
        if (e->content_type && !media_is_json(e->content_type)) {
            fail(d, 400, "the event's data is %.80s; event '%s' takes JSON matching %s", e->content_type, decl->name,
                 decl->data);
            return;
        }
        json_error_t jerr;
        if ((e->json = json_loadb(e->data, e->data_len, JSON_DECODE_ANY, &jerr)) == NULL) {
            fail(d, 400, "the event's data is not JSON (%s, line %d, column %d); event '%s' takes JSON matching %s",
                 jerr.text, jerr.line, jerr.column, decl->name, decl->data);
            return;
        }
    }
    int rc = kumo__schema_validate(r->schema, e->json, KUMO__DIR_REQUEST, &d->violations);
    if (rc < 0)
        fail(d, 503, "out of memory while checking the event's data");
    else if (rc > 0)
        fail(d, 400, "the event's data breaks the schema of event '%s' (data: %s) in %zu place%s%s", decl->name,
             decl->data, d->violations.count, d->violations.count == 1 ? "" : "s",
             d->violations.truncated ? " (more not listed)" : "");
}

static char *header_copy(const kumo__http_in *in, const char *name)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < in->nheaders; i++)
        if (in->headers[i].name.len == nlen && strncasecmp(in->headers[i].name.base, name, nlen) == 0)
            return strndup(in->headers[i].value.base, in->headers[i].value.len);
    return NULL;
}

size_t kumo__ce_begin(const kumo__ce_routes *routes, const kumo__http_in *in, const char *request_id,
                      kumo__ce_exchange *x)
{
    char why[600];
    memset(x, 0, sizeof(*x));
    x->routes = routes;
    if (in->method.len == 7 && memcmp(in->method.base, "OPTIONS", 7) == 0) {
        /* The CloudEvents webhook spec's abuse protection (Azure Event
         * Grid's handshake): a sender asks with WebHook-Request-Origin and
         * may deliver once its origin is allowed back. The endpoint takes
         * events from anyone who reaches it, so any origin is. */
        x->status = 204;
        x->allow = "POST, OPTIONS";
        char *origin = header_copy(in, "webhook-request-origin");
        if (origin && routes && strlen(origin) <= 255) {
            x->status = 200;
            x->webhook_origin = origin;
        } else {
            free(origin);
        }
        return 0;
    }
    if (!(in->method.len == 4 && memcmp(in->method.base, "POST", 4) == 0)) {
        x->allow = "POST, OPTIONS";
        snprintf(why, sizeof(why), "%.*s is not defined for %s; CloudEvents are POSTed", (int)(in->method.len & 15),
                 in->method.base, KUMO__CE_PATH);
        answer_problem(x, 405, why, request_id);
        return 0;
    }
    if (routes == NULL) {
        answer_problem(x, 404,
                       "this project takes no CloudEvents: its kumo.yaml declares no event with cloudevent: "
                       "{type: ...}",
                       request_id);
        return 0;
    }
    if (in->body.len > routes->max_body) {
        snprintf(why, sizeof(why),
                 "the body has %zu bytes; the limit is %zu (the largest max_body of the units "
                 "taking CloudEvents)",
                 in->body.len, routes->max_body);
        answer_problem(x, 413, why, request_id);
        return 0;
    }
    int rc = kumo__ce_parse(in, &x->msg, why, sizeof(why));
    if (rc != 0) {
        json_t *doc = problem_doc(rc, why, request_id);
        if (rc == 400 && doc && x->msg.n > 0) {
            /* every malformed event, by its index in the request */
            json_t *errors = json_array();
            for (size_t i = 0; i < x->msg.n; i++)
                if (x->msg.events[i].error[0])
                    json_array_append_new(
                        errors, json_pack("{s:I, s:s}", "index", (json_int_t)i, "message", x->msg.events[i].error));
            json_object_set_new(doc, "errors", errors);
        }
        answer_doc(x, rc, doc, "application/problem+json");
        return 0;
    }
    x->traceparent = header_copy(in, "traceparent");
    x->tracestate = header_copy(in, "tracestate");
    x->authorization = header_copy(in, "authorization");
    size_t cap = 0;
    for (size_t k = 0; k < x->msg.n; k++) {
        kumo__ce_event *e = &x->msg.events[k];
        size_t matched = 0;
        for (size_t r = 0; r < routes->n; r++) {
            const ce_route *cr = &routes->list[r];
            const kumo__event_decl *decl = cr->decl;
            if (strcmp(decl->ce_type, e->type) != 0 || (decl->ce_source && strcmp(decl->ce_source, e->source) != 0))
                continue;
            kumo__ce_delivery *d = add_delivery(x, k, decl, &cap);
            if (d == NULL)
                goto oom;
            matched++;
            size_t max_body = routes->project->units[decl->unit_index].tuning.max_body;
            if (e->data_len > max_body)
                fail(d, 413, "the event's data has %zu bytes; function unit '%s' (event '%s') takes at most %zu",
                     e->data_len, decl->unit, decl->name, max_body);
            else if (cr->schema)
                validate(e, cr, d);
            if (d->status == 0)
                x->pending++;
        }
        if (matched == 0) {
            kumo__ce_delivery *d = add_delivery(x, k, NULL, &cap);
            if (d == NULL)
                goto oom;
            fail(d, 404, "no event of this project takes type '%.200s' from source '%.200s'; it takes: %s", e->type,
                 e->source, routes->accepts);
        }
    }
    if (x->pending == 0)
        kumo__ce_finish(x, request_id);
    return x->pending;
oom:
    x->pending = 0;
    answer_problem(x, 503, "out of memory", request_id);
    return 0;
}

void kumo__ce_trace_of(const kumo__ce_exchange *x, size_t i, const char **traceparent, const char **tracestate)
{
    const kumo__ce_event *e = &x->msg.events[x->d[i].event];
    const char *tp = kumo__ce_attr_get(e, "traceparent");
    *tracestate = tp ? kumo__ce_attr_get(e, "tracestate") : x->tracestate;
    *traceparent = tp ? tp : x->traceparent;
}

int kumo__ce_frame(const kumo__ce_exchange *x, size_t i, const char *request_id, uint64_t now_epoch_ms,
                   kumo__frame_writer *w)
{
    return kumo__ce_frame_traced(x, i, request_id, now_epoch_ms, NULL, NULL, w);
}

int kumo__ce_frame_traced(const kumo__ce_exchange *x, size_t i, const char *request_id, uint64_t now_epoch_ms,
                          const char *traceparent, const char *tracestate, kumo__frame_writer *w)
{
    const kumo__ce_delivery *d = &x->d[i];
    const kumo__ce_event *e = &x->msg.events[d->event];
    const kumo__event_decl *decl = d->decl;
    kumo__header_view h[KUMO__CE_ATTRS_MAX + 5];
    char names[KUMO__CE_ATTRS_MAX][NAME_MAX_LEN + 4];
    char trace[64];
    size_t n = 0;
    for (size_t k = 0; k < e->nattrs; k++) {
        int len = snprintf(names[k], sizeof(names[k]), "ce-%s", e->attrs[k].name);
        h[n++] = (kumo__header_view){{names[k], (size_t)len}, {e->attrs[k].value, strlen(e->attrs[k].value)}};
    }
    if (e->content_type)
        h[n++] = (kumo__header_view){{"content-type", 12}, {e->content_type, strlen(e->content_type)}};
    /* the producer's trace: the event's distributed-tracing extension, else
     * the request's header, else a new one */
    const char *tp = traceparent, *ts = tracestate;
    if (tp == NULL)
        kumo__ce_trace_of(x, i, &tp, &ts);
    if (tp == NULL) {
        uint8_t trace_id[16], span_id[8];
        kumo__trace_new_trace_id(trace_id);
        kumo__trace_new_span_id(span_id);
        kumo__traceparent_format(trace_id, span_id, KUMO__TRACE_SAMPLED, trace);
        tp = trace;
    }
    h[n++] = (kumo__header_view){{"traceparent", 11}, {tp, strlen(tp)}};
    if (ts)
        h[n++] = (kumo__header_view){{"tracestate", 10}, {ts, strlen(ts)}};
    if (x->authorization)
        h[n++] = (kumo__header_view){{"authorization", 13}, {x->authorization, strlen(x->authorization)}};
    char path[300];
    snprintf(path, sizeof(path), "/%s", decl->name);
    const kumo__tuning *tuning = &x->routes->project->units[decl->unit_index].tuning;
    uint64_t timeout_ms = (uint64_t)(tuning->timeout_s * 1000.0);
    return kumo__dispatch_event(decl->symbol, path, request_id, h, n, (kumo__slice){e->data, e->data_len}, now_epoch_ms,
                                timeout_ms, w);
}

void kumo__ce_settle(kumo__ce_exchange *x, size_t i, int status, const char *error, size_t error_len)
{
    if (i >= x->nd || x->d[i].status != 0)
        return;
    kumo__ce_delivery *d = &x->d[i];
    const kumo__event_decl *decl = d->decl;
    x->pending--;
    if (status >= 200 && status < 300) {
        d->status = 202;
        return;
    }
    int shown = (int)(error_len < 500 ? error_len : 500);
    const char *what = status == 504   ? "timed out"
                       : status == 429 ? "is at its concurrency limit"
                       : status == 503 ? "is unavailable"
                                       : "failed";
    if (status < 400) {
        fail(d, 502, "event '%s': handler %s.%s answered %d, not 2xx", decl->name, decl->unit, decl->symbol, status);
        return;
    }
    fail(d, status, "event '%s': handler %s.%s %s (%d)%s%.*s", decl->name, decl->unit, decl->symbol, what, status,
         shown ? ": " : "", shown, error ? error : "");
}

void kumo__ce_settle_response(kumo__ce_exchange *x, size_t i, const char *payload, size_t len)
{
    const char *error;
    size_t error_len;
    int status = kumo__gw_event_outcome(KUMO__CALL_OK, payload, len, 300, &error, &error_len);
    kumo__ce_settle(x, i, status, error, error_len);
}

static json_t *violations_json(const kumo__violations *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < v->count; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "pointer", v->items[i].instance, "schema",
                                           v->items[i].schema, "message", v->items[i].message));
    return a;
}

/* The worst delivery of event k: the highest status (202 when all were
 * handled). */
static const kumo__ce_delivery *worst_of(const kumo__ce_exchange *x, size_t k)
{
    const kumo__ce_delivery *w = NULL;
    for (size_t i = 0; i < x->nd; i++)
        if (x->d[i].event == k && (w == NULL || x->d[i].status > w->status))
            w = &x->d[i];
    return w;
}

void kumo__ce_finish(kumo__ce_exchange *x, const char *request_id)
{
    if (x->status != 0)
        return; /* answered already (kumo__ce_begin) */
    if (x->msg.mode != KUMO__CE_BATCH) {
        const kumo__ce_delivery *w = worst_of(x, 0);
        if (w == NULL || w->status == 202) {
            x->status = 202;
            return;
        }
        json_t *doc = problem_doc(w->status, w->detail, request_id);
        if (doc && w->violations.count)
            json_object_set_new(doc, "errors", violations_json(&w->violations));
        answer_doc(x, w->status, doc, "application/problem+json");
        return;
    }
    /* a batch: each event's id and status; 200 when every one was
     * handled, else the worst status, as a problem */
    json_t *list = json_array();
    int worst = 202;
    size_t failed = 0;
    for (size_t k = 0; k < x->msg.n; k++) {
        const kumo__ce_delivery *w = worst_of(x, k);
        int status = w ? w->status : 202;
        json_t *item = json_pack("{s:s, s:i}", "id", x->msg.events[k].id, "status", status);
        if (item && w && w->status != 202) {
            json_object_set_new(item, "detail", json_string(w->detail ? w->detail : ""));
            if (w->violations.count)
                json_object_set_new(item, "errors", violations_json(&w->violations));
        }
        json_array_append_new(list, item);
        if (status > worst)
            worst = status;
        failed += status != 202;
    }
    if (failed == 0) {
        answer_doc(x, 200, json_pack("{s:o}", "events", list), "application/json");
        return;
    }
    char detail[160];
    snprintf(detail, sizeof(detail), "%zu of the batch's %zu events %s not handled; each event's status is in events",
             failed, x->msg.n, failed == 1 ? "was" : "were");
    json_t *doc = problem_doc(worst, detail, request_id);
    if (doc)
        json_object_set_new(doc, "events", list);
    else
        json_decref(list);
    answer_doc(x, worst, doc, "application/problem+json");
}

void kumo__ce_exchange_free(kumo__ce_exchange *x)
{
    for (size_t i = 0; i < x->nd; i++) {
        free(x->d[i].detail);
        kumo__violations_free(&x->d[i].violations);
    }
    free(x->d);
    kumo__ce_message_free(&x->msg);
    free(x->traceparent);
    free(x->tracestate);
    free(x->authorization);
    free(x->webhook_origin);
    free(x->body);
    memset(x, 0, sizeof(*x));
}

/* ---- kumo up: through the pools ---------------------------------------------- */

#define CE_WINDOW 8 /* calls of one request in flight at once */

typedef struct ce_req ce_req;

typedef struct ce_call {
    kumo__call call; /* first: the pool hands this pointer back */
    ce_req *r;
    size_t i; /* the delivery */
    uint64_t start_us;
    char request_id[64];
    kumo__span_ctx span; /* continues the producer's trace (tracing.c) */
} ce_call;

struct ce_req {
    h2o_req_t *req; /* NULL once the client went away */
    ce_req **slot;  /* in the request's pool: cleared when this is freed */
    loop_thread *t;
    loop_gen *lg; /* counted in lg->users while calls are in flight */
    kumo__ce_exchange x;
    ce_call *calls;  /* one per delivery */
    size_t next;     /* the next delivery to submit */
    size_t inflight; /* calls in flight, at most CE_WINDOW */
    uint64_t start_us;
    pid_t worker_pid;
    char request_id[48];
};

static void on_req_dispose(void *p)
{
    ce_req **slot = p;
    if (*slot)
        (*slot)->req = NULL;
}

static void event_log(const ce_req *r, const ce_call *c)
{
    const kumo__ce_delivery *d = &r->x.d[c->i];
    kumo__logline l;
    kumo__logline_begin(&l, d->status < 500 ? "info" : d->status == 503 ? "warn" : "error", "event", 5);
    kumo__logline_cstr(&l, "event", d->decl->name);
    kumo__logline_cstr(&l, "request_id", c->request_id);
    kumo__logline_cstr(&l, "ce_id", r->x.msg.events[d->event].id);
    kumo__logline_cstr(&l, "ce_type", r->x.msg.events[d->event].type);
    kumo__logline_int(&l, "status", d->status);
    kumo__logline_int(&l, "duration_us", (long long)(kumo__mono_us() - c->start_us));
    if (c->call.worker_pid > 0)
        kumo__logline_int(&l, "worker_pid", c->call.worker_pid);
    if (d->status != 202 && d->detail)
        kumo__logline_cstr(&l, "error", d->detail);
    kumo__logline_write(&l, 2);
}

/* Every delivery settled: the answer, the access line, and r is freed. */
static void respond(ce_req *r)
{
    kumo__ce_finish(&r->x, r->request_id);
    int status = r->x.status;
    h2o_req_t *req = r->req;
    if (req) {
        *r->slot = NULL;
        if (atomic_load_explicit(&r->t->gw->draining, memory_order_relaxed))
            req->http1_is_persistent = 0;
        req->res.status = status;
        req->res.reason = kumo__http_reason(status);
        if (r->x.allow)
            kumo__h2o_add_header(req, H2O_STRLIT("allow"), r->x.allow, strlen(r->x.allow));
        if (r->x.retry_after)
            kumo__h2o_add_header(req, H2O_STRLIT("retry-after"), r->x.retry_after, strlen(r->x.retry_after));
        if (r->x.content_type)
            kumo__h2o_add_header(req, H2O_STRLIT("content-type"), r->x.content_type, strlen(r->x.content_type));
        if (r->x.webhook_origin) {
            kumo__h2o_copy_header(req, H2O_STRLIT("webhook-allowed-origin"), r->x.webhook_origin,
                                  strlen(r->x.webhook_origin));
            kumo__h2o_add_header(req, H2O_STRLIT("webhook-allowed-rate"), H2O_STRLIT("*"));
        }
        kumo__h2o_copy_header(req, H2O_STRLIT("x-request-id"), r->request_id, strlen(r->request_id));
        kumo__send_body(req, r->x.body ? r->x.body : "", r->x.body_len);
    } else {
        status = 499; /* the client went away first */
    }
    kumo__access_log(r->request_id, "POST", KUMO__CE_PATH, sizeof(KUMO__CE_PATH) - 1, NULL, status,
                     kumo__mono_us() - r->start_us, r->worker_pid, NULL, NULL);
    if (r->calls)
        r->lg->users--;
    free(r->calls);
    kumo__ce_exchange_free(&r->x);
    free(r);
}

static void on_call_done(kumo__call *call, enum kumo__call_result result, const char *payload, size_t len);

/* Submits the request's next deliveries while fewer than CE_WINDOW of its
 * calls are in flight: a batch of 100 events does not fill the unit's
 * pool queue at once (its calls beyond would be refused with 429). A
 * delivery that cannot be submitted is settled on the spot. */
static void submit_more(ce_req *r)
{
    loop_gen *lg = r->lg;
    while (r->inflight < CE_WINDOW && r->next < r->x.nd) {
        size_t i = r->next++;
        if (r->x.d[i].status != 0)
            continue;
        ce_call *c = &r->calls[i];
        const kumo__event_decl *decl = r->x.d[i].decl;
        c->r = r;
        c->i = i;
        c->start_us = kumo__mono_us();
        if (r->x.nd == 1)
            snprintf(c->request_id, sizeof(c->request_id), "%s", r->request_id);
        else
            snprintf(c->request_id, sizeof(c->request_id), "%s.%zu", r->request_id, i);
        kumo__pool *pool = lg->pools ? lg->pools[decl->unit_index] : NULL;
        if (pool == NULL) {
            static const char gone[] = "the function's pool is not running";
            kumo__ce_settle(&r->x, i, 503, gone, sizeof(gone) - 1);
            continue;
        }
        const char *tp, *ts;
        kumo__ce_trace_of(&r->x, i, &tp, &ts);
        kumo__gw_trace_event_begin(r->t->gw, &c->span, tp, ts, decl->symbol);
        if (kumo__ce_frame_traced(&r->x, i, c->request_id, kumo__epoch_ms(), c->span.traceparent,
                                  c->span.tracestate[0] ? c->span.tracestate : NULL, &c->call.frame) != 0) {
            static const char big[] = "the event's request is larger than the frame limit";
            kumo__ce_settle(&r->x, i, 413, big, sizeof(big) - 1);
            continue;
        }
        const kumo__tuning *tuning = &lg->gen->project->units[decl->unit_index].tuning;
        uint64_t timeout_ms = (uint64_t)(tuning->timeout_s * 1000.0);
        c->call.cb = on_call_done;
        c->call.deadline_ms = timeout_ms ? kumo__mono_ms() + timeout_ms : 0;
        char why[400];
        int rc = kumo__pool_submit(pool, &c->call, why, sizeof(why));
        if (rc != 0) {
            kumo__frame_writer_free(&c->call.frame);
            kumo__ce_settle(&r->x, i, rc == -EBUSY ? 429 : 503, why, strlen(why));
            continue;
        }
        r->t->inflight++;
        r->inflight++;
    }
}

static void on_call_done(kumo__call *call, enum kumo__call_result result, const char *payload, size_t len)
{
    ce_call *c = (ce_call *)call;
    ce_req *r = c->r;
    const char *error;
    size_t error_len;
    r->t->inflight--;
    int status = kumo__gw_event_outcome(result, payload, len, 300, &error, &error_len);
    kumo__ce_settle(&r->x, c->i, status, error, error_len);
    const kumo__event_decl *decl = r->x.d[c->i].decl;
    if (r->lg->pools && r->lg->pools[decl->unit_index])
        kumo__pool_record(r->lg->pools[decl->unit_index], kumo__mono_us() - c->start_us, status >= 500,
                          kumo__mono_ms());
    kumo__gw_trace_store_calls(r->t->gw, &c->span, result, payload, len);
    kumo__gw_observe_event(r->t, r->lg->gen, decl->name, &c->call, result, status, c->start_us, c->request_id,
                           &c->span);
    if (c->call.worker_pid > 0)
        r->worker_pid = c->call.worker_pid;
    event_log(r, c);
    kumo__frame_writer_free(&c->call.frame);
    r->inflight--;
    submit_more(r);
    if (r->inflight == 0)
        respond(r); /* submit_more stops short only with calls in flight: none left means all settled */
}

void kumo__gw_cloudevents(loop_thread *t, loop_gen *lg, h2o_req_t *req, const kumo__http_in *in, const char *request_id,
                          uint64_t start_us)
{
    ce_req *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        kumo__send_problem(req, 503, "Service Unavailable", "out of memory", request_id, "1");
        kumo__access_log(request_id, "POST", KUMO__CE_PATH, sizeof(KUMO__CE_PATH) - 1, NULL, 503,
                         kumo__mono_us() - start_us, 0, NULL, NULL);
        return;
    }
    r->req = req;
    r->t = t;
    r->lg = lg;
    r->start_us = start_us;
    snprintf(r->request_id, sizeof(r->request_id), "%s", request_id);
    r->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*r->slot), on_req_dispose);
    *r->slot = r;
    size_t pending = kumo__ce_begin(lg->gen->ce, in, request_id, &r->x);
    if (pending == 0 || (r->calls = calloc(r->x.nd, sizeof(*r->calls))) == NULL) {
        if (pending)
            for (size_t i = 0; i < r->x.nd; i++)
                kumo__ce_settle(&r->x, i, 503, "out of memory", 13);
        respond(r);
        return;
    }
    lg->users++;
    submit_more(r);
    if (r->inflight == 0)
        respond(r);
}
