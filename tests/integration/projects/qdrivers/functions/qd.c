/*
 * qd.c: the queue handler of tests/integration/test_queue_drivers.py and
 * test_queue_crash.py (ctl.c has the HTTP operations, in a unit of their
 * own so that they answer while every record is blocked). record (fired
 * by the queue event "work") keeps each delivery in the kv store "seen" under "ID/RECEIVE-COUNT/start" and,
 * when it answered 2xx, "ID/RECEIVE-COUNT/done": its ce-*, traceparent,
 * kumo-* and content-type headers, the body in hex, and the real-time
 * clock at entry (entry_ms). A body starting with "fail" is answered 500,
 * "slow" takes 1 s, "block" waits until POST /open set the key "gate"
 * (4 s at most, then 503).
 */
#include <kumo.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int starts(const char *body, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len >= n && memcmp(body, word, n) == 0;
}

static int put(kumo_ctx *ctx, const kumo_request *req, const char *phase, long long entry_ms)
{
    size_t len;
    const unsigned char *body = (const unsigned char *)kumo_request_body(req, &len);
    const char *count = kumo_request_header(req, "kumo-receive-count");
    const char *id = kumo_request_header(req, "ce-id");
    char *hex = malloc(2 * len + 1);
    if (hex == NULL)
        return -1;
    for (size_t i = 0; i < len; i++)
        sprintf(hex + 2 * i, "%02x", body[i]);
    hex[2 * len] = '\0';
    json_t *headers = json_object();
    const char *name, *value;
    for (size_t i = 0; kumo_request_header_at(req, i, &name, &value); i++)
        if (strncmp(name, "ce-", 3) == 0 || strcmp(name, "content-type") == 0 || strncmp(name, "kumo-", 5) == 0 ||
            strcmp(name, "traceparent") == 0)
            json_object_set_new(headers, name, json_string(value));
    json_t *doc = json_pack("{s:o, s:s, s:s, s:I}", "headers", headers, "body_hex", hex, "phase", phase, "entry_ms",
                            (json_int_t)entry_ms);
    free(hex);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        return -1;
    const char *key = kumo_sprintf(ctx, "%s/%s/%s", id ? id : "?", count ? count : "?", phase);
    int rc = kumo_kv_put(ctx, "seen", key, text, strlen(text));
    free(text);
    return rc;
}

int record(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long entry_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    size_t len;
    const char *body = kumo_request_body(req, &len);
    int rc = put(ctx, req, "start", entry_ms);
    if (rc != 0)
        return rc;
    if (starts(body, len, "fail"))
        return kumo_response_problem(res, 500, "Marked to fail", "the body starts with fail");
    if (starts(body, len, "slow"))
        sleep(1);
    if (starts(body, len, "block")) {
        int open = 0;
        for (int i = 0; i < 200 && !open; i++) {
            kumo_kv_item item;
            open = kumo_kv_get(ctx, "seen", "gate", &item) == 0;
            if (!open)
                usleep(20000);
        }
        if (!open)
            return kumo_response_problem(res, 503, "Gate closed", "POST /open was not called within 4 s");
    }
    if ((rc = put(ctx, req, "done", entry_ms)) != 0)
        return rc;
    kumo_response_status(res, 204);
    return 0;
}
