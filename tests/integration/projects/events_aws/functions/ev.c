/*
 * ev.c: the handlers of tests/integration/test_events_aws.py, the same
 * under kumo up and under kumo emulate lambda. record (queue, topic, blob
 * events and ticks) keeps each call in the kv store "seen" under
 * "EVENT|WHAT" (WHAT: the body for a message, the key for a blob event,
 * "tick" for a tick) with its CloudEvents headers and body; a message body
 * starting with "fail" is answered 500 after being recorded. batch (a
 * batch-mode call) records each structured event of the array under
 * "EVENT|DATA" and reports those whose data has "fail": true in
 * batchItemFailures. send, put_file, del_file and list_seen are the HTTP
 * operations.
 */
#include <kumo.h>

#include <stdlib.h>
#include <string.h>

static int put(kumo_ctx *ctx, const char *key, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    if (text == NULL)
        return -1;
    int rc = kumo_kv_put(ctx, "seen", key, text, strlen(text));
    free(text);
    return rc;
}

int record(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    size_t len;
    const char *body = kumo_request_body(req, &len);
    const char *type = kumo_event_type(req);
    const char *what = type && strncmp(type, "dev.kumo.blob.", 14) == 0 ? kumo_event_subject(req)
                       : type && strcmp(type, "dev.kumo.schedule.tick") == 0
                           ? "tick"
                           : kumo_sprintf(ctx, "%.*s", (int)len, body ? body : "");
    json_t *headers = json_object();
    const char *name, *value;
    for (size_t i = 0; kumo_request_header_at(req, i, &name, &value); i++)
        if (strncmp(name, "ce-", 3) == 0 || strcmp(name, "content-type") == 0 || strncmp(name, "kumo-", 5) == 0 ||
            strcmp(name, "traceparent") == 0)
            json_object_set_new(headers, name, json_string(value));
    json_t *doc = json_pack("{s:o, s:s%, s:s}", "headers", headers, "body", body ? body : "", len, "path",
                            kumo_request_path(req));
    const char *key = kumo_sprintf(ctx, "%s|%s", kumo_request_path(req) + 1, what ? what : "?");
    int rc = put(ctx, key, doc);
    if (rc != 0)
        return rc;
    if (len >= 4 && strncmp(body, "fail", 4) == 0)
        return kumo_response_problem(res, 500, "Marked to fail", "the body starts with fail");
    kumo_response_status(res, 204);
    return 0;
}

int batch(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    size_t len;
    const char *body = kumo_request_body(req, &len);
    json_t *arr = json_loadb(body ? body : "", len, 0, NULL);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return kumo_response_problem(res, 400, "Not a batch", kumo_request_header(req, "content-type"));
    }
    json_t *failures = json_array();
    size_t i;
    json_t *ev;
    json_array_foreach(arr, i, ev)
    {
        json_t *data = json_object_get(ev, "data");
        char *text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        const char *key = kumo_sprintf(ctx, "%s|%s", kumo_request_path(req) + 1, text ? text : "?");
        free(text);
        json_t *doc = json_pack("{s:O, s:s, s:s}", "event", ev, "content-type",
                                kumo_request_header(req, "content-type"), "batch-size",
                                kumo_request_header(req, "kumo-batch-size") ? kumo_request_header(req, "kumo-batch-size")
                                                                            : "");
        if (put(ctx, key, doc) != 0) {
            json_decref(arr);
            json_decref(failures);
            return -1;
        }
        if (json_is_true(json_object_get(data, "fail")))
            json_array_append_new(failures, json_pack("{s:O}", "itemIdentifier", json_object_get(ev, "id")));
    }
    json_decref(arr);
    return kumo_response_json(res, 200, json_pack("{s:o}", "batchItemFailures", failures));
}

int send(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *q = kumo_request_query(req, "queue"), *b = kumo_request_query(req, "body"), *id = NULL;
    int rc = kumo_queue_send(ctx, q, b, strlen(b), 0, &id);
    if (rc != 0)
        return rc;
    return kumo_response_json(res, 200, json_pack("{s:s}", "id", id ? id : ""));
}

int put_file(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    size_t len;
    const void *body = kumo_request_body(req, &len);
    int rc = kumo_blob_put(ctx, "files", kumo_request_param(req, "key"), body ? body : "", len,
                           kumo_request_header(req, "content-type"));
    if (rc != 0)
        return rc;
    kumo_response_status(res, 204);
    return 0;
}

int del_file(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    int rc = kumo_blob_delete(ctx, "files", kumo_request_param(req, "key"));
    if (rc != 0)
        return rc;
    kumo_response_status(res, 204);
    return 0;
}

int list_seen(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)req;
    json_t *all = json_object();
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
                json_object_set_new(all, page.items[i].key, doc);
        }
        cursor = page.next;
    } while (cursor);
    return kumo_response_json(res, 200, all);
}
