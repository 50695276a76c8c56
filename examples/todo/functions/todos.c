/*
 * todos.c: the todo API of ../openapi.yaml, one C function per operation
 * (the operationIds): listTodos, createTodo, getTodo, updateTodo,
 * deleteTodo, putAttachment, getAttachment, listNotifications and
 * ackNotifications. It uses
 * the three kinds of store kumo.yaml declares (stores: {kv: [todos], blob:
 * [attachments], queue: [notifications]}):
 *  - todos are JSON documents in the kv store "todos", keyed by their id;
 *  - a todo's attachment is the object named by its id in the blob store
 *    "attachments", with the content type it was uploaded with; bodies over
 *    STREAM_OVER go through a streamed writer and come back through a
 *    reader, in CHUNK pieces, so the store never needs them whole (kumo's
 *    runtime still hands the handler whole request and response bodies);
 *  - every create and update sends {"event", "todo"} to the queue
 *    "notifications", at least once (docs/stores.md, "At least once with
 *    a queue and a kv store"): the message is sent BEFORE the todo is
 *    written, and the request fails (503) when it cannot be sent. A worker
 *    that dies between the two leaves a message about a write that did not
 *    happen (its client got no 201), never a write nobody hears about.
 *    GET /notifications receives messages with a visibility timeout and
 *    hands out their receipts without acknowledging them; POST
 *    /notifications/ack acknowledges them once the client has them, so a
 *    response lost on the way comes back after the timeout. Consumers see
 *    duplicates and must be idempotent; the todo in the store is the
 *    record, a notification says "this todo may have changed".
 *  - an attachment is served inertly: the uploader chose its Content-Type,
 *    and text/html from the API's origin would be an active page there.
 *    Every download has nosniff and a sandboxing CSP; a type outside a
 *    short list of passive ones is also sent as a download
 *    (Content-Disposition: attachment).
 *
 * Ids sort in creation order, so listing the store by key lists todos
 * oldest first and the store's cursor is the page cursor: 12 hex digits of
 * the creation time in milliseconds, 4 of a per-process sequence (order
 * within a millisecond), 8 random (workers creating in the same
 * millisecond). A create writes with put-if-absent, so even a collision
 * cannot overwrite a todo: it draws a new id.
 *
 * The handlers check their input themselves even though the gateway
 * validates requests against the spec: the same code may run behind a
 * platform's gateway that does not. Every error is an RFC 9457 problem.
 * Only <kumo.h> (and jansson through it) is used; every SDK pointer lives
 * in the request's arena, and JSON values are released as jansson says.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime, gmtime_r and getrandom under any -std */
#endif
#include <kumo.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define STORE "todos"
#define ID_LEN 24
#define TITLE_MAX 200
#define LIMIT_DEFAULT 20
#define LIMIT_MAX 100
#define WRITE_RETRIES 5
#define BLOBS "attachments"
#define QUEUE "notifications"
#define ATTACHMENT_MAX (8u << 20)
#define STREAM_OVER (256u << 10)
#define CHUNK (64u << 10)
#define RECEIVE_DEFAULT 10
#define RECEIVE_MAX 100
#define VISIBILITY_DEFAULT_S 30
#define VISIBILITY_MAX_S 43200 /* 12 hours, SQS's ceiling */
#define ACK_MAX 100
#define RECEIPT_MAX 1024 /* the SDK's ceiling (src/sdk/stores/queue.c) */

/* ---- helpers ---------------------------------------------------------- */

/* The answer to a store failure: 503 when it may pass, 500 otherwise. */
static int store_failed(kumo_ctx *ctx, kumo_response *res, const char *what, int rc)
{
    kumo_log(ctx, KUMO_LOG_ERROR, "%s: %s (%s)", what, kumo_strerror(rc), kumo_store_error(ctx));
    if (rc == KUMO_EUNAVAILABLE || rc == KUMO_ETIMEDOUT)
        return kumo_response_problem(res, 503, "Service Unavailable", "the todo store is unavailable; retry");
    return kumo_response_problem(res, 500, "Internal Server Error", NULL);
}

static int bad_request(kumo_response *res, const char *detail)
{
    return kumo_response_problem(res, 400, "Bad Request", detail);
}

