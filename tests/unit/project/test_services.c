/*
 * test_services.c: services.c's pure rules (the variable of a service, the
 * headers that carry credentials, secret references and their expansion)
 * and where a service lives: KUMO_SERVICE_<NAME>_URL beats the
 * environment's url, which beats services.NAME.url; none is refused.
 */
#include "project/project.h"
#include "project/services.h"

#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_var(void)
{
    char buf[96];
    CHECK_INT(kumo__service_var("pay-ments", buf, sizeof buf), 0);
    CHECK_STR(buf, "KUMO_SERVICE_PAY_MENTS_URL");
    CHECK_INT(kumo__service_var("", buf, sizeof buf), -EINVAL);
    CHECK_INT(kumo__service_var("pay", buf, 8), -ENAMETOOLONG);
}

static void test_credentials(void)
{
    CHECK(kumo__header_is_credential("Authorization"));
    CHECK(kumo__header_is_credential("x-api-key"));
    CHECK(kumo__header_is_credential("X-Auth-Token"));
    CHECK(kumo__header_is_credential("Client-Secret"));
    CHECK(kumo__header_is_credential("Cookie"));
    CHECK(!kumo__header_is_credential("Accept"));
    CHECK(!kumo__header_is_credential("X-Client"));
}

static void test_refs(void)
{
    kumo__error err = {0};
    CHECK_INT(kumo__secret_refs_check("Bearer ${env:TOKEN}", &err), 1);
    CHECK_INT(kumo__secret_refs_check("plain", &err), 0);
    CHECK_INT(kumo__secret_refs_check("${env:}", &err), -1);
    CHECK_INT(kumo__secret_refs_check("${env:A-B}", &err), -1);
    CHECK_INT(kumo__secret_refs_check("${env:TOKEN", &err), -1);
    CHECK_INT(kumo__secret_refs_check("${other:x}", &err), -1);

    setenv("KUMO_TEST_TOKEN", "s3cret", 1);
    char *out = NULL;
    CHECK_INT(kumo__secret_expand("Bearer ${env:KUMO_TEST_TOKEN}!", NULL, &out, &err), 0);
    CHECK_STR(out, "Bearer s3cret!");
    free(out);

    char dir[] = "/tmp/kumo-test-secret-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/tok", dir);
    FILE *f = fopen(path, "w");
    fputs("from-file\n", f);
    fclose(f);
    CHECK_INT(kumo__secret_expand("k=${file:tok};${env:KUMO_TEST_TOKEN}", dir, &out, &err), 0);
    CHECK_STR(out, "k=from-file;s3cret");
    free(out);
    CHECK_INT(kumo__secret_expand("${file:absent}", dir, &out, &err), -ENOENT);
    CHECK(out == NULL);
    CHECK(strstr(err.msg, "${file:") != NULL);

    unsetenv("KUMO_TEST_MISSING");
    CHECK_INT(kumo__secret_expand("${env:KUMO_TEST_MISSING}", NULL, &out, &err), -ENOENT);
    CHECK_STR(err.msg,
              "${env:KUMO_TEST_MISSING}: the variable KUMO_TEST_MISSING is not set; set it before kumo starts");

    /* a value that would split the header: refused, and not quoted */
    setenv("KUMO_TEST_TOKEN", "a\r\nX-Evil: 1", 1);
    CHECK_INT(kumo__secret_expand("${env:KUMO_TEST_TOKEN}", NULL, &out, &err), -EINVAL);
    CHECK(strstr(err.msg, "Evil") == NULL);
    unlink(path);
    rmdir(dir);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_resolve(void)
{
    char dir[] = "/tmp/kumo-test-services-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    write_file(dir, "api.yaml", "");
    write_file(dir, "kumo.yaml",
               "name: x\napi: api.yaml\nservices:\n"
               "  pay: {spec: api.yaml, url: \"https://pay.example/v1/\", headers: {Authorization: \"Bearer "
               "${env:KUMO_TEST_PAY}\"}, timeout: 250ms}\n"
               "  ship: {spec: api.yaml}\n"
               "environments:\n  prod: {services: {ship: {url: \"http://ship.prod:8080\"}}}\n  dev:\n");
    kumo__project *p = NULL;
    kumo__error err = {0};
    int rc = kumo__project_load(dir, &p, &err);
    CHECK_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_INT(p->nservices, 2);
    CHECK_INT(p->services[0].timeout_ms, 250);
    CHECK_INT(p->services[0].max_response, 1 << 20);
    setenv("KUMO_TEST_PAY", "tk", 1);
    unsetenv("KUMO_SERVICE_SHIP_URL");
    unsetenv("KUMO_SERVICE_PAY_URL");

    /* dev: ship has no URL */
    kumo__service_target *t = NULL;
    size_t n = 0;
    CHECK(kumo__services_resolve(p, "dev", NULL, NULL, &t, &n, &err) < 0);
    CHECK(strstr(err.msg, "services.ship has no url for environment dev") != NULL);
    CHECK(strstr(err.msg, "KUMO_SERVICE_SHIP_URL") != NULL);

    /* prod: the environment's URL; the default's trailing '/' dropped */
    CHECK_INT(kumo__services_resolve(p, "prod", NULL, NULL, &t, &n, &err), 0);
    CHECK_INT(n, 2);
    if (n == 2) {
        CHECK_STR(t[0].url, "https://pay.example/v1");
        CHECK_STR(t[1].url, "http://ship.prod:8080");
        CHECK_INT(t[0].nheaders, 1);
        CHECK_STR(t[0].headers[1], "Bearer tk");
        CHECK(strstr(t[1].from, "kumo.yaml:7:") != NULL);
    }
    kumo__service_targets_free(t, n);

    /* the variable beats both */
    setenv("KUMO_SERVICE_SHIP_URL", "http://127.0.0.1:9999", 1);
    CHECK_INT(kumo__services_resolve(p, "prod", NULL, NULL, &t, &n, &err), 0);
    if (n == 2) {
        CHECK_STR(t[1].url, "http://127.0.0.1:9999");
        CHECK_STR(t[1].from, "KUMO_SERVICE_SHIP_URL");
    }
    kumo__service_targets_free(t, n);
    setenv("KUMO_SERVICE_SHIP_URL", "ship.internal", 1);
    CHECK(kumo__services_resolve(p, "prod", NULL, NULL, &t, &n, &err) < 0);
    CHECK(strstr(err.msg, "KUMO_SERVICE_SHIP_URL must be an http://") != NULL);
    unsetenv("KUMO_SERVICE_SHIP_URL");

    /* a secret that is not there: named, at its line */
    unsetenv("KUMO_TEST_PAY");
    CHECK(kumo__services_resolve(p, "prod", NULL, NULL, &t, &n, &err) < 0);
    CHECK(strstr(err.msg, "services.pay.headers.Authorization") != NULL);
    CHECK(strstr(err.msg, "KUMO_TEST_PAY is not set") != NULL);
    kumo__project_free(p);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
}

int main(void)
{
    test_var();
    test_credentials();
    test_refs();
    test_resolve();
    return check_report();
}
