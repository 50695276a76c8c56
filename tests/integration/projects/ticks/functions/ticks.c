/*
 * ticks.c: handlers fired by schedule events (tests/integration/
 * test_schedule.py, bench/schedule.py). record and slow store what they
 * received in the kv store "ticks" under "EVENT/PLANNED/ID" (so a planned
 * time fired twice shows as two keys): the ce-* headers, the body, the
 * worker's pid and the real-time clock at entry (and, for slow, at exit,
 * after 2.5 s; slow also records "started/ID" at entry, so a test sees a
 * run going). list_ticks answers GET /ticks with every record.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <kumo.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static json_t *received(const kumo_request *req, int64_t entry_us)
{
    json_t *headers = json_object();
    const char *name, *value;
    for (size_t i = 0; kumo_request_header_at(req, i, &name, &value); i++)
        if (strncmp(name, "ce-", 3) == 0 || strcmp(name, "content-type") == 0)
            json_object_set_new(headers, name, json_string(value));
    size_t len;
    const char *body = kumo_request_body(req, &len);
    const char *type = kumo_event_type(req);
    return json_pack("{s:o, s:s%, s:I, s:i, s:s, s:s, s:s}", "headers", headers, "body", body, len, "entry_us",
                     (json_int_t)entry_us, "pid", (int)getpid(), "method", kumo_request_method(req), "path",
                     kumo_request_path(req), "sdk_type", type ? type : "");
}

static int store(kumo_ctx *ctx, const kumo_request *req, kumo_response *res, json_t *doc)
{
    const char *subject = kumo_event_subject(req), *time = kumo_event_time(req), *id = kumo_event_id(req);
    if (subject == NULL || time == NULL || id == NULL) {
        json_decref(doc);
        return kumo_response_problem(res, 400, "Not an event", "this handler is fired by schedule events");
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        return -1;
    int rc = kumo_kv_put(ctx, "ticks", kumo_sprintf(ctx, "%s/%s/%s", subject, time, id), text, strlen(text));
    free(text);
    if (rc != 0)
        return rc;
    kumo_response_status(res, 204);
    return 0;
}

int record(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    int64_t entry = now_us();
    return store(ctx, req, res, received(req, entry));
}

int slow(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    int64_t entry = now_us();
    json_t *at_entry = received(req, entry);
    char *started = json_dumps(at_entry, JSON_COMPACT);
    json_decref(at_entry);
    const char *id = kumo_event_id(req);
    if (started == NULL || id == NULL)
        return -1;
    int rc = kumo_kv_put(ctx, "ticks", kumo_sprintf(ctx, "started/%s", id), started, strlen(started));
    free(started);
    if (rc != 0)
        return rc;
    usleep(2500 * 1000);
    json_t *doc = received(req, entry);
    json_object_set_new(doc, "exit_us", json_integer((json_int_t)now_us()));
    return store(ctx, req, res, doc);
}

int list_ticks(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)req;
    json_t *all = json_array();
    const char *cursor = NULL;
    do {
        kumo_kv_page page;
        int rc = kumo_kv_list(ctx, "ticks", "", cursor, 1000, 1, &page);
        if (rc != 0) {
            json_decref(all);
            return rc;
        }
        for (size_t i = 0; i < page.count; i++) {
            json_t *doc = json_loadb(page.items[i].value, page.items[i].len, 0, NULL);
            if (doc) {
                json_object_set_new(doc, "key", json_string(page.items[i].key));
                json_array_append_new(all, doc);
            }
        }
        cursor = page.next;
    } while (cursor);
    return kumo_response_json(res, 200, all);
}
