/*
 * blobs.c: the handlers of tests/integration/test_blob_events.py.
 * put (POST /put?key=K[&stream=1]) writes the body to the blob store
 * "files" with the request's content type, whole or through a streamed
 * writer in 7-byte chunks; delete (POST /delete?key=K) deletes it; record
 * (fired by the blob events) keeps every delivery in the kv store "seen"
 * under "CE-ID/RECEIVE-COUNT" with its headers, body and path; a subject
 * with "fail" in it is recorded and then answered 500, one with "slow" is
 * recorded after 1 s. list_seen answers GET /seen.
 */
#include <kumo.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int put(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *key = kumo_request_query(req, "key"), *stream = kumo_request_query(req, "stream");
    const char *type = kumo_request_header(req, "content-type");
    size_t len;
    const char *body = kumo_request_body(req, &len);
    if (type == NULL)
        type = "application/octet-stream";
    if (stream && strcmp(stream, "1") == 0) {
        kumo_blob_writer *w = NULL;
        int rc = kumo_blob_writer_open(ctx, "files", key, type, &w);
        if (rc != 0)
            return rc;
        for (size_t off = 0; off < len; off += 7)
            if ((rc = kumo_blob_write(w, body + off, len - off < 7 ? len - off : 7)) != 0) {
                kumo_blob_writer_abort(w);
                return rc;
            }
        if ((rc = kumo_blob_writer_commit(w)) != 0)
            return rc;
    } else {
        int rc = kumo_blob_put(ctx, "files", key, body ? body : "", len, type);
        if (rc != 0)
            return rc;
    }
    kumo_response_status(res, 204);
    return 0;
}

int delete(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    int rc = kumo_blob_delete(ctx, "files", kumo_request_query(req, "key"));
    if (rc == KUMO_ENOTFOUND)
        return kumo_response_problem(res, 404, "No such blob", kumo_request_query(req, "key"));
    if (rc != 0)
        return rc;
    kumo_response_status(res, 204);
    return 0;
}

int record(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    size_t len;
    const char *body = kumo_request_body(req, &len);
    const char *subject = kumo_request_header(req, "ce-subject"), *id = kumo_request_header(req, "ce-id");
    const char *count = kumo_request_header(req, "kumo-receive-count");
    if (subject && strstr(subject, "slow"))
        sleep(1);
    json_t *headers = json_object();
    const char *name, *value;
    for (size_t i = 0; kumo_request_header_at(req, i, &name, &value); i++)
        if (strncmp(name, "ce-", 3) == 0 || strcmp(name, "content-type") == 0 || strncmp(name, "kumo-", 5) == 0)
            json_object_set_new(headers, name, json_string(value));
    json_t *doc = json_pack("{s:o, s:s%, s:s}", "headers", headers, "body", body ? body : "", len, "path",
                            kumo_request_path(req));
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        return -1;
    const char *key = kumo_sprintf(ctx, "%s/%s", id ? id : "?", count ? count : "?");
    int rc = kumo_kv_put(ctx, "seen", key, text, strlen(text));
    free(text);
    if (rc != 0)
        return rc;
    if (subject && strstr(subject, "fail"))
        return kumo_response_problem(res, 500, "Marked to fail", "the key has fail in it");
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
