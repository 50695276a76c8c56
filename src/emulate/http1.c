/*
 * http1.c: the HTTP/1.1 request parser of `kumo emulate` (see http1.h).
 * It parses what a client sent and nothing else: no I/O, no state between
 * calls, so that the fuzz target (fuzz/fuzz_emulator_http.c) drives it as
 * the connections in conn.c do. Refusals are statuses, never a guess:
 * obsolete line folding, a duplicate Content-Length that disagrees, both
 * Content-Length and chunked, or a transfer coding other than chunked.
 */
#include "emulate/http1.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *kumo__http1_header(const kumo__http1_req *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

int kumo__http1_is_token(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return 0;
    return 1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Parses the head (request line and headers, CRLFs included) copied into
 * r->head. Returns 0, or the HTTP status to refuse the request with. */
int kumo__http1_parse_head(kumo__http1_req *r, size_t *content_length, int *chunked)
{
    char *line = r->head, *eol = strstr(line, "\r\n");
    if (eol == NULL)
        return 400;
    *eol = '\0';
    char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 == NULL || sp2 == NULL)
        return 400;
    *sp1 = *sp2 = '\0';
    r->method = line;
    r->target = sp1 + 1;
    if (!kumo__http1_is_token(r->method) || r->target[0] != '/' || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
        !isdigit((unsigned char)sp2[8]) || sp2[9] != '\0')
        return 400;
    for (const char *t = r->target; *t; t++)
        if ((unsigned char)*t <= ' ' || (unsigned char)*t >= 0x7f)
            return 400;
    r->minor = sp2[8] - '0';
    int have_cl = 0;
    *content_length = 0;
    *chunked = 0;
    const char *connection = NULL;
    for (line = eol + 2; *line; line = eol + 2) {
        eol = strstr(line, "\r\n");
        if (eol == NULL)
            return 400;
        *eol = '\0';
        if (*line == '\0')
            break;
        if (*line == ' ' || *line == '\t')
            return 400; /* obsolete line folding */
        char *colon = strchr(line, ':');
        if (colon == NULL)
            return 400;
        *colon = '\0';
        if (!kumo__http1_is_token(line))
            return 400;
        if (r->nheaders == KUMO__HTTP1_HEADERS_MAX)
            return 431;
        char *value = trim(colon + 1);
        for (const char *v = value; *v; v++)
            if (((unsigned char)*v < ' ' && *v != '\t') || *v == 0x7f)
                return 400;
        r->headers[r->nheaders].name = line;
        r->headers[r->nheaders].value = value;
        r->nheaders++;
        if (strcasecmp(line, "content-length") == 0) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(value, &end, 10);
            if (!isdigit((unsigned char)*value) || *end || errno || (have_cl && n != *content_length))
                return 400;
            if (n > KUMO__HTTP1_BODY_MAX)
                return 413;
            *content_length = (size_t)n;
            have_cl = 1;
        } else if (strcasecmp(line, "transfer-encoding") == 0) {
            if (strcasecmp(value, "chunked") != 0)
                return 501;
            *chunked = 1;
        } else if (strcasecmp(line, "connection") == 0) {
            connection = value;
        }
    }
    if (have_cl && *chunked)
        return 400;
    r->keep_alive = r->minor >= 1 ? !(connection && strcasecmp(connection, "close") == 0)
                                  : (connection && strcasecmp(connection, "keep-alive") == 0);
    return 0;
}

/* Walks a chunked body in p[0..n): returns the bytes it takes when
 * complete (its decoded size in *size), 0 when more is needed, -1 when
 * malformed, -2 when over KUMO__HTTP1_BODY_MAX. With `out`, copies the data there. */
ssize_t kumo__http1_chunked(const char *p, size_t n, size_t *size, char *out)
{
    size_t pos = 0, total = 0;
    for (;;) {
        const char *eol = memmem(p + pos, n - pos, "\r\n", 2);
        if (eol == NULL)
            return n - pos > 1024 ? -1 : 0;
        char *end;
        if (!isxdigit((unsigned char)p[pos]))
            return -1;
        unsigned long long len = strtoull(p + pos, &end, 16);
        if (end > eol || (end < eol && *end != ';' && *end != ' '))
            return -1;
        pos = (size_t)(eol - p) + 2;
        if (len == 0) {
            for (;;) { /* trailers, then the empty line */
                eol = memmem(p + pos, n - pos, "\r\n", 2);
                if (eol == NULL)
                    return n - pos > KUMO__HTTP1_HEAD_MAX ? -1 : 0;
                size_t l = (size_t)(eol - (p + pos));
                pos += l + 2;
                if (l == 0) {
                    *size = total;
                    return (ssize_t)pos;
                }
            }
        }
        if (len > KUMO__HTTP1_BODY_MAX || total + len > KUMO__HTTP1_BODY_MAX)
            return -2;
        if (pos + len + 2 > n)
            return 0;
        if (p[pos + len] != '\r' || p[pos + len + 1] != '\n')
            return -1;
        if (out)
            memcpy(out + total, p + pos, len);
        total += len;
        pos += len + 2;
    }
}

void kumo__http1_req_clear(kumo__http1_req *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}
