/*
 * ce.c: the handlers of tests/integration/test_cloudevents_in.py. record
 * keeps each delivery it received in the kv store "seen" under
 * "PATH/CE-ID": its method, path, ce-* headers, content-type,
 * traceparent, authorization and body; fail answers 503 with a problem;
 * list_seen answers GET /seen.
 */
#include <kumo.h>

#include <stdlib.h>
#include <string.h>

int record(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    size_t len;
    const char *body = kumo_request_body(req, &len);
    json_t *headers = json_object();
    const char *name, *value;
    for (size_t i = 0; kumo_request_header_at(req, i, &name, &value); i++)
        if (strncmp(name, "ce-", 3) == 0 || strcmp(name, "content-type") == 0 || strcmp(name, "traceparent") == 0 ||
            strcmp(name, "authorization") == 0)
            json_object_set_new(headers, name, json_string(value));
    const char *id = kumo_event_id(req), *type = kumo_event_type(req), *source = kumo_event_source(req);
    json_t *doc =
        json_pack("{s:o, s:s%, s:s, s:s, s:s?, s:s?, s:s?}", "headers", headers, "body", body, len, "method",
                  kumo_request_method(req), "path", kumo_request_path(req), "id", id, "type", type, "source", source);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        return -1;
    const char *key = kumo_sprintf(ctx, "%s/%s", kumo_request_path(req), id ? id : "?");
    int rc = kumo_kv_put(ctx, "seen", key, text, strlen(text));
    free(text);
    if (rc != 0)
        return rc;
    return kumo_response_body(res, "handled", 7, "text/plain");
}

int fail(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    return kumo_response_problem(res, 503, "Downstream down", "the billing service is down");
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
