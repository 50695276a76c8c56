/*
 * init_from.c: `kumo init --from SPEC [DIR]`: a project around an existing
 * OpenAPI document. Every operation gets a stub handler, the C function
 * its operationId (or x-kumo-handler) names, in functions/UNIT.c (unit
 * "api" unless x-kumo-handler names another), answering what `kumo mock`
 * would answer for it: the lowest 2xx response, its declared example or
 * one made from its schema (gateway/mock.c over openapi/example.c, the
 * same seed), its declared headers. So `kumo up` serves the document's
 * examples from C at once, and each stub is the place to write the real
 * handler. A test (tests/api_test.c) calls every operation that needs no
 * parameter, body or credential, and expects the stub's status.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/growbuf.h"
#include "cli/cli.h"
#include "cli/init.h"
#include "gateway/mock.h"
#include "openapi/openapi.h"
#include "openapi/security.h"

#define GENERATED_MAX (64u << 20)
#define UNITS_MAX 64

/* What one stub answers. */
typedef struct stub {
    const kumo__operation *op;
    size_t op_index;
    const char *unit; /* "api", or x-kumo-handler's UNIT */
    int dup;          /* a symbol already stubbed in its unit: no second function */
    kumo__mock_reply reply;
    int answered; /* reply holds the mock's answer */
} stub;

static void add(kumo__growbuf *b, const char *s)
{
    kumo__growbuf_add(b, s, strlen(s));
}