static int not_found(kumo_ctx *ctx, kumo_response *res, const char *id)
{
    return kumo_response_problem(res, 404, "Not Found", kumo_sprintf(ctx, "no todo with id '%s'", id));
}

/* An id as made by new_id: ID_LEN lower-case hex digits. */
static int valid_id(const char *id)
{
    if (id == NULL || strlen(id) != ID_LEN)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

/* A fresh id and its creation time (RFC 3339, UTC, milliseconds). */
static void new_id(char id[ID_LEN + 1], char created[32])
{
    static unsigned sequence; /* per worker process: orders ids within a millisecond */
    struct timespec ts;
    struct tm tm;
    uint32_t rnd;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        rnd = (uint32_t)ts.tv_nsec ^ (uint32_t)(uintptr_t)&rnd;
    snprintf(id, ID_LEN + 1, "%012llx%04x%08x", (unsigned long long)(ms & 0xffffffffffffULL), sequence++ & 0xffff,
             (unsigned)rnd);
    time_t secs = (time_t)(ms / 1000);
    gmtime_r(&secs, &tm);
    size_t n = strftime(created, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(created + n, 32 - n, ".%03uZ", (unsigned)(ms % 1000));
}

/* Characters (code points) in a UTF-8 string: what maxLength counts. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Checks a TodoInput (`partial`: a patch, where title is optional too).
 * Returns NULL when it is good, else what is wrong. */
static const char *check_input(json_t *body, int partial)
{
    if (!json_is_object(body))
        return "the body must be a JSON object";
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value)
    {
        if (strcmp(key, "title") != 0 && strcmp(key, "done") != 0)
            return "only 'title' and 'done' may be given";
    }
    json_t *title = json_object_get(body, "title");
    if (title == NULL && !partial)
        return "'title' is required";
    if (title) {
        if (!json_is_string(title))
            return "'title' must be a string";
        size_t n = utf8_chars(json_string_value(title));
        if (n < 1 || n > TITLE_MAX || json_string_length(title) != strlen(json_string_value(title)))
            return "'title' must be 1 to 200 characters";
    }
    json_t *done = json_object_get(body, "done");
    if (done && !json_is_boolean(done))
        return "'done' must be true or false";
    return NULL;
}

/* Sends a stored todo (a JSON document) as the response. */
static int send_todo(kumo_ctx *ctx, kumo_response *res, int status, const kumo_kv_item *item)
{
    json_t *todo = json_loadb(item->value, item->len, 0, NULL);
    if (todo == NULL) {
        kumo_log(ctx, KUMO_LOG_ERROR, "todo '%s' is not JSON in the store", item->key);
        return kumo_response_problem(res, 500, "Internal Server Error", NULL);
    }
    return kumo_response_json(res, status, todo);
}

/* Sends {"event": event, "todo": todo} to the notifications queue. Called
 * before the write it announces (see the file comment); returns 0 or the
 * SDK's code, and the caller fails the request without writing. */
static int notify(kumo_ctx *ctx, const char *event, json_t *todo)
{
    json_t *msg = json_pack("{s:s, s:O}", "event", event, "todo", todo);
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    int rc = text ? kumo_queue_send(ctx, QUEUE, text, strlen(text), 0, NULL) : KUMO_ENOMEM;
    free(text);
    json_decref(msg);
    return rc;
}

/* ---- GET /todos --------------------------------------------------------- */

int listTodos(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    long limit = LIMIT_DEFAULT;
    const char *s = kumo_request_query(req, "limit");
    if (s) {
        char *end;
        limit = strtol(s, &end, 10);
        if (*s < '0' || *s > '9' || *end != '\0' || limit < 1 || limit > LIMIT_MAX)
            return bad_request(res, "'limit' must be an integer from 1 to 100");
    }
    const char *cursor = kumo_request_query(req, "cursor");
    if (cursor && *cursor == '\0')
        cursor = NULL;
    if (cursor && !valid_id(cursor))
        return bad_request(res, "'cursor' is not a cursor from a previous page; use 'next'");

    kumo_kv_page page;
    int rc = kumo_kv_list(ctx, STORE, "", cursor, (size_t)limit, 1, &page);
    if (rc != 0)
        return store_failed(ctx, res, "list todos", rc);

    json_t *items = json_array();
    json_t *body = json_object();
    if (items == NULL || body == NULL)
        goto nomem;
    for (size_t i = 0; i < page.count; i++) {
        json_t *todo = json_loadb(page.items[i].value, page.items[i].len, 0, NULL);
        if (todo == NULL) {
            kumo_log(ctx, KUMO_LOG_ERROR, "todo '%s' is not JSON in the store; skipped", page.items[i].key);
            continue;
        }
        if (json_array_append_new(items, todo) != 0)
            goto nomem;
    }
    if (json_object_set_new(body, "items", items) != 0) {
        items = NULL; /* stolen, even on failure */
        goto nomem;
    }
    items = NULL;
    if (json_object_set_new(body, "next", page.next ? json_string(page.next) : json_null()) != 0)
        goto nomem;
    return kumo_response_json(res, 200, body);
nomem:
    json_decref(items);
    json_decref(body);
    return KUMO_ENOMEM;
}

/* ---- POST /todos ------------------------------------------------------- */

int createTodo(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    json_t *input = kumo_request_json(req); /* borrowed: owned by the request */
    if (input == NULL)
        return bad_request(res, "the body must be a JSON object: {\"title\": \"...\", \"done\": false}");
    const char *why = check_input(input, 0);
    if (why)
        return bad_request(res, why);
    json_t *done = json_object_get(input, "done");

    int rc = KUMO_ECONFLICT;
    for (int attempt = 0; attempt < WRITE_RETRIES && rc == KUMO_ECONFLICT; attempt++) {
        char id[ID_LEN + 1], created[32];
        new_id(id, created);
        json_t *todo = json_pack("{s:s, s:O, s:b, s:s}", "id", id, "title", json_object_get(input, "title"), "done",
                                 done ? json_is_true(done) : 0, "created_at", created);
        char *doc = todo ? json_dumps(todo, JSON_COMPACT) : NULL;
        if (doc == NULL) {
            json_decref(todo);
            return KUMO_ENOMEM;
        }
        /* The notification first: once the todo is written, its message
         * is already in the queue, whatever happens to this process. */
        if ((rc = notify(ctx, "created", todo)) != 0) {
            free(doc);
            json_decref(todo);
            return store_failed(ctx, res, "send notification", rc);
        }
        rc = kumo_kv_cas(ctx, STORE, id, doc, strlen(doc), 0, NULL); /* only if absent */
        free(doc);
        if (rc == 0) {
            rc = kumo_response_header(res, "Location", kumo_sprintf(ctx, "/todos/%s", id));
            if (rc == 0)
                rc = kumo_response_json(res, 201, todo);
            else
                json_decref(todo);
            return rc;
        }
        json_decref(todo);
    }
    return store_failed(ctx, res, "create todo", rc);
}

/* ---- GET /todos/{id} ------------------------------------------------------ */

int getTodo(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *id = kumo_request_param(req, "id");
    kumo_kv_item item;
    if (!valid_id(id))
        return not_found(ctx, res, id ? id : "");
    int rc = kumo_kv_get(ctx, STORE, id, &item);
    if (rc == KUMO_ENOTFOUND)
        return not_found(ctx, res, id);
    if (rc != 0)
        return store_failed(ctx, res, "get todo", rc);
    return send_todo(ctx, res, 200, &item);
}

/* ---- PATCH /todos/{id} -------------------------------------------------- */

/* Read, merge, write back only if nobody wrote in between (CAS on the
 * version read); on a lost race, start over from a fresh read. */
int updateTodo(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *id = kumo_request_param(req, "id");
    if (!valid_id(id))
        return not_found(ctx, res, id ? id : "");
    json_t *patch = kumo_request_json(req);
    if (patch == NULL)
        return bad_request(res, "the body must be a JSON object with 'title' and/or 'done'");
    const char *why = check_input(patch, 1);
    if (why)
        return bad_request(res, why);

    int rc = KUMO_ECONFLICT;
    for (int attempt = 0; attempt < WRITE_RETRIES && rc == KUMO_ECONFLICT; attempt++) {
        kumo_kv_item item;
        rc = kumo_kv_get(ctx, STORE, id, &item);
        if (rc == KUMO_ENOTFOUND)
            return not_found(ctx, res, id);
        if (rc != 0)
            break;
        json_t *todo = json_loadb(item.value, item.len, 0, NULL);
        /* The patch holds only title and done (checked above). */
        if (!json_is_object(todo) || json_object_update(todo, patch) != 0) {
            json_decref(todo);
            kumo_log(ctx, KUMO_LOG_ERROR, "todo '%s' is not a JSON object in the store", id);
            return kumo_response_problem(res, 500, "Internal Server Error", NULL);
        }
        char *doc = json_dumps(todo, JSON_COMPACT);
        if (doc == NULL) {
            json_decref(todo);
            return KUMO_ENOMEM;
        }
        /* Sent before the write, as in createTodo; a lost race sends
         * again with the state merged from the fresh read. */
        if ((rc = notify(ctx, "updated", todo)) != 0) {
            free(doc);
            json_decref(todo);
            return store_failed(ctx, res, "send notification", rc);
        }
        rc = kumo_kv_cas(ctx, STORE, id, doc, strlen(doc), item.version, NULL);
        free(doc);
        if (rc == 0)
            return kumo_response_json(res, 200, todo);
        json_decref(todo);
    }
    return store_failed(ctx, res, "update todo", rc);
}

/* ---- DELETE /todos/{id} ------------------------------------------------- */

int deleteTodo(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *id = kumo_request_param(req, "id");
    if (!valid_id(id))
        return not_found(ctx, res, id ? id : "");
    int rc = kumo_kv_delete(ctx, STORE, id);
    if (rc == KUMO_ENOTFOUND)
        return not_found(ctx, res, id);
    if (rc != 0)
        return store_failed(ctx, res, "delete todo", rc);
    /* Its attachment goes with it; none is fine, a failure only logged
     * (an orphan object is harmless and the todo is gone). */
    rc = kumo_blob_delete(ctx, BLOBS, id);
    if (rc != 0 && rc != KUMO_ENOTFOUND)
        kumo_log(ctx, KUMO_LOG_WARN, "attachment of deleted todo '%s' not deleted: %s (%s)", id, kumo_strerror(rc),
                 kumo_store_error(ctx));
    kumo_response_status(res, 204);
    return 0;
}

/* ---- PUT /todos/{id}/attachment ------------------------------------------ */

/* Writes a large body through a streamed writer, CHUNK at a time: nothing
 * is visible until the commit, and an error aborts it. */
static int write_streamed(kumo_ctx *ctx, const char *key, const char *type, const char *body, size_t len)
{
    kumo_blob_writer *w;
    int rc = kumo_blob_writer_open(ctx, BLOBS, key, type, &w);
    if (rc != 0)
        return rc;
    for (size_t off = 0; off < len; off += CHUNK) {
        rc = kumo_blob_write(w, body + off, len - off < CHUNK ? len - off : CHUNK);
        if (rc != 0) {
            kumo_blob_writer_abort(w);
            return rc;
        }
    }
    return kumo_blob_writer_commit(w);
}

int putAttachment(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *id = kumo_request_param(req, "id");
    kumo_kv_item item;
    size_t len;
    if (!valid_id(id))
        return not_found(ctx, res, id ? id : "");
    int rc = kumo_kv_get(ctx, STORE, id, &item);
    if (rc == KUMO_ENOTFOUND)
        return not_found(ctx, res, id);
    if (rc != 0)
        return store_failed(ctx, res, "get todo", rc);
    const char *body = kumo_request_body(req, &len);
    if (len > ATTACHMENT_MAX)
        return kumo_response_problem(res, 413, "Content Too Large", "an attachment is at most 8 MiB");
    const char *type = kumo_request_header(req, "content-type");
    if (type == NULL || *type == '\0')
        type = "application/octet-stream";

    rc = len > STREAM_OVER ? write_streamed(ctx, id, type, body, len) : kumo_blob_put(ctx, BLOBS, id, body, len, type);
    if (rc == KUMO_EINVAL)
        return bad_request(res, "the Content-Type cannot be stored (too long, or control characters)");
    if (rc != 0)
        return store_failed(ctx, res, "put attachment", rc);
    kumo_blob_info info;
    if ((rc = kumo_blob_head(ctx, BLOBS, id, &info)) != 0)
        return store_failed(ctx, res, "head attachment", rc);
    json_t *out = json_pack("{s:s, s:I, s:s, s:s}", "todo_id", id, "size", (json_int_t)info.size, "content_type",
                            info.content_type, "etag", info.etag);
    if (out == NULL)
        return KUMO_ENOMEM;
    return kumo_response_json(res, 200, out);
}

/* ---- GET /todos/{id}/attachment ------------------------------------------ */

/* Whether a stored content type is one a browser only displays (never runs
 * script in): its media type, before any parameters, compared without
 * case against a short list. Anything else (text/html, image/svg+xml,
 * application/xhtml+xml, text/xml, types nobody listed) is active. */
static int passive_type(const char *type)
{
    static const char *const passive[] = {
        "text/plain", "text/csv",   "application/json", "application/octet-stream",
        "image/png",  "image/jpeg", "image/gif",        "image/webp",
        "audio/mpeg", "video/mp4",
    };
    size_t n = strcspn(type, "; \t");
    for (size_t i = 0; i < sizeof(passive) / sizeof(passive[0]); i++)
        if (strlen(passive[i]) == n && strncasecmp(type, passive[i], n) == 0)
            return 1;
    return 0;
}

/* The headers that keep an uploaded file inert on the API's origin: no
 * sniffing into another type, a sandbox for whatever a browser renders,
 * and a download instead of a page for active types. */
static int inert_headers(kumo_response *res, const char *type)
{
    int rc = kumo_response_header(res, "X-Content-Type-Options", "nosniff");
    if (rc == 0)
        rc = kumo_response_header(res, "Content-Security-Policy", "default-src 'none'; sandbox");
    if (rc == 0 && !passive_type(type))
        rc = kumo_response_header(res, "Content-Disposition", "attachment");
    return rc;
}

int getAttachment(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *id = kumo_request_param(req, "id");
    kumo_blob_reader *r;
    kumo_blob_info info;
    if (!valid_id(id))
        return not_found(ctx, res, id ? id : "");
    int rc = kumo_blob_reader_open(ctx, BLOBS, id, &r, &info);
    if (rc == KUMO_ENOTFOUND)
        return kumo_response_problem(res, 404, "Not Found", kumo_sprintf(ctx, "todo '%s' has no attachment", id));
    if (rc != 0)
        return store_failed(ctx, res, "open attachment", rc);
    /* The reader is closed below, or at the end of the invocation at the
     * latest if this returned early. */
    char *buf = info.size <= ATTACHMENT_MAX ? kumo_alloc(ctx, (size_t)info.size + 1) : NULL;
    size_t off = 0, got = 0;
    if (buf == NULL) {
        kumo_blob_reader_close(r);
        return kumo_response_problem(res, 500, "Internal Server Error", "the attachment is too large to send");
    }
    while ((rc = kumo_blob_read(r, buf + off, (size_t)info.size + 1 - off < CHUNK ? (size_t)info.size + 1 - off : CHUNK,
                                &got)) == 0 &&
           got > 0) {
        off += got;
        if (off > info.size)
            break; /* it grew under us: a put replaced it; send what the reader saw */
    }
    kumo_blob_reader_close(r);
    if (rc != 0)
        return store_failed(ctx, res, "read attachment", rc);
    if ((rc = kumo_response_header(res, "ETag", info.etag)) != 0 || (rc = inert_headers(res, info.content_type)) != 0)
        return rc;
    return kumo_response_body(res, buf, off, info.content_type);
}

/* ---- GET /notifications ---------------------------------------------------- */

/* Reads an optional integer query parameter from 1 to `max` into *out;
 * returns 0, or -1 when it is given and not such an integer. */
static int query_int(const kumo_request *req, const char *name, long max, long *out)
{
    const char *s = kumo_request_query(req, name);
    if (s == NULL)
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (*s < '0' || *s > '9' || *end != '\0' || v < 1 || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Receives, does not acknowledge: each item carries its receipt, and the
 * client acks with POST /notifications/ack once it has the list. A
 * response lost on the way (a dead worker, a dropped connection) costs a
 * redelivery after `visibility` seconds, never a notification. */
int listNotifications(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    long max = RECEIVE_DEFAULT, visibility = VISIBILITY_DEFAULT_S;
    if (query_int(req, "max", RECEIVE_MAX, &max) != 0)
        return bad_request(res, "'max' must be an integer from 1 to 100");
    if (query_int(req, "visibility", VISIBILITY_MAX_S, &visibility) != 0)
        return bad_request(res, "'visibility' must be an integer from 1 to 43200 (seconds)");
    kumo_queue_message *msgs = kumo_alloc(ctx, (size_t)max * sizeof(*msgs));
    size_t n = 0;
    if (msgs == NULL)
        return KUMO_ENOMEM;
    int rc = kumo_queue_receive(ctx, QUEUE, (size_t)max, (uint64_t)visibility * 1000, msgs, &n);
    if (rc != 0)
        return store_failed(ctx, res, "receive notifications", rc);
    json_t *items = json_array();
    if (items == NULL)
        return KUMO_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *msg = json_loadb(msgs[i].body, msgs[i].len, 0, NULL);
        if (json_is_object(msg) && json_object_set_new(msg, "id", json_string(msgs[i].id)) == 0 &&
            json_object_set_new(msg, "receipt", json_string(msgs[i].receipt)) == 0) {
            if (json_array_append(items, msg) != 0) {
                json_decref(msg);
                json_decref(items);
                return KUMO_ENOMEM;
            }
        } else {
            /* Never a notification, and it would come back forever:
             * this one is acked here, and said so. */
            kumo_log(ctx, KUMO_LOG_WARN, "message %s of the queue '%s' is not a JSON object; acked and dropped",
                     msgs[i].id, QUEUE);
            int arc = kumo_queue_ack(ctx, QUEUE, msgs[i].receipt);
            if (arc != 0)
                kumo_log(ctx, KUMO_LOG_WARN, "message %s not acked: %s (%s)", msgs[i].id, kumo_strerror(arc),
                         kumo_store_error(ctx));
        }
        json_decref(msg);
    }
    json_t *body = json_pack("{s:o}", "items", items);
    if (body == NULL)
        return KUMO_ENOMEM;
    return kumo_response_json(res, 200, body);
}

/* ---- POST /notifications/ack ------------------------------------------------ */

/* Acknowledges received notifications by receipt: they are removed from
 * the queue. A receipt that is no longer current (acked already, or its
 * visibility ran out and the message was received again) is answered in
 * `stale`, not as an error: the message is gone or will come again, and
 * acking twice is harmless, so a client may retry a whole ack. */
int ackNotifications(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    json_t *body = kumo_request_json(req); /* borrowed */
    json_t *receipts = json_object_get(body, "receipts");
    if (!json_is_object(body) || json_object_size(body) != 1 || !json_is_array(receipts) ||
        json_array_size(receipts) < 1 || json_array_size(receipts) > ACK_MAX)
        return bad_request(res, "the body must be {\"receipts\": [...]} with 1 to 100 receipts");
    size_t i;
    json_t *r;
    json_array_foreach(receipts, i, r)
    {
        if (!json_is_string(r) || json_string_length(r) < 1 || json_string_length(r) > RECEIPT_MAX ||
            strlen(json_string_value(r)) != json_string_length(r))
            return bad_request(res, "each receipt must be a string of 1 to 1024 characters from GET /notifications");
    }
    json_t *stale = json_array();
    if (stale == NULL)
        return KUMO_ENOMEM;
    json_int_t acked = 0;
    json_array_foreach(receipts, i, r)
    {
        int rc = kumo_queue_ack(ctx, QUEUE, json_string_value(r));
        if (rc == 0)
            acked++;
        else if (rc == KUMO_ENOTFOUND || rc == KUMO_EINVAL) {
            /* EINVAL: not a receipt this queue ever gave; as stale as can be. */
            if (json_array_append(stale, r) != 0) {
                json_decref(stale);
                return KUMO_ENOMEM;
            }
        } else {
            json_decref(stale);
            return store_failed(ctx, res, "ack notifications", rc);
        }
    }
    json_t *out = json_pack("{s:I, s:o}", "acked", acked, "stale", stale);
    if (out == NULL)
        return KUMO_ENOMEM;
    return kumo_response_json(res, 200, out);
}
