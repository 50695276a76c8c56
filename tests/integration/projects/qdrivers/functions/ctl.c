/*
 * ctl.c: the HTTP operations of projects/qdrivers: send (POST /send) puts
 * its body on the queue "jobs" as one message and answers its id;
 * open_gate (POST /open) sets the kv key "gate" that blocked records wait
 * for; list_seen (GET /seen) answers every record qd.c kept.
 */
#include <kumo.h>

#include <string.h>

int send(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    size_t len;
    const char *body = kumo_request_body(req, &len), *id = NULL;
    int rc = kumo_queue_send(ctx, "jobs", body, len, 0, &id);
    if (rc != 0)
        return rc;
    return kumo_response_json(res, 200, json_pack("{s:s}", "id", id));
}

int open_gate(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)req;
    int rc = kumo_kv_put(ctx, "seen", "gate", "1", 1);
    if (rc != 0)
        return rc;
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
