/*
 * event_data.c: an event's `data:` schema. kumo.yaml only keeps the JSON
 * pointer as written (project.c; the project does not read the OpenAPI
 * document); here it is resolved in the spec's main document, as a $ref
 * "#/..." fragment would be, and compiled with the spec's dialect and $ref
 * resolver, so a data schema may use every keyword and $ref a request
 * body's schema may. The consumer validates a message against it before
 * any handler sees it (src/gateway/consumer.c).
 */
#include "project/event_data.h"
#include "openapi/pointer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kumo__event_data_free(kumo__schema **schemas, size_t n)
{
    for (size_t i = 0; schemas && i < n; i++)
        kumo__schema_free(schemas[i]);
    free(schemas);
}

/* "A, B, C" (at most 20, then ", ...") of the members of `o`, into buf. */
static void list_names(const json_t *o, char *buf, size_t size)
{
    const char *key;
    json_t *v;
    size_t n = 0, len = 0;
    buf[0] = '\0';
    json_object_foreach((json_t *)o, key, v)
    {
        if (len + 1 >= size)
            break;
        int w = snprintf(buf + len, size - len, "%s%s", n ? ", " : "", n < 20 ? key : "...");
        len += w > 0 ? (size_t)w : 0;
        if (++n > 20)
            break;
    }
    if (len >= size)
        buf[size - 1] = '\0';
}

/* Where the document keeps its schemas: components/schemas, or Swagger
 * 2.0's definitions. */
static const char *schemas_home(const kumo__spec *spec)
{
    return spec->version == 20 ? "/definitions" : "/components/schemas";
}

int kumo__event_data_compile(const kumo__project *p, const kumo__spec *spec, kumo__schema ***out, kumo__error *err)
{
    const char *file = p->doc ? kumo__doc_path(p->doc) : "kumo.yaml";
    json_t *root = spec && spec->doc ? kumo__doc_root(spec->doc) : NULL;
    kumo__schema **all = calloc(p->nevents ? p->nevents : 1, sizeof(*all));
    *out = NULL;
    if (all == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *e = &p->events[i];
        if (e->data == NULL)
            continue;
        if (spec == NULL) { /* a caller without a document (a unit test) and a data: to resolve */
            kumo__event_data_free(all, p->nevents);
            kumo__error_set(err, -EINVAL, "%s:%d:%d: events.%s.data: no OpenAPI document to resolve it in", file,
                            e->data_line, e->data_col, e->name);
            return -EINVAL;
        }
        /* "#/components/schemas/Order": a URI fragment, percent-decoded */
        const char *ptr = e->data + 1;
        json_t *node = root ? kumo__pointer_get(root, ptr, strlen(ptr), 1) : NULL;
        if (node == NULL || !(json_is_object(node) || json_is_boolean(node))) {
            char names[600];
            const char *home = schemas_home(spec);
            json_t *where = root ? kumo__pointer_get(root, home, strlen(home), 0) : NULL;
            if (json_is_object(where) && json_object_size(where) > 0)
                list_names(where, names, sizeof(names));
            else
                snprintf(names, sizeof(names), "none");
            const char *api = spec->doc ? kumo__doc_path(spec->doc) : p->api_path;
            size_t dl = p->dir ? strlen(p->dir) : 0;
            if (dl && strncmp(api, p->dir, dl) == 0 && api[dl] == '/')
                api += dl + 1; /* as kumo.yaml names it */
            kumo__error_set(err, -EINVAL,
                            "%s:%d:%d: events.%s.data: %s '%s' in %s; the schemas under #%s are: %s; name one of them",
                            file, e->data_line, e->data_col, e->name, node ? "no schema at" : "nothing at", e->data,
                            api, home, names);
            goto fail;
        }
        if (kumo__schema_compile(node, (kumo__dialect)spec->dialect, ptr, spec->refs, &all[i], err) != 0) {
            kumo__error_wrap(err, "%s:%d:%d: events.%s.data: the schema at '%s' does not compile", file, e->data_line,
                             e->data_col, e->name, e->data);
            goto fail;
        }
    }
    *out = all;
    return 0;
fail:
    kumo__event_data_free(all, p->nevents);
    return err->code ? err->code : -EINVAL;
}

int kumo__event_data_check(const kumo__schema *schema, const char *body, size_t len, char *why, size_t why_len)
{
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
    if (doc == NULL) {
        snprintf(why, why_len, "the data is not JSON: %s at byte %d", jerr.text, jerr.position);
        return 1;
    }
    kumo__violations v = {.limit = 20};
    int rc = kumo__schema_validate(schema, doc, KUMO__DIR_REQUEST, &v);
    json_decref(doc);
    if (rc == 1) {
        size_t n = 0;
        why[0] = '\0';
        for (size_t i = 0; i < v.count && n + 1 < why_len; i++) {
            int w =
                snprintf(why + n, why_len - n, "%s/data%s: %s", i ? "; " : "", v.items[i].instance, v.items[i].message);
            n += w > 0 ? (size_t)w : 0;
        }
        if (v.truncated && n + 1 < why_len)
            snprintf(why + n, why_len - n, "; ...");
    }
    kumo__violations_free(&v);
    return rc;
}