static void addf(kumo__growbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(kumo__growbuf *b, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        kumo__growbuf_add(b, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* `s` (n bytes) as C string literals, one per line of at most ~90 bytes
 * (and after each newline), each line starting with `indent`. */
static void c_literal(kumo__growbuf *b, const char *s, size_t n, const char *indent)
{
    size_t col = 0;
    add(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == '"' || c == '\\')
            snprintf(e, sizeof(e), "\\%c", c);
        else if (c == '\n')
            snprintf(e, sizeof(e), "\\n");
        else if (c == '\t')
            snprintf(e, sizeof(e), "\\t");
        else if (c < 0x20 || c >= 0x7f || c == '?') /* octal: no trigraphs, no hex run-on */
            snprintf(e, sizeof(e), "\\%03o", c);
        else
            snprintf(e, sizeof(e), "%c", c);
        add(b, e);
        col += strlen(e);
        if ((c == '\n' || col >= 90) && i + 1 < n) {
            addf(b, "\"\n%s\"", indent);
            col = 0;
        }
    }
    add(b, "\"");
}

static int is_c_identifier(const char *s)
{
    if (s == NULL || !(isalpha((unsigned char)*s) || *s == '_'))
        return 0;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_'))
            return 0;
    return 1;
}

/* A function unit's name as kumo.yaml takes it (it names a .so). */
static int unit_name_ok(const char *s)
{
    if (*s == '\0' || strlen(s) > 63)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* `s` as a YAML single-quoted scalar into b. */
static void yaml_quoted(kumo__growbuf *b, const char *s)
{
    add(b, "'");
    for (; *s; s++)
        kumo__growbuf_add(b, *s == '\'' ? "''" : s, *s == '\'' ? 2 : 1);
    add(b, "'");
}

/* Whether the document (its main file) refers to another file. */
static int refers_out(const json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            if (strcmp(k, "$ref") == 0 && json_is_string(x) && json_string_value(x)[0] != '#')
                return 1;
            if (refers_out(x))
                return 1;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (refers_out(json_array_get(v, i)))
                return 1;
    }
    return 0;
}

static int read_file(const char *path, char **out, size_t *len, kumo__error *err)
{
    FILE *f = fopen(path, "re");
    kumo__growbuf b = {.max = GENERATED_MAX};
    if (f == NULL) {
        kumo__error_set(err, -errno, "%s: %s", path, strerror(errno));
        return err->code;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        if (kumo__growbuf_add(&b, buf, n) != 0)
            break;
    int bad = ferror(f) || b.over;
    fclose(f);
    if (bad || b.data == NULL) {
        free(b.data);
        kumo__error_set(err, -EIO, "%s: cannot be read%s", path, b.over ? " (over 64 MiB)" : "");
        return err->code;
    }
    *out = b.data;
    *len = b.len;
    return 0;
}

/* Text from the document inside a C comment: no comment end in it. */
static const char *comment_safe(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 3 < cap; s++) {
        buf[n++] = *s;
        if (*s == '*' && s[1] == '/')
            buf[n++] = ' ';
    }
    buf[n] = '\0';
    return buf;
}

/* The stub of s, a C function, into b. */
static void write_stub(kumo__growbuf *b, const stub *s, const char *why)
{
    const kumo__operation *op = s->op;
    const kumo__mock_reply *r = &s->reply;
    char c1[512], c2[256];
    addf(b, "\n/* %s %s", op->method, comment_safe(op->path, c1, sizeof(c1)));
    if (op->operation_id && strcmp(op->operation_id, op->symbol) != 0)
        addf(b, " (%s)", op->operation_id);
    if (why)
        addf(b, ": the document gives no example kumo can make (%s); answers 501 until written */\n",
             comment_safe(why, c2, sizeof(c2)));
    else if (r->body_len)
        addf(b, ": the document's %d %s example, until written */\n", r->status,
             comment_safe(r->content_type ? r->content_type : "application/problem+json", c2, sizeof(c2)));
    else
        addf(b, ": %d, until written */\n", r->status);
    addf(b, "int %s(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)\n{\n", op->symbol);
    if (why) {
        add(b, "    (void)ctx;\n    (void)req;\n");
        add(b, "    return kumo_response_problem(res, 501, NULL, ");
        c_literal(b, op->symbol, strlen(op->symbol), "        ");
        add(b, " \" is not written yet\");\n}\n");
        return;
    }
    if (r->body_len) {
        add(b, "    static const char body[] = ");
        c_literal(b, r->body, r->body_len, "                               ");
        add(b, ";\n");
    }
    add(b, "    (void)ctx;\n    (void)req;\n");
    for (size_t i = 0; i < r->nheaders; i++) {
        add(b, "    kumo_response_header(res, ");
        c_literal(b, r->headers[i].name, strlen(r->headers[i].name), "        ");
        add(b, ", ");
        c_literal(b, r->headers[i].value, strlen(r->headers[i].value), "        ");
        add(b, ");\n");
    }
    addf(b, "    kumo_response_status(res, %d);\n", r->status);
    if (r->body_len) {
        add(b, "    return kumo_response_body(res, body, sizeof(body) - 1, ");
        const char *ct = r->content_type ? r->content_type : "application/problem+json";
        c_literal(b, ct, strlen(ct), "        ");
        add(b, ");\n}\n");
    } else {
        add(b, "    return 0;\n}\n");
    }
}

/* Whether a test can call op with nothing: GET, no templated path, no
 * required parameter, no credential. */
static int callable_bare(const kumo__spec *spec, const stub *s)
{
    const kumo__operation *op = s->op;
    if (strcmp(op->method, "GET") != 0 || strchr(op->path, '{') || !kumo__security_op_anonymous(spec, s->op_index))
        return 0;
    for (size_t i = 0; i < op->nparams; i++)
        if (op->params[i].required)
            return 0;
    return s->answered && s->reply.status >= 200 && s->reply.status < 300;
}

int kumo__init_from(const char *dir, const char *spec_path, const char *name, kumo__error *err)
{
    char real_dir[PATH_MAX], real_spec[PATH_MAX];
    kumo__spec *spec = NULL;
    kumo__mock *m = NULL;
    stub *stubs = NULL;
    const char *units[UNITS_MAX];
    size_t nunits = 0, nstubs = 0, nfiles = 0;
    kumo__init_out files[UNITS_MAX + 6];
    kumo__growbuf gen[UNITS_MAX + 6];
    memset(files, 0, sizeof(files));
    memset(gen, 0, sizeof(gen));
    int rc = 0;
    if (realpath(dir, real_dir) == NULL || realpath(spec_path, real_spec) == NULL) {
        kumo__error_set(err, -errno, "%s: %s", realpath(dir, real_dir) ? spec_path : dir, strerror(errno));
        return err->code;
    }
    if ((rc = kumo__spec_load(real_spec, &spec, err)) != 0)
        goto out;

    /* api: the document where it is when it lies in DIR, else a copy */
    const char *api = NULL;
    size_t dl = strlen(real_dir);
    if (strncmp(real_spec, real_dir, dl) == 0 && real_spec[dl] == '/') {
        api = real_spec + dl + 1;
    } else {
        if (refers_out(kumo__doc_root(spec->doc))) {
            kumo__error_set(err, -EINVAL,
                            "%s refers to other files and lies outside %s: kumo.yaml's api: names a file of the "
                            "project; move the document and its files into %s and run kumo init --from there",
                            spec_path, dir, dir);
            rc = err->code;
            goto out;
        }
        api = strrchr(real_spec, '/') + 1;
        files[nfiles].path = api;
        if ((rc = read_file(real_spec, &files[nfiles].owned, &files[nfiles].len, err)) != 0)
            goto out;
        files[nfiles].data = files[nfiles].owned;
        nfiles++;
    }

    kumo__mock_config mc = {.seed = 0};
    if ((rc = kumo__mock_build(spec, NULL, &mc, &m, err)) != 0)
        goto out;
    stubs = calloc(spec->nops ? spec->nops : 1, sizeof(*stubs));
    if (stubs == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < spec->nops; i++) {
        const kumo__operation *op = &spec->ops[i];
        if (op->symbol == NULL && op->operation_id != NULL) {
            kumo__doc_value_error(err, kumo__spec_doc_of(spec, op->node), op->node, "operationId",
                                  "%s %s: '%s' is not a C identifier, and a handler is the C function its "
                                  "operationId names; rename it, or add x-kumo-handler: UNIT.SYMBOL",
                                  op->method, op->path, op->operation_id);
            rc = err->code;
            goto out;
        }
        if (op->symbol == NULL) {
            printf("note: %s %s has no operationId: no stub; it answers 501 until it has one\n", op->method, op->path);
            continue;
        }
        if (!is_c_identifier(op->symbol)) {
            kumo__doc_value_error(err, kumo__spec_doc_of(spec, op->node), op->node,
                                  op->unit ? "x-kumo-handler" : "operationId",
                                  "%s %s: '%s' is not a C identifier, and a handler is the C function of that name; "
                                  "rename it, or add x-kumo-handler: UNIT.SYMBOL",
                                  op->method, op->path, op->symbol);
            rc = err->code;
            goto out;
        }
        if (op->unit && !unit_name_ok(op->unit)) {
            kumo__doc_value_error(err, kumo__spec_doc_of(spec, op->node), op->node, "x-kumo-handler",
                                  "%s %s: the unit '%s' cannot be a function unit of kumo.yaml: a unit's name is 1 "
                                  "to 63 of a-z, 0-9, '_' and '-'",
                                  op->method, op->path, op->unit);
            rc = err->code;
            goto out;
        }
        stub *s = &stubs[nstubs++];
        s->op = op;
        s->op_index = i;
        s->unit = op->unit ? op->unit : "api";
        for (size_t k = 0; k + 1 < nstubs; k++)
            if (strcmp(stubs[k].unit, s->unit) == 0 && strcmp(stubs[k].op->symbol, op->symbol) == 0)
                s->dup = 1;
        size_t u = 0;
        while (u < nunits && strcmp(units[u], s->unit) != 0)
            u++;
        if (u == nunits) {
            if (nunits == UNITS_MAX) {
                kumo__error_set(err, -E2BIG, "%s: more than %d units in x-kumo-handler", spec_path, UNITS_MAX);
                rc = err->code;
                goto out;
            }
            units[nunits++] = s->unit;
        }
        kumo__http_in in = {.method = {op->method, strlen(op->method)}, .path = {op->path, strlen(op->path)}};
        kumo__mock_request rq = {.op = op, .op_index = i, .in = &in, .request_id = "kumo-init"};
        if (kumo__mock_answer(m, &rq, &s->reply) != 0) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            rc = -ENOMEM;
            goto out;
        }
        s->answered = 1;
    }
    if (nstubs == 0) {
        kumo__error_set(err, -EINVAL, "%s has no operation with an operationId: nothing to write a handler for",
                        spec_path);
        rc = err->code;
        goto out;
    }

    /* functions/UNIT.c, one per unit */
    for (size_t u = 0; u < nunits; u++) {
        kumo__growbuf *b = &gen[nfiles];
        b->max = GENERATED_MAX;
        addf(b,
             "/*\n * %s.c: the handlers of function unit '%s', written by kumo init --from %s: one\n"
             " * stub per operation, answering what kumo mock answers for it (the\n"
             " * document's example) until you write it. kumo checks each request\n"
             " * against the document before a handler runs (docs/testing.md, docs/sdk.md).\n */\n"
             "#include <kumo.h>\n",
             units[u], units[u], api);
        for (size_t i = 0; i < nstubs; i++) {
            const stub *s = &stubs[i];
            if (strcmp(s->unit, units[u]) != 0 || s->dup)
                continue;
            /* a 500 of the mock's own: no example can be made */
            int made = !(s->reply.status == 500 && s->reply.content_type == NULL && s->reply.body_len);
            const char *why = NULL;
            if (!made) {
                json_t *doc = json_loadb(s->reply.body, s->reply.body_len, 0, NULL);
                why = json_string_value(json_object_get(doc, "detail"));
                write_stub(b, s, why ? why : "see kumo mock");
                json_decref(doc);
            } else {
                write_stub(b, s, NULL);
            }
        }
        char *path;
        if (asprintf(&path, "functions/%s.c", units[u]) < 0 || b->over || b->data == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            rc = -ENOMEM;
            goto out;
        }
        files[nfiles] = (kumo__init_out){path, b->data, b->len, path};
        nfiles++;
    }

    /* kumo.yaml */
    kumo__growbuf *y = &gen[nfiles];
    y->max = GENERATED_MAX;
    addf(y,
         "# %s: written by kumo init --from %s. Each operation's handler is a stub in\n"
         "# functions/ answering the document's example until you write it.\n"
         "#   kumo up      serves it on http://localhost:8080\n"
         "#   kumo test    runs tests/ against the handlers, in process\n"
         "name: '%s'\napi: ",
         name, api, name);
    yaml_quoted(y, api);
    add(y, "\nfunctions:\n");
    for (size_t u = 0; u < nunits; u++)
        addf(y, "  %s: {sources: [functions/%s.c]}\n", units[u], units[u]);
    files[nfiles++] = (kumo__init_out){"kumo.yaml", y->data, y->len, NULL};

    /* tests/api_test.c */
    kumo__growbuf *t = &gen[nfiles];
    t->max = GENERATED_MAX;
    add(t, "/*\n * api_test.c: written by kumo init --from: each operation that needs no\n"
           " * parameter, body or credential, called in process as kumo serves it, and\n"
           " * answered by its stub; add a test per operation as you write it\n"
           " * (docs/testing.md).\n */\n#include <kumo_test.h>\n");
    for (size_t i = 0; i < nstubs; i++) {
        const stub *s = &stubs[i];
        if (s->dup || !callable_bare(spec, s))
            continue;
        addf(t, "\nKUMO_TEST(%s_answers)\n{\n    kumo_test_response *r = kumo_test_get(t, ", s->op->symbol);
        char target[2048];
        snprintf(target, sizeof(target), "%s%s", spec->base_path, s->op->path);
        c_literal(t, target, strlen(target), "        ");
        addf(t, ");\n    KUMO_ASSERT_STATUS(r, %d);\n}\n", s->reply.status);
    }
    add(t, "\nKUMO_TEST(unknown_path_is_404)\n{\n"
           "    kumo_test_response *r = kumo_test_get(t, \"/no/such/path/in/the/document\");\n"
           "    KUMO_ASSERT_STATUS(r, 404);\n}\n");
    files[nfiles++] = (kumo__init_out){"tests/api_test.c", t->data, t->len, NULL};

    kumo__growbuf *rd = &gen[nfiles];
    rd->max = GENERATED_MAX;
    addf(rd,
         "# %s\n\nA kumo project around `%s`. Every operation has a stub handler in\n"
         "`functions/` (the C function its operationId names) answering the\n"
         "document's example; replace each with the real code, and add a test to\n"
         "`tests/` as you go.\n\n"
         "    kumo up      # serve on http://localhost:8080\n"
         "    kumo test    # run tests/*.c against the handlers, in process\n"
         "    kumo lint    # check kumo.yaml and the document\n",
         name, api);
    files[nfiles++] = (kumo__init_out){"README.md", rd->data, rd->len, NULL};
    files[nfiles++] = (kumo__init_out){".gitignore", ".kumo/\n", 7, NULL};
    for (size_t i = 0; i < nfiles; i++)
        if (files[i].data == NULL || gen[i].over) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            rc = -ENOMEM;
            goto out;
        }
    if ((rc = kumo__init_write(dir, files, nfiles, err)) != 0)
        goto out;
    printf("\nproject '%s': %zu stub%s for %s in %s; next:\n  cd %s\n  kumo test\n  kumo up\n", name, nstubs,
           nstubs == 1 ? "" : "s", spec_path, dir, dir);
out:
    for (size_t i = 0; i < nstubs; i++)
        if (stubs[i].answered)
            kumo__mock_reply_free(&stubs[i].reply);
    free(stubs);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        free(files[i].owned);
    for (size_t i = 0; i < sizeof(gen) / sizeof(gen[0]); i++)
        free(gen[i].data);
    kumo__mock_free(m);
    kumo__spec_free(spec);
    return rc;
}
