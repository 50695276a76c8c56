/*
 * topics.c: the handlers of tests/integration/test_topics.py. publish
 * (POST /publish?prefix=P&n=N) publishes P-0 .. P-(N-1) to the topic
 * "orders" with kumo_topic_publish; record (fired by both topic events)
 * keeps every delivery in the kv store "seen" under
 * "EVENT/BODY/RECEIVE-COUNT" (EVENT is ce-subject) with its headers; a body
 * starting with "fail" is recorded and then answered 500 when the event is
 * billing. list_seen answers GET /seen.
 */
#include <kumo.h>

#include <stdlib.h>
#include <string.h>

int publish(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *prefix = kumo_request_query(req, "prefix"), *ns = kumo_request_query(req, "n");
    int n = ns ? atoi(ns) : 0;
    json_t *ids = json_array();
    for (int i = 0; i < n; i++) {
        const char *body = kumo_sprintf(ctx, "%s-%d", prefix, i), *id = NULL;
        int rc = kumo_topic_publish(ctx, "orders", body, strlen(body), &id);
        if (rc != 0) {
            json_decref(ids);
            return kumo_response_problem(res, 503, "Publish failed", kumo_store_error(ctx));
        }
        json_array_append_new(ids, json_string(id));
    }
    return kumo_response_json(res, 200, ids);
}

int record(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    size_t len;
    const char *body = kumo_request_body(req, &len);
    const char *count = kumo_request_header(req, "kumo-receive-count");
    const char *event = kumo_request_header(req, "ce-subject");
    json_t *headers = json_object();
    const char *name, *value;
    for (size_t i = 0; kumo_request_header_at(req, i, &name, &value); i++)
        if (strncmp(name, "ce-", 3) == 0 || strcmp(name, "content-type") == 0 || strncmp(name, "kumo-", 5) == 0)
            json_object_set_new(headers, name, json_string(value));
    json_t *doc = json_pack("{s:o, s:s%, s:s, s:s}", "headers", headers, "body", body, len, "method",
                            kumo_request_method(req), "path", kumo_request_path(req));
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        return -1;
    const char *key = kumo_sprintf(ctx, "%s/%.*s/%s", event ? event : "?", (int)len, body, count ? count : "?");
    int rc = kumo_kv_put(ctx, "seen", key, text, strlen(text));
    free(text);
    if (rc != 0)
        return rc;
    if (len >= 4 && strncmp(body, "fail", 4) == 0 && event && strcmp(event, "billing") == 0)
        return kumo_response_problem(res, 500, "Marked to fail", "billing fails on a body starting with fail");
    kumo_response_status(res, 204);
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
            if (doc) {
                json_object_set_new(doc, "key", json_string(page.items[i].key));
                json_array_append_new(all, doc);
            }
        }
        cursor = page.next;
    } while (cursor);
    return kumo_response_json(res, 200, all);
}
