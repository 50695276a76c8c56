/*
 * items.c: the operations of openapi.yaml, one C function per operationId,
 * over the key-value store "items" (kumo.yaml: stores: {kv: [items]}).
 * Each item is its JSON document under its id; ids are 16 hex digits, the
 * first 12 the creation time in milliseconds, so listing the store by key
 * lists the items oldest first. kumo checks every request against
 * openapi.yaml before a handler runs (the body's name, the id's pattern).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime, getrandom */
#endif
#include <kumo.h>

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define STORE "items"

static int store_failed(kumo_ctx *ctx, kumo_response *res, int rc)
{
    kumo_log(ctx, KUMO_LOG_ERROR, "store %s: %s (%s)", STORE, kumo_strerror(rc), kumo_store_error(ctx));
    return kumo_response_problem(res, rc == KUMO_EUNAVAILABLE ? 503 : 500, NULL, "the item store failed");
}

int listItems(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    json_t *limit = kumo_request_typed(req, "query", "limit"); /* an integer (kumo checked it), NULL when absent */
    kumo_kv_page page;
    int rc =
        kumo_kv_list(ctx, STORE, "", NULL, (size_t)(json_is_integer(limit) ? json_integer_value(limit) : 20), 1, &page);
    if (rc != 0)
        return store_failed(ctx, res, rc);
    json_t *items = json_array();
    for (size_t i = 0; i < page.count; i++) {
        json_t *item = json_loadb(page.items[i].value, page.items[i].len, 0, NULL);
        if (item)
            json_array_append_new(items, item);
    }
    return kumo_response_json(res, 200, json_pack("{s:o}", "items", items));
}

int createItem(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    json_t *body = kumo_request_json(req); /* valid against NewItem: kumo checked it */
    const char *name = json_string_value(json_object_get(body, "name"));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned short rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
        rnd = (unsigned short)ts.tv_nsec;
    unsigned long long ms = (unsigned long long)ts.tv_sec * 1000u + (unsigned long long)ts.tv_nsec / 1000000u;
    const char *id = kumo_sprintf(ctx, "%012llx%04x", ms & 0xffffffffffffull, rnd);
    json_t *item = json_pack("{s:s, s:s}", "id", id, "name", name ? name : "");
    char *text = json_dumps(item, JSON_COMPACT);
    int rc = text ? kumo_kv_cas(ctx, STORE, id, text, strlen(text), 0, NULL) : KUMO_ENOMEM;
    free(text);
    if (rc != 0) {
        json_decref(item);
        return store_failed(ctx, res, rc);
    }
    kumo_response_header(res, "Location", kumo_sprintf(ctx, "/items/%s", id));
    return kumo_response_json(res, 201, item);
}

int getItem(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    kumo_kv_item it;
    int rc = kumo_kv_get(ctx, STORE, kumo_request_param(req, "id"), &it);
    if (rc == KUMO_ENOTFOUND)
        return kumo_response_problem(res, 404, NULL, "no such item");
    if (rc != 0)
        return store_failed(ctx, res, rc);
    return kumo_response_body(res, it.value, it.len, "application/json");
}

int deleteItem(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    int rc = kumo_kv_delete(ctx, STORE, kumo_request_param(req, "id"));
    if (rc == KUMO_ENOTFOUND)
        return kumo_response_problem(res, 404, NULL, "no such item");
    if (rc != 0)
        return store_failed(ctx, res, rc);
    kumo_response_status(res, 204);
    return 0;
}
