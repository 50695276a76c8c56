/* Handlers that log, for tests/integration/test_logs.py. */
#include <kumo.h>
#include <stdlib.h>
#include <string.h>

/* A compiler's message (not a JSON line): the log store keeps it as text. */
#pragma message("notes.c: compiled for the log store's test")

/* An info line, then a 404 problem for any id but "known". */
int getNote(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *id = kumo_request_param(req, "id");
    kumo_log(ctx, KUMO_LOG_INFO, "looking up note %s", id);
    if (strcmp(id, "known") != 0)
        return kumo_response_problem(res, 404, "Not Found", "no such note");
    return kumo_response_body(res, "a note", 6, "text/plain");
}

/* An error line, then a 500 problem. */
int deleteNote(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    kumo_log(ctx, KUMO_LOG_ERROR, "cannot delete note %s: the disk is read-only", kumo_request_param(req, "id"));
    return kumo_response_problem(res, 500, "Internal Server Error", NULL);
}

/* `lines` debug lines of `size` bytes each: fills the store. */
int chatter(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *l = kumo_request_query(req, "lines"), *s = kumo_request_query(req, "size");
    int lines = l ? atoi(l) : 1, size = s ? atoi(s) : 100;
    char *text = kumo_alloc(ctx, (size_t)size + 1);
    if (text == NULL)
        return -1;
    memset(text, 'x', (size_t)size);
    text[size] = '\0';
    for (int i = 0; i < lines; i++)
        kumo_log(ctx, KUMO_LOG_DEBUG, "chatter %d %s", i, text);
    return kumo_response_body(res, "ok", 2, "text/plain");
}
