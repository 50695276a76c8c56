/*
 * test_gcp.c: the pieces of the Google Cloud drivers that need no emulator
 * (stores/gcp.c): store URL parsing, percent-encoding, RFC 3339 times, and
 * the two ways to a token, against gcp_token_server.py (a python process on
 * loopback standing in for Google's token endpoint and metadata server):
 * a service-account key's RS256 JWT, whose signature the server checks
 * with `cryptography` against the key it made, and the metadata server's
 * token and project. The drivers themselves run against the emulators in
 * the conformance suite (tests/conformance/run.sh gcp).
 */
#include "sdk/sdk.h"
#include "sdk/stores/gcp.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "helper_server.h"

static const char *const all[] = {"project", "database", "endpoint", "max_receives", NULL};

static void test_url(void)
{
    kumo__gcp_url u;
    kumo__error e = {0};
    unsetenv("GOOGLE_CLOUD_PROJECT");
    unsetenv("GCLOUD_PROJECT");
    unsetenv("FIRESTORE_EMULATOR_HOST");
    CHECK_INT(kumo__gcp_url_parse("firestore://todos?project=p1&database=db2&endpoint=http://127.0.0.1:8681/",
                                  "firestore", all, "FIRESTORE_EMULATOR_HOST", &u, &e),
              0);
    CHECK_STR(u.resource, "todos");
    CHECK_STR(u.project, "p1");
    CHECK_STR(u.database, "db2");
    CHECK_STR(u.endpoint, "http://127.0.0.1:8681"); /* no trailing '/' */
    kumo__gcp_url_free(&u);

    /* defaults: the environment's project, (default), the emulator variable */
    setenv("GOOGLE_CLOUD_PROJECT", "envproj", 1);
    setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9090", 1);
    CHECK_INT(kumo__gcp_url_parse("firestore://c", "firestore", all, "FIRESTORE_EMULATOR_HOST", &u, &e), 0);
    CHECK_STR(u.project, "envproj");
    CHECK_STR(u.database, "(default)");
    CHECK_STR(u.endpoint, "http://127.0.0.1:9090");
    kumo__gcp_url_free(&u);
    unsetenv("FIRESTORE_EMULATOR_HOST");
    unsetenv("GOOGLE_CLOUD_PROJECT");

    CHECK_INT(kumo__gcp_url_parse("gs://bucket/some/prefix", "gs", all, NULL, &u, &e), 0);
    CHECK_STR(u.resource, "bucket");
    CHECK_STR(u.path, "some/prefix");
    CHECK(u.project == NULL && u.endpoint == NULL);
    kumo__gcp_url_free(&u);

    /* refused, each with a message naming what */
    static const char *const fs_known[] = {"project", "database", "endpoint", NULL};
    CHECK_INT(kumo__gcp_url_parse("firestore://c?projcet=x", "firestore", fs_known, NULL, &u, &e), KUMO_EINVAL);
    CHECK(strstr(e.msg, "projcet") != NULL && strstr(e.msg, "known: project, database, endpoint") != NULL);
    CHECK_INT(kumo__gcp_url_parse("firestore://c?max_receives=3", "firestore", fs_known, NULL, &u, &e), KUMO_EINVAL);
    CHECK_INT(kumo__gcp_url_parse("firestore://", "firestore", fs_known, NULL, &u, &e), KUMO_EINVAL);
    CHECK(strstr(e.msg, "collection") != NULL);
    CHECK_INT(kumo__gcp_url_parse("firestore://c?endpoint=ftp://x", "firestore", fs_known, NULL, &u, &e), KUMO_EINVAL);
    CHECK_INT(kumo__gcp_url_parse("firestore://c?project", "firestore", fs_known, NULL, &u, &e), KUMO_EINVAL);
    CHECK_INT(kumo__gcp_url_parse("firestore://c?project=a/b", "firestore", fs_known, NULL, &u, &e), KUMO_EINVAL);
    CHECK_INT(kumo__gcp_url_parse("pubsub://q", "firestore", fs_known, NULL, &u, &e), KUMO_EINVAL);
}

static void test_encoding_and_time(void)
{
    char buf[64];
    CHECK_INT(kumo__gcp_pct("a/b c~", 6, buf, sizeof(buf)), 10);
    CHECK_STR(buf, "a%2Fb%20c~");
    CHECK_INT(kumo__gcp_pct("abcdef", 6, buf, 6), 0); /* does not fit */

    uint64_t ns = kumo__gcp_time_parse("2026-12-06T01:47:57.510812Z");
    CHECK(ns == 1796521677510812000ull);
    kumo__gcp_time_format(ns, buf, sizeof(buf));
    CHECK_STR(buf, "2026-12-06T01:47:57.510812000Z");
    CHECK(kumo__gcp_time_parse(buf) == ns);
    CHECK(kumo__gcp_time_parse("2026-12-06T01:47:57Z") == 1796521677000000000ull);
    CHECK(kumo__gcp_time_parse("2026-12-06T01:47:57.1234567891Z") == 1796521677123456789ull);
    CHECK(kumo__gcp_time_parse("2026-12-06 01:47:57Z") == 0);
    CHECK(kumo__gcp_time_parse("2026-12-06T01:47:57+01:00") == 0);
    CHECK(kumo__gcp_time_parse(NULL) == 0);
}

