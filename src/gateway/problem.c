/*
 * problem.c: see problem.h. Bodies are built with jansson so that any
 * detail text (which may quote user input) is escaped correctly.
 */
#include "gateway/problem.h"

#include <jansson.h>
#include <string.h>

const char *kumo__http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

void kumo__send_body(h2o_req_t *req, const char *body, size_t len)
{
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
}

/* A JSON string of possibly invalid UTF-8: bytes outside ASCII are kept
 * only when the whole text is valid. */
static json_t *text(const char *s, size_t len)
{
    json_t *v = json_stringn(s, len);
    if (v == NULL) {
        char buf[512];
        size_t n = 0;
        for (size_t i = 0; i < len && n < sizeof(buf) - 1; i++)
            buf[n++] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
        v = json_stringn(buf, n);
    }
    return v;
}

void kumo__send_problem(h2o_req_t *req, int status, const char *title, const char *detail, const char *request_id,
                        const char *retry_after)
{
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    json_t *doc = json_object();
    json_object_set_new(doc, "type", json_string("about:blank"));
    json_object_set_new(doc, "title", json_string(title ? title : kumo__http_reason(status)));
    json_object_set_new(doc, "status", json_integer(status));
    if (detail && *detail)
        json_object_set_new(doc, "detail", text(detail, strlen(detail)));
    json_object_set_new(doc, "instance", text(req->path.base, path_len));
    if (request_id)
        json_object_set_new(doc, "request_id", json_string(request_id));
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    req->res.status = status;
    req->res.reason = kumo__http_reason(status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/problem+json"));
    if (request_id)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 1, NULL, request_id,
                              strlen(request_id));
    if (retry_after)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, retry_after,
                       strlen(retry_after));
    if (body == NULL) {
        kumo__send_body(req, H2O_STRLIT("{\"title\":\"Internal Server Error\",\"status\":500}"));
        return;
    }
    kumo__send_body(req, body, strlen(body));
    free(body);
}
