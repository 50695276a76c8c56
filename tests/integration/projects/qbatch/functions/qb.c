/*
 * qb.c: the handlers of tests/integration/test_queue_batch.py.
 * send (POST /send?queue=Q[&gap_ms=N]) puts one message per string of the
 * JSON array body on Q, N ms apart ("hex:..." strings are those bytes);
 * batch (fired by the queue events orders and gather) records each call
 * in the kv store "seen" under "call/REQUEST-ID": its content-type and
 * kumo-batch-size headers and every event as kumo_event_at reads it (data
 * as text when UTF-8, else as hex); then, by the data of the events:
 *   "fail..."      kumo_event_fail(res, its id): only it comes back;
 *   "unknown..."   kumo_event_fail(res, "no-such-id"): the whole call fails;
 *   "crash..."     abort(): the whole call fails;
 *   "status500..." answers 500: the whole call fails.
 * list_seen answers GET /seen with every record.
 */
#include <kumo.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int send(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *queue = kumo_request_query(req, "queue"), *gap = kumo_request_query(req, "gap_ms");
    json_t *list = kumo_request_json(req), *ids = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        char *body = kumo_alloc(ctx, len + 1);
        if (strncmp(s, "hex:", 4) == 0) {
            len = 0;
            for (const char *p = s + 4; p[0] && p[1]; p += 2)
                body[len++] = (char)(hexval(p[0]) << 4 | hexval(p[1]));
        } else {
            memcpy(body, s, len);
        }
        if (i > 0 && gap)
            usleep((useconds_t)atoi(gap) * 1000);
        const char *id = NULL;
        int rc = kumo_queue_send(ctx, queue, body, len, 0, &id);
        if (rc != 0) {
            json_decref(ids);
            return rc;
        }
        json_array_append_new(ids, json_string(id));
    }
    return kumo_response_json(res, 200, ids);
}

static json_t *data_json(const kumo_event *ev)
{
    json_t *s = json_stringn(ev->data, ev->len);
    if (s)
        return json_pack("{s:o}", "text", s);
    static const char hex[] = "0123456789abcdef";
    char *h = malloc(ev->len * 2 + 1);
    const unsigned char *d = ev->data;
    for (size_t i = 0; i < ev->len; i++) {
        h[2 * i] = hex[d[i] >> 4];
        h[2 * i + 1] = hex[d[i] & 15];
    }
    h[ev->len * 2] = '\0';
    json_t *o = json_pack("{s:s}", "hex", h);
    free(h);
    return o;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static int starts(const kumo_event *ev, const char *prefix)
{
    size_t n = strlen(prefix);
    return ev->len >= n && memcmp(ev->data, prefix, n) == 0;
}

int batch(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    json_t *events = json_array();
    size_t n = kumo_event_count(req);
    int crash = 0, status500 = 0;
    for (size_t i = 0; i < n; i++) {
        kumo_event ev;
        if (kumo_event_at(req, i, &ev) != 0)
            return -1;
        json_array_append_new(events, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i}", "id", str_or_null(ev.id),
                                                "type", str_or_null(ev.type), "source", str_or_null(ev.source),
                                                "subject", str_or_null(ev.subject), "time", str_or_null(ev.time),
                                                "content_type", str_or_null(ev.content_type), "data", data_json(&ev),
                                                "receives", (int)ev.receives));
        if (starts(&ev, "fail"))
            kumo_event_fail(res, ev.id);
        else if (starts(&ev, "unknown"))
            kumo_event_fail(res, "no-such-id");
        else if (starts(&ev, "crash"))
            crash = 1;
        else if (starts(&ev, "status500"))
            status500 = 1;
    }
    const char *ct = kumo_request_header(req, "content-type"), *size = kumo_request_header(req, "kumo-batch-size");
    json_t *doc = json_pack("{s:s, s:o, s:o, s:o, s:o}", "request_id", kumo_ctx_request_id(ctx), "content_type",
                            str_or_null(ct), "batch_size", str_or_null(size), "traceparent",
                            str_or_null(kumo_request_header(req, "traceparent")), "events", events);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        return -1;
    const char *key = kumo_sprintf(ctx, "call/%s", kumo_ctx_request_id(ctx));
    int rc = kumo_kv_put(ctx, "seen", key, text, strlen(text));
    free(text);
    if (rc != 0)
        return rc;
    if (crash)
        abort();
    if (status500)
        return kumo_response_problem(res, 500, "Marked to fail", "an event's data starts with status500");
    return 0;
}

int list_seen(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)req;
    json_t *all = json_array();
    const char *cursor = NULL;
    do {
        kumo_kv_page page;
        int rc = kumo_kv_list(ctx, "seen", "", cursor, 1000, 1, &page);
        if (rc != 0) {
            json_decref(all);
            return rc;
        }
        for (size_t i = 0; i < page.count; i++) {
            json_t *doc = json_loadb(page.items[i].value, page.items[i].len, 0, NULL);
            if (doc)
                json_array_append_new(all, doc);
        }
        cursor = page.next;
    } while (cursor);
    return kumo_response_json(res, 200, all);
}
