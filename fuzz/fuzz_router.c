/*
 * fuzz_router.c: libFuzzer target for the router (src/openapi/router.c):
 * template compilation and matching. The input is text, one item a line:
 *
 *   /v1                      the base path (may be empty)
 *   GET /todos/{id}          routes, "METHOD TEMPLATE", up to a line "--"
 *   --
 *   GET /v1/todos/42         requests, "METHOD PATH", matched in turn
 *
 * The routes become a spec by hand (no document), so every template the
 * fuzzer writes reaches kumo__router_build. Building must succeed or fail
 * with err set. Matching a request must give an operation that serves
 * its method (HEAD by GET), with parameter values that are slices of the
 * request inside one segment; -KUMO__EMETHOD must fill Allow. And every
 * route must match its own template with each parameter replaced by "v"
 * (base path in front), since that path exists by construction.
 * Seeds: fuzz/corpus/router/.
 */
#include "openapi/openapi.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ROUTES_MAX 64

/* A request path in its own exact-size buffer, so that a read past
 * path_len is an ASan error, and the checks of one match. */
static void match_and_check(const kumo__router *r, const kumo__spec *spec, const char *method, const char *p,
                            size_t len, int must_match)
{
    char *path = malloc(len ? len : 1);
    if (path == NULL)
        return;
    memcpy(path, p, len);
    kumo__route_match m;
    int rc = kumo__router_match(r, method, path, len, &m);
    if (rc == 0) {
        if (m.op_index >= spec->nops || m.op != &spec->ops[m.op_index] || m.nparams > KUMO__ROUTE_PARAMS_MAX)
            __builtin_trap();
        if (strcmp(m.op->method, method) != 0 && !(strcmp(method, "HEAD") == 0 && strcmp(m.op->method, "GET") == 0))
            __builtin_trap(); /* an operation that does not serve the method */
        for (size_t i = 0; i < m.nparams; i++) {
            const char *v = m.params[i].value;
            size_t vlen = m.params[i].value_len;
            if (m.params[i].name == NULL || v < path || v + vlen > path + len || vlen == 0 ||
                memchr(v, '/', vlen) != NULL)
                __builtin_trap(); /* a value must be a non-empty slice of one segment */
        }
    } else if (rc == -KUMO__EMETHOD) {
        if (m.allow[0] == '\0')
            __builtin_trap();
    } else if (rc != -ENOENT || must_match) {
        __builtin_trap();
    }
    free(path);
}

/* The template with each {name} replaced by "v", behind the base path. */
static char *concrete_path(const char *base, const char *tmpl, size_t *len)
{
    size_t blen = strlen(base), tlen = strlen(tmpl);
    char *s = malloc(blen + tlen + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, base, blen);
    size_t o = blen;
    for (const char *t = tmpl; *t; t++) {
        if (*t == '{') {
            const char *close = strchr(t, '}');
            if (close) {
                s[o++] = 'v';
                t = close;
                continue;
            }
        }
        s[o++] = *t;
    }
    *len = o;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    kumo__spec spec = {0};
    kumo__operation ops[ROUTES_MAX];
    kumo__router *r = NULL;
    kumo__error err = {0};
    memset(ops, 0, sizeof ops);
    spec.ops = ops;

    /* line 1: the base path */
    const char *nl = memchr(p, '\n', size);
    const char *line_end = nl ? nl : end;
    if ((spec.base_path = strndup(p, (size_t)(line_end - p))) == NULL)
        return 0;
    p = nl ? nl + 1 : end;

    /* routes, up to "--" */
    while (p < end && spec.nops < ROUTES_MAX) {
        nl = memchr(p, '\n', (size_t)(end - p));
        line_end = nl ? nl : end;
        size_t len = (size_t)(line_end - p);
        const char *next = nl ? nl + 1 : end;
        if (len == 2 && memcmp(p, "--", 2) == 0) {
            p = next;
            break;
        }
        const char *sp = memchr(p, ' ', len);
        if (sp) {
            kumo__operation *op = &ops[spec.nops];
            op->method = strndup(p, (size_t)(sp - p));
            op->path = strndup(sp + 1, (size_t)(line_end - sp - 1));
            op->unit_index = -1;
            spec.nops++;
            if (op->method == NULL || op->path == NULL)
                goto out;
        }
        p = next;
    }

    int rc = kumo__router_build(&spec, &r, &err);
    if (rc < 0) {
        if (r != NULL || err.code == 0 || err.msg[0] == '\0')
            __builtin_trap(); /* a refusal says why and builds nothing */
        goto out;
    }
    if (rc != 0 || r == NULL)
        __builtin_trap();

    /* every route is reachable through its own template */
    for (size_t i = 0; i < spec.nops; i++) {
        size_t len;
        char *path = concrete_path(spec.base_path, ops[i].path, &len);
        if (path == NULL)
            goto out;
        match_and_check(r, &spec, ops[i].method, path, len, 1);
        free(path);
    }

    /* the requests */
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        line_end = nl ? nl : end;
        size_t len = (size_t)(line_end - p);
        const char *sp = memchr(p, ' ', len);
        if (sp) {
            char *method = strndup(p, (size_t)(sp - p));
            if (method == NULL)
                goto out;
            match_and_check(r, &spec, method, sp + 1, (size_t)(line_end - sp - 1), 0);
            free(method);
        }
        p = nl ? nl + 1 : end;
    }

out:
    kumo__router_free(r);
    for (size_t i = 0; i < spec.nops; i++) {
        free(ops[i].method);
        free(ops[i].path);
    }
    free(spec.base_path);
    return 0;
}