/* ---- tokens against gcp_token_server.py ---------------------------------- */

static helper_server server;
static char server_port[16], server_token[128], server_md_token[128];

static int start_server(const char *dir)
{
    char line[512];
    return helper_server_start(&server, "sdk/gcp_token_server.py", dir, line, sizeof(line)) == 0 &&
                   sscanf(line, "%15s %127s %127s", server_port, server_token, server_md_token) == 3
               ? 0
               : -1;
}

static void stop_server(void)
{
    helper_server_stop(&server);
}

/* A client as a gs:// store without an endpoint would make (so with
 * credentials), and a fresh token from it: the code, the token in tok. */
static int token_with(const char *url, char *tok, size_t size, char *msg, const char **project)
{
    kumo__gcp_url u;
    kumo__gcp *c = NULL;
    kumo__error e = {0};
    *tok = '\0';
    int rc = kumo__gcp_url_parse(url, "gs", all, NULL, &u, &e);
    if (rc == 0)
        rc = kumo__gcp_new("storage", &u, "https://storage.googleapis.com", msg, 256, &c, &e);
    if (rc != 0)
        snprintf(msg, 256, "%s", e.msg);
    if (rc == 0)
        rc = kumo__gcp_token_for_test(c, tok, size);
    if (project) {
        const char *p = c ? kumo__gcp_project(c) : NULL;
        *project = p ? strdup(p) : NULL;
    }
    kumo__gcp_free(c);
    kumo__gcp_url_free(&u);
    return rc;
}

static void test_tokens(void)
{
    char dir[] = "/tmp/kumo-test-gcp-XXXXXX", path[256], tok[512], msg[256] = "";
    const char *project = NULL;
    if (system("python3 -c 'import cryptography' 2>/dev/null") != 0) {
        check_skip("python3's cryptography is not installed (Debian: python3-cryptography)");
        return;
    }
    if (mkdtemp(dir) == NULL || start_server(dir) != 0) {
        CHECK(0);
        return;
    }
    unsetenv("GOOGLE_CLOUD_PROJECT");
    unsetenv("GCLOUD_PROJECT");

    /* the key: an RS256 JWT the server verifies, exchanged for its token;
     * the project comes from the key */
    snprintf(path, sizeof(path), "%s/key.json", dir);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", path, 1);
    CHECK_INT(token_with("gs://b", tok, sizeof(tok), msg, &project), 0);
    CHECK_STR(tok, server_token);
    CHECK_STR(project, "demo-from-key");
    free((char *)project);

    /* another key under the same name: the server refuses its signature */
    snprintf(path, sizeof(path), "%s/wrong.json", dir);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", path, 1);
    CHECK_INT(token_with("gs://b?project=p", tok, sizeof(tok), msg, NULL), KUMO_EIO);
    CHECK(strstr(msg, "bad signature") != NULL);
    CHECK(strstr(msg, "token_uri") != NULL);

    /* a file that is no key fails the open, saying so */
    snprintf(path, sizeof(path), "%s/not-a-key.json", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("{\"type\": \"authorized_user\"}", f);
        fclose(f);
    }
    setenv("GOOGLE_APPLICATION_CREDENTIALS", path, 1);
    CHECK_INT(token_with("gs://b?project=p", tok, sizeof(tok), msg, NULL), KUMO_EINVAL);
    CHECK(strstr(msg, "not a service-account key") != NULL);

    /* no key: the metadata server's token and project */
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    char host[64];
    snprintf(host, sizeof(host), "127.0.0.1:%s", server_port);
    setenv("GCE_METADATA_HOST", host, 1);
    CHECK_INT(token_with("gs://b", tok, sizeof(tok), msg, &project), 0);
    CHECK_STR(tok, server_md_token);
    CHECK_STR(project, "demo-from-metadata");
    free((char *)project);

    /* an emulator takes none */
    CHECK_INT(token_with("gs://b?endpoint=http://127.0.0.1:1", tok, sizeof(tok), msg, NULL), KUMO_EINVAL);
    unsetenv("GCE_METADATA_HOST");

    stop_server();
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    if (system(path) != 0)
        CHECK(0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_url();
    test_encoding_and_time();
    test_tokens();
    return check_report();
}
