/*
 * reload.c: `kumo reload [--admin-port N] [--host ADDR] [--admin-token-file
 * FILE]` asks a running `kumo up` to load the project again (POST /reload
 * on its admin port, loopback by default, with the admin token when there
 * is one) and waits for the outcome: the new generation's summary on
 * success, or why the files were refused (file:line:column), in which case
 * the old generation is still serving. See docs/reload.md.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define ANSWER_MAX (256u << 10)
/* A reload may compile every unit: wait as long as a slow build takes. */
#define RELOAD_TIMEOUT_S 600
/* The longest Retry-After `kumo reload` waits out by itself. */
#define RETRY_WAIT_MAX_S 10

int kumo__cmd_reload(int argc, char **argv, kumo__error *err)
{
    kumo__admin_target to = {.host = "127.0.0.1", .port = 8081};
    for (int i = 0; i < argc; i++) {
        int rc = kumo__admin_option(argc, argv, &i, &to, err);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            kumo__error_set(err, -KUMO__EUSAGE, "unknown argument '%s'", argv[i]);
            return err->code;
        }
    }
    char token[KUMO__ADMIN_TOKEN_MAX + 1];
    int rc = kumo__admin_token(to.token_file, token, sizeof(token), err);
    if (rc != 0)
        return rc;
    int status = 0, retry_after = -1;
    char *body = NULL;
    /* kumo up starts at most one reload per --reload-interval: asked again
     * right after one, wait what it says (a few times) rather than fail. */
    for (int attempt = 0;; attempt++) {
        rc = kumo__admin_request(to.host, to.port, "POST", "/reload", token, RELOAD_TIMEOUT_S, ANSWER_MAX, &status,
                                 &retry_after, &body, err);
        if (rc != 0 || status != 429 || retry_after < 0 || retry_after > RETRY_WAIT_MAX_S || attempt == 3)
            break;
        free(body);
        body = NULL;
        fprintf(stderr, "kumo reload: a reload ran moments ago; asking again in %d s\n", retry_after);
        sleep((unsigned)retry_after);
    }
    if (rc != 0) {
        if (rc != -KUMO__EUSAGE && rc != -EPROTO && rc != -EMSGSIZE) {
            size_t n = strlen(err->msg);
            snprintf(err->msg + n, sizeof(err->msg) - n, " Without an admin port, send it SIGHUP");
        }
        return rc;
    }
    json_error_t jerr;
    json_t *doc = json_loads(body, 0, &jerr);
    const char *detail = json_string_value(json_object_get(doc, "detail"));
    const char *how = json_string_value(json_object_get(doc, "status"));
    if (status == 200 && how && strcmp(how, "unchanged") == 0) {
        printf("kumo: %s\n", detail ? detail : "nothing changed");
    } else if (status == 200) {
        printf("kumo: reloaded: %s\n", detail ? detail : "ok");
    } else if (status == 401) {
        kumo__error_set(err, -EACCES, "%s", detail ? detail : body);
        rc = err->code;
    } else if (status == 422) {
        kumo__error_set(err, -EINVAL, "the new files were refused; the running generation keeps serving:\n%s",
                        detail ? detail : body);
        rc = err->code;
    } else {
        kumo__error_set(err, -EPROTO, "the admin port answered %d: %.300s", status, detail ? detail : body);
        rc = err->code;
    }
    json_decref(doc);
    free(body);
    return rc;
}
