/*
 * invoke.c: `kumo invoke EVENT [--admin-port N] [--host ADDR]
 * [--admin-token-file FILE]` asks a running `kumo up` to fire the schedule
 * event EVENT now (POST /events/EVENT/fire on its admin port, with the
 * admin token when there is one) and waits for the handler's answer: it
 * prints the handler's status and the tick's request id, and succeeds on
 * a 2xx. The tick carries `ce-kumotrigger: manual` and leaves the
 * schedule's plan (DATA_DIR/events/EVENT.last) alone. See docs/events.md.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define ANSWER_MAX (64u << 10)
/* How long to wait for the handler: its unit's timeout, which is rarely
 * over an hour; past this the outcome is only in kumo's log. */
#define INVOKE_TIMEOUT_S 3700
/* Event names are [a-z0-9_-]+ (kumo.yaml); the path has a ceiling. */
#define NAME_MAX_LEN 200

int kumo__cmd_invoke(int argc, char **argv, kumo__error *err)
{
    kumo__admin_target to = {.host = "127.0.0.1", .port = 8081};
    const char *name = NULL;
    for (int i = 0; i < argc; i++) {
        int rc = kumo__admin_option(argc, argv, &i, &to, err);
        if (rc < 0)
            return rc;
        if (rc == 1)
            continue;
        if (argv[i][0] == '-' || name != NULL) {
            kumo__error_set(err, -KUMO__EUSAGE, "unknown argument '%s'", argv[i]);
            return err->code;
        }
        name = argv[i];
    }
    if (name == NULL) {
        kumo__error_set(err, -KUMO__EUSAGE, "which event? (`kumo events` lists them)");
        return err->code;
    }
    size_t len = strlen(name);
    if (len == 0 || len > NAME_MAX_LEN || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != len) {
        kumo__error_set(err, -KUMO__EUSAGE, "'%.*s' is not an event name: kumo.yaml's are [a-z0-9_-]+ (at most %d)",
                        NAME_MAX_LEN, name, NAME_MAX_LEN);
        return err->code;
    }
    char token[KUMO__ADMIN_TOKEN_MAX + 1];
    int rc = kumo__admin_token(to.token_file, token, sizeof(token), err);
    if (rc != 0)
        return rc;
    char path[NAME_MAX_LEN + 32];
    snprintf(path, sizeof(path), "/events/%s/fire", name);
    int status = 0;
    char *body = NULL;
    rc = kumo__admin_request(to.host, to.port, "POST", path, token, INVOKE_TIMEOUT_S, ANSWER_MAX, &status, NULL, &body,
                             err);
    if (rc != 0)
        return rc;
    json_error_t jerr;
    json_t *doc = json_loads(body, 0, &jerr);
    const char *detail = json_string_value(json_object_get(doc, "detail"));
    if (status == 200 && json_is_integer(json_object_get(doc, "status"))) {
        int handler = (int)json_integer_value(json_object_get(doc, "status"));
        const char *id = json_string_value(json_object_get(doc, "request_id"));
        const char *error = json_string_value(json_object_get(doc, "error"));
        double ms = (double)json_integer_value(json_object_get(doc, "duration_us")) / 1000.0;
        printf("event %s: status %d, request id %s (%.1f ms)\n", name, handler, id ? id : "?", ms);
        if (handler < 200 || handler > 299) {
            kumo__error_set(err, -EIO, "the handler answered %d%s%.600s", handler, error ? ": " : "",
                            error ? error : "");
            rc = err->code;
        }
    } else if (status == 401) {
        kumo__error_set(err, -EACCES, "%s", detail ? detail : body);
        rc = err->code;
    } else if (status == 404) {
        kumo__error_set(err, -ENOENT, "%s", detail ? detail : body);
        rc = err->code;
    } else if (status == 409) {
        kumo__error_set(err, -EBUSY, "%s", detail ? detail : body);
        rc = err->code;
    } else {
        kumo__error_set(err, -EPROTO, "the admin port answered %d: %.300s", status, detail ? detail : body);
        rc = err->code;
    }
    json_decref(doc);
    free(body);
    return rc;
}
