/*
 * dump.c: answers with the worker's whole environment as a JSON object.
 * Built twice (units alpha and beta), its symbol named by cflags: -DDUMP=.
 */
#include <kumo.h>
#include <string.h>

extern char **environ;

int DUMP(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    json_t *o = json_object();
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (eq == NULL)
            continue;
        char name[256];
        size_t n = (size_t)(eq - *e) < sizeof(name) - 1 ? (size_t)(eq - *e) : sizeof(name) - 1;
        memcpy(name, *e, n);
        name[n] = '\0';
        json_object_set_new(o, name, json_string(eq + 1));
    }
    return kumo_response_json(res, 200, o);
}
