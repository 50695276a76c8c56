/*
 * pushed.c: the handlers of tests/integration/test_events_targets.py.
 * send (POST /send?body=B) puts B on the queue "jobs". record (fired by every event) keeps each delivery in the kv store
 * "seen" under its ce-id, with its ce-*, content-type, traceparent and
 * kumo-* headers, its path and its body; a body starting with "fail" is
 * recorded and then answered 500. list_seen answers GET /seen;
 * work_http answers POST /work, an API path that is also the Azure
 * function name of the event "work".
 */
#include <kumo.h>

#include <stdlib.h>
#include <string.h>

int record(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    size_t len;
    const char *body = kumo_request_body(req, &len);
    const char *id = kumo_request_header(req, "ce-id");
    json_t *headers = json_object();
    const char *name, *value;
    for (size_t i = 0; kumo_request_header_at(req, i, &name, &value); i++)
        if (strncmp(name, "ce-", 3) == 0 || strcmp(name, "content-type") == 0 || strncmp(name, "kumo-", 5) == 0 ||
            strcmp(name, "traceparent") == 0)
            json_object_set_new(headers, name, json_string(value));
    json_t *doc = json_pack("{s:o, s:s%, s:s}", "headers", headers, "body", body, len, "path", kumo_request_path(req));
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        return -1;
    int rc = kumo_kv_put(ctx, "seen", id ? id : "?", text, strlen(text));
    free(text);
    if (rc != 0)
        return rc;
    if (len >= 4 && strncmp(body, "fail", 4) == 0)
        return kumo_response_problem(res, 500, "Marked to fail", "the body starts with fail");
    kumo_response_status(res, 204);
    return 0;
}

int send(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *body = kumo_request_query(req, "body"), *id = NULL;
    int rc = kumo_queue_send(ctx, "jobs", body, strlen(body), 0, &id);
    if (rc != 0)
        return rc;
    return kumo_response_json(res, 200, json_pack("{s:s}", "id", id));
}

int work_http(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    return kumo_response_json(res, 200, json_pack("{s:s}", "answered", "as an API request"));
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
            if (doc) {
                json_object_set_new(doc, "key", json_string(page.items[i].key));
                json_array_append_new(all, doc);
            }
        }
        cursor = page.next;
    } while (cursor);
    return kumo_response_json(res, 200, all);
}
