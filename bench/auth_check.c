/*
 * auth_check.c: the CPU one security check costs, in process, without the
 * network (bench/auth.sh builds and runs it): kumo__auth_check on an
 * apiKey operation and on three http basic ones whose users' hashes are
 * yescrypt, bcrypt (cost 10) and sha512crypt (libcrypt's default costs).
 * For each, the first check (a Basic user's runs crypt) and then the mean
 * of many (a Basic user's hit the cache of successful checks). Then an
 * ES256 bearer token scheme (operation j): the mean over the distinct
 * tokens of DIR/tokens, each seen once (cold: a signature verified), and
 * the mean of many checks of one token (the verified-token cache).
 *
 *   auth_check DIR   (DIR holds spec.yaml, cfg.yaml, users.htpasswd,
 *                     jwks.json and tokens, one a line)
 */
#include "auth/jwt.h"
#include "auth/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Checks up to `limit` of the ES256 tokens in path (one a line) against
 * operation op, each once: the seconds spent, *n of them, the first token
 * in first (4096 bytes); -1 when one is refused. */
static double cold_checks(kumo__auth *a, size_t op, const char *path, size_t limit, size_t *n, char *first)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    double spent = 0;
    *n = 0;
    while (f && *n < limit && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (*n == 0)
            snprintf(first, 4096, "%s", line);
        char value[4200];
        snprintf(value, sizeof(value), "Bearer %s", line);
        kumo__header_view h = {{"authorization", 13}, {value, strlen(value)}};
        kumo__auth_request rq = {.headers = &h, .nheaders = 1};
        kumo__auth_result r;
        double t0 = now();
        kumo__auth_check(a, op, &rq, &r);
        spent += now() - t0;
        if (r.status != 0) {
            fprintf(stderr, "auth_check: ES256: %d %s\n", r.status, r.detail);
            fclose(f);
            return -1;
        }
        kumo__auth_result_free(&r);
        (*n)++;
    }
    if (f)
        fclose(f);
    return spent;
}

int main(int argc, char **argv)
{
    char spec_path[4096], cfg_path[4096];
    kumo__error err = {0};
    kumo__spec *spec = NULL;
    kumo__auth *a = NULL;
    kumo__doc *cfg = NULL;
    if (argc != 2)
        return 2;
    snprintf(spec_path, sizeof(spec_path), "%s/spec.yaml", argv[1]);
    snprintf(cfg_path, sizeof(cfg_path), "%s/cfg.yaml", argv[1]);
    if (kumo__spec_load(spec_path, &spec, &err) != 0 || kumo__doc_load(cfg_path, &cfg, &err) != 0 ||
        kumo__auth_build_from(spec, cfg, json_object_get(kumo__doc_root(cfg), "security"), NULL, argv[1], "bench", NULL,
                              NULL, NULL, NULL, &a, &err) != 0) {
        fprintf(stderr, "auth_check: %s\n", err.msg);
        return 1;
    }
    /* operations in spec.yaml's order: key, yescrypt, bcrypt, sha512crypt */
    static const char *const names[] = {"apiKey", "basic, yescrypt", "basic, bcrypt", "basic, sha512crypt"};
    static const char *const values[] = {"k-bench-0123456789",
                                         "Basic eTpwdw==", "Basic Yjpwdw==", "Basic czpwdw=="}; /* y:pw, b:pw, s:pw */
    for (size_t k = 0; k < 4; k++) {
        kumo__header_view h = {{k ? "authorization" : "x-api-key", k ? 13 : 9}, {values[k], strlen(values[k])}};
        kumo__auth_request rq = {.headers = &h, .nheaders = 1};
        kumo__auth_result r;
        size_t op = 0;
        while (op < spec->nops && strcmp(spec->ops[op].operation_id, k == 0   ? "key"
                                                                     : k == 1 ? "y"
                                                                     : k == 2 ? "b"
                                                                              : "s"))
            op++;
        double t0 = now();
        kumo__auth_check(a, op, &rq, &r);
        double first = now() - t0;
        if (r.status != 0) {
            fprintf(stderr, "auth_check: %s: %d %s\n", names[k], r.status, r.detail);
            return 1;
        }
        int n = 200000;
        t0 = now();
        for (int i = 0; i < n; i++)
            kumo__auth_check(a, op, &rq, &r);
        printf("%-20s first %9.3f ms, then %5.2f us a check\n", names[k], first * 1e3, (now() - t0) / n * 1e6);
    }
    char tok_path[4200];
    snprintf(tok_path, sizeof(tok_path), "%s/tokens", argv[1]);
    size_t op = 0, ntok = 0;
    while (op < spec->nops && strcmp(spec->ops[op].operation_id, "j"))
        op++;
    static char first_tok[4096];
    double cold = cold_checks(a, op, tok_path, (size_t)-1, &ntok, first_tok);
    if (cold < 0)
        return 1;
    if (ntok > 1) {
        char value[4200];
        snprintf(value, sizeof(value), "Bearer %s", first_tok);
        kumo__header_view h = {{"authorization", 13}, {value, strlen(value)}};
        kumo__auth_request rq = {.headers = &h, .nheaders = 1};
        kumo__auth_result r;
        int n = 200000;
        double t0 = now();
        for (int i = 0; i < n; i++) {
            kumo__auth_check(a, op, &rq, &r);
            kumo__auth_result_free(&r);
        }
        printf("%-20s cold %6.2f us a check (%zu distinct tokens), cached %5.2f us a check\n", "bearer, ES256",
               cold / (double)ntok * 1e6, ntok, (now() - t0) / n * 1e6);
    }
    /* The same tokens verified with BearSSL, as a lean host without
     * libcrypto does (its scheme's algorithms pin no EdDSA): a new
     * policy, so that none is cached; the first 500. */
    kumo__auth *lean = NULL;
    kumo__jwt_prefer_bearssl(1);
    if (ntok > 1 && kumo__auth_build_from(spec, cfg, json_object_get(kumo__doc_root(cfg), "security"), NULL, argv[1],
                                          "bench", NULL, NULL, NULL, NULL, &lean, &err) == 0) {
        size_t nlean = 0;
        double lean_s = cold_checks(lean, op, tok_path, 500, &nlean, first_tok);
        if (lean_s < 0)
            return 1;
        printf("%-20s cold %6.2f us a check (%zu distinct tokens), with BearSSL as a lean host without libcrypto\n",
               "bearer, ES256", lean_s / (double)nlean * 1e6, nlean);
        kumo__auth_free(lean);
    }
    kumo__jwt_prefer_bearssl(0);
    kumo__auth_free(a);
    kumo__doc_free(cfg);
    kumo__spec_free(spec);
    return 0;
}
