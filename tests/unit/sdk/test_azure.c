/*
 * test_azure.c: the pieces of the Azure drivers (azure.c) that need no
 * Azurite: store URL parsing, connection strings, the Shared Key string to
 * sign (Blob/Queue's and the Table service's own form, written out here as
 * Azure's documentation gives them) and its HMAC against values computed
 * independently (python's hmac), error mapping, and the managed identity
 * path against a small local python server that plays both the identity
 * endpoint (IDENTITY_ENDPOINT) and a storage endpoint: the token is asked
 * for once with the right resource, api-version and header, sent as a
 * Bearer token with x-ms-version, cached, and never shows in a message.
 * The drivers themselves run against Azurite in the conformance suite
 * (tests/conformance/run.sh azure).
 */
#include "sdk/sdk.h"
#include "sdk/stores/azure.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define DEV_KEY "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

static void test_url(void)
{
    kumo__az_url u;
    kumo__error err = {0};
    CHECK_INT(kumo__az_url_parse("aztable://acct1/todos", "aztable", &u, &err), 0);
    CHECK_STR(u.account, "acct1");
    CHECK_STR(u.resource, "todos");
    CHECK_STR(u.path, "");
    CHECK(u.endpoint == NULL);
    CHECK_INT(u.create, 1);
    kumo__az_url_free(&u);

    CHECK_INT(kumo__az_url_parse("azblob://acct1/files/up/loads?endpoint=http://127.0.0.1:10000/&create=false",
                                 "azblob", &u, &err),
              0);
    CHECK_STR(u.resource, "files");
    CHECK_STR(u.path, "up/loads");
    CHECK_STR(u.endpoint, "http://127.0.0.1:10000");
    CHECK_INT(u.create, 0);
    kumo__az_url_free(&u);

    CHECK_INT(kumo__az_url_parse("azqueue://acct1/jobs?max_receives=3", "azqueue", &u, &err), 0);
    CHECK_INT(u.max_receives, 3);
    kumo__az_url_free(&u);

    /* refused, each with a message */
    const char *bad[] = {
        "azqueue://acct1/jobs?max_receives=0",
        "aztable://acct1/t?max_receives=3", /* queues only */
        "azblob://acct1/c?endpont=http://x",
        "azblob://acct1/c?endpoint=ftp://x",
        "azblob://Acct1/c",
        "azblob://acct1",
        "azblob://acct1/",
        "azblob:///c",
        "aztable://acct1/t?create=maybe",
        "s3://acct1/c",
        "azblob://acct-with-a-very-long-name-x/c",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *scheme = strncmp(bad[i], "aztable", 7) == 0   ? "aztable"
                             : strncmp(bad[i], "azqueue", 7) == 0 ? "azqueue"
                                                                  : "azblob";
        memset(&err, 0, sizeof(err));
        int rc = kumo__az_url_parse(bad[i], scheme, &u, &err);
        CHECK_INT(rc, KUMO_EINVAL);
        CHECK(err.msg[0] != '\0');
        if (rc == 0)
            kumo__az_url_free(&u);
    }
}

static void test_connstr(void)
{
    const char *cs = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" DEV_KEY
                     ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;";
    char out[128];
    CHECK_INT(kumo__az_connstr_get(cs, "AccountName", out, sizeof(out)), 1);
    CHECK_STR(out, "devstoreaccount1");
    CHECK_INT(kumo__az_connstr_get(cs, "blobendpoint", out, sizeof(out)), 1); /* names ignore case */
    CHECK_STR(out, "http://127.0.0.1:10000/devstoreaccount1");
    CHECK_INT(kumo__az_connstr_get(cs, "AccountKey", out, sizeof(out)), 1);
    CHECK_STR(out, DEV_KEY); /* '=' inside the value kept */
    CHECK_INT(kumo__az_connstr_get(cs, "QueueEndpoint", out, sizeof(out)), 0);
    CHECK_INT(kumo__az_connstr_get(cs, "AccountKey", out, 8), -1);
}

static void test_signing(void)
{
    /* Blob/Queue: 11 header lines (Range set), the x-ms-* headers sorted
     * and lower-cased, then /ACCOUNT/PATH (path style: the account twice)
     * and the query sorted by name with values decoded. */
    const char *h1[] = {"x-ms-version: 2020-12-06", "Range: bytes=0-9", "X-Ms-Meta-B: 2",
                        "x-ms-date: Sun, 06 Dec 2026 01:46:33 GMT", NULL};
    char *s = kumo__az_string_to_sign("blob", "acct1", "GET", "/acct1",
                                      "/cont/a%20b.txt?comp=block&blockid=AB%2F%2B%3D%3D", h1, 0);
    const char *want1 = "GET\n\n\n\n\n\n\n\n\n\n\nbytes=0-9\n"
                        "x-ms-date:Sun, 06 Dec 2026 01:46:33 GMT\nx-ms-meta-b:2\nx-ms-version:2020-12-06\n"
                        "/acct1/acct1/cont/a%20b.txt\nblockid:AB/+==\ncomp:block";
    CHECK_STR(s, want1);
    char sig[64];
    CHECK_INT(kumo__az_sign(DEV_KEY, s ? s : "", s ? strlen(s) : 0, sig), 0);
    CHECK_STR(sig, "jk/YH4SndrMeZjbdQKeMELLsXnyeZInSYlB6DhRBATk="); /* python's hmac */
    free(s);

    /* A body's length is signed, 0 as empty. */
    const char *h2[] = {"Content-Type: text/plain", NULL};
    s = kumo__az_string_to_sign("queue", "acct1", "PUT", "", "/q", h2, 5);
    CHECK_STR(s, "PUT\n\n\n5\n\ntext/plain\n\n\n\n\n\n\n/acct1/q");
    free(s);

    /* Table: VERB, Content-MD5, Content-Type, Date (x-ms-date's), resource
     * with only comp= of the query. */
    const char *h3[] = {"Content-Type: application/json", "x-ms-date: Sun, 06 Dec 2026 01:46:33 GMT",
                        "Accept: application/json;odata=nometadata", NULL};
    s = kumo__az_string_to_sign("table", "acct1", "PUT", "", "/kv(PartitionKey='p',RowKey='r')?$select=ver", h3, 9);
    CHECK_STR(s, "PUT\n\napplication/json\nSun, 06 Dec 2026 01:46:33 GMT\n/acct1/kv(PartitionKey='p',RowKey='r')");
    CHECK_INT(kumo__az_sign(DEV_KEY, s ? s : "", s ? strlen(s) : 0, sig), 0);
    CHECK_STR(sig, "WN67DaBogVo8VqTA/4olPepQ1BptPvvF3elvTiyxQyg=");
    free(s);
    s = kumo__az_string_to_sign("table", "acct1", "GET", "", "/Tables?comp=acl&x=1", h3, 0);
    CHECK(s && strstr(s, "\n/acct1/Tables?comp=acl") != NULL);
    free(s);

    CHECK_INT(kumo__az_sign("not base64!", "x", 1, sig), -1);
    char date[40];
    kumo__az_date(date);
    CHECK(strlen(date) == 29 && strcmp(date + 25, " GMT") == 0);
}

/* The RowKey encoding keeps byte order and prefixes, never writes what a
 * RowKey may not hold, and leaves ordinary keys readable. */
static int sign(int v)
{
    return (v > 0) - (v < 0);
}

static int bytes_cmp(const unsigned char *a, size_t al, const unsigned char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static void test_key_encoding(void)
{
    char out[3 * 64 + 1], o2[3 * 64 + 1];
    CHECK(kumo__aztable_key_encode("users/42.json", 13, out, sizeof(out)) > 0);
    CHECK_STR(out, "users.2F42.2Ejson");
    CHECK(kumo__aztable_key_encode("a b#\xc3\xa9", 6, out, sizeof(out)) > 0);
    CHECK_STR(out, "a 20b$23~C3~A9");
    CHECK(kumo__aztable_key_encode("plain-Key_1:x", 13, out, sizeof(out)) > 0);
    CHECK_STR(out, "plain-Key_1:x");
    CHECK_INT(kumo__aztable_key_encode("/////", 5, out, 10), 0); /* does not fit */

    srand(18);
    int bad_order = 0, bad_prefix = 0, bad_char = 0;
    for (int i = 0; i < 20000; i++) {
        unsigned char a[16], b[16];
        size_t al = (size_t)(rand() % 6), bl = (size_t)(rand() % 6);
        for (size_t j = 0; j < al; j++)
            a[j] = (unsigned char)(rand() % 256);
        /* often share a's start, so prefixes and near neighbours are tried */
        for (size_t j = 0; j < bl; j++)
            b[j] = j < al && rand() % 2 ? a[j] : (unsigned char)(rand() % 256);
        size_t el = kumo__aztable_key_encode((char *)a, al, out, sizeof(out));
        size_t fl = kumo__aztable_key_encode((char *)b, bl, o2, sizeof(o2));
        bad_order += sign(bytes_cmp(a, al, b, bl)) != sign(strcmp(out, o2));
        int is_prefix = al <= bl && memcmp(a, b, al) == 0;
        bad_prefix += is_prefix != (el <= fl && strncmp(out, o2, el) == 0);
        for (size_t j = 0; j < el; j++)
            bad_char += (unsigned char)out[j] < 0x20 || (unsigned char)out[j] >= 0x7f || strchr("/\\#?%", out[j]);
    }
    CHECK_INT(bad_order, 0);
    CHECK_INT(bad_prefix, 0);
    CHECK_INT(bad_char, 0);
}

/* The line azqueue.c puts before a body, as kumo-host strips it. */
static void test_queue_header(void)
{
    const char *m = "k1 1796523332786 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n{\"a\":1}";
    CHECK_INT(kumo__azqueue_header(m, strlen(m)), strlen(m) - 7);
    CHECK_INT(kumo__azqueue_header("k1 12 -\nbody", 12), 8);
    CHECK_INT(kumo__azqueue_header("k1 x -\nbody", 11), 0); /* not a send time */
    CHECK_INT(kumo__azqueue_header("hello\nworld", 11), 0);
    CHECK_INT(kumo__azqueue_header("k1 12 -", 7), 0); /* no line end */
}

static void test_errors(void)
{
    CHECK_INT(kumo__az_map_error("BlobNotFound", 404), KUMO_ENOTFOUND);
    CHECK_INT(kumo__az_map_error("PopReceiptMismatch", 400), KUMO_ENOTFOUND);
    CHECK_INT(kumo__az_map_error("ConditionNotMet", 412), KUMO_ECONFLICT);
    CHECK_INT(kumo__az_map_error("EntityAlreadyExists", 409), KUMO_ECONFLICT);
    CHECK_INT(kumo__az_map_error("RequestBodyTooLarge", 413), KUMO_ETOOBIG);
    CHECK_INT(kumo__az_map_error("ServerBusy", 503), KUMO_EUNAVAILABLE);
    CHECK_INT(kumo__az_map_error("Whatever", 502), KUMO_EUNAVAILABLE);
    CHECK_INT(kumo__az_map_error("AuthorizationFailure", 403), KUMO_EIO);
}

/* The identity endpoint and a storage endpoint in one: GET /token counts
 * and checks its request; anything else records its Authorization and
 * x-ms-version. A container PUT is 201, a blob named "echo" a 403 whose
 * message repeats the token, other blobs 404 BlobNotFound; GET /stats
 * answers "TOKENS BAD LAST_AUTH VERSION". */
static const char SERVER[] =
    "import sys, time, http.server, urllib.parse\n"
    "st = {'tokens': 0, 'bad': 0, 'auth': '-', 'ver': '-'}\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def log_message(self, *a): pass\n"
    "    def answer(self, code, body=b'', hdrs=()):\n"
    "        self.send_response(code)\n"
    "        for k, v in hdrs: self.send_header(k, v)\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers()\n"
    "        if self.command != 'HEAD': self.wfile.write(body)\n"
    "    def handle_any(self):\n"
    "        u = urllib.parse.urlparse(self.path); q = urllib.parse.parse_qs(u.query)\n"
    "        if u.path == '/token':\n"
    "            st['tokens'] += 1\n"
    "            if (q.get('resource') != ['https://storage.azure.com/'] or q.get('api-version') != ['2019-08-01']\n"
    "                    or self.headers.get('X-IDENTITY-HEADER') != 'hdr-secret'):\n"
    "                st['bad'] += 1\n"
    "            body = '{\"access_token\":\"tok-abcdef123\",\"expires_on\":\"%d\",\"token_type\":\"Bearer\"}' % "
    "(time.time() + 3600)\n"
    "            return self.answer(200, body.encode(), [('Content-Type', 'application/json')])\n"
    "        if u.path == '/stats':\n"
    "            return self.answer(200, ('%d %d %s %s' % (st['tokens'], st['bad'], st['auth'].replace(' ', '_'), "
    "st['ver'])).encode())\n"
    "        st['auth'] = self.headers.get('Authorization', '-'); st['ver'] = self.headers.get('x-ms-version', '-')\n"
    "        if 'restype=container' in u.query: return self.answer(201)\n"
    "        if u.path.endswith('/echo'):\n"
    "            return self.answer(403, b'<?xml "
    "version=\"1.0\"?><Error><Code>AuthorizationPermissionMismatch</Code><Message>token tok-abcdef123 may "
    "not</Message></Error>', [('x-ms-error-code', 'AuthorizationPermissionMismatch')])\n"
    "        return self.answer(404, b'', [('x-ms-error-code', 'BlobNotFound')])\n"
    "    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = handle_any\n"
    "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
    "open(sys.argv[1] + '.tmp', 'w').write(str(s.server_address[1]))\n"
    "import os; os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
    "s.serve_forever()\n";

static pid_t start_server(const char *portfile, int *port)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("python3", "python3", "-c", SERVER, portfile, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && pid > 0; i++) { /* 10 s at most */
        FILE *f = fopen(portfile, "r");
        if (f) {
            int ok = fscanf(f, "%d", port) == 1;
            fclose(f);
            if (ok)
                return pid;
        }
        usleep(50000);
    }
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    return -1;
}

static void stats(int port, char *out, size_t size)
{
    char url[128];
    snprintf(url, sizeof(url), "curl -s --max-time 5 http://127.0.0.1:%d/stats", port);
    FILE *p = popen(url, "r");
    *out = '\0';
    if (p) {
        if (fgets(out, (int)size, p) == NULL)
            *out = '\0';
        pclose(p);
    }
}

static void test_managed_identity(void)
{
    char portfile[] = "/tmp/kumo-az-mi-XXXXXX";
    int fd = mkstemp(portfile);
    if (fd < 0) {
        CHECK(0);
        return;
    }
    close(fd);
    unlink(portfile);
    int port = 0;
    pid_t pid = start_server(portfile, &port);
    unlink(portfile);
    if (pid < 0) {
        check_skip("python3 could not start the identity server");
        return;
    }
    char ep[128], url[256], st[256];
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d/token", port);
    unsetenv("AZURE_STORAGE_KEY");
    unsetenv("AZURE_STORAGE_CONNECTION_STRING");
    unsetenv("AZURE_CLIENT_ID");
    setenv("IDENTITY_ENDPOINT", ep, 1);
    setenv("IDENTITY_HEADER", "hdr-secret", 1);
    kumo__az_token_reset();

    snprintf(url, sizeof(url), "azblob://acct1/cont?endpoint=http://127.0.0.1:%d", port);
    kumo__store *s = NULL;
    kumo__error e = {0};
    CHECK_INT(kumo__store_open(&kumo__blob_kind, url, "files", &s, &e), 0);
    if (s) {
        kumo__blob *b = (kumo__blob *)s;
        kumo__arena a;
        kumo__arena_init(&a);
        kumo_blob_info info;
        CHECK_INT(b->driver->head(b, &a, "missing", &info), KUMO_ENOTFOUND);
        CHECK_INT(b->driver->head(b, &a, "missing2", &info), KUMO_ENOTFOUND);
        stats(port, st, sizeof(st));
        CHECK_STR(st, "1 0 Bearer_tok-abcdef123 2020-12-06"); /* one token, cached */
        b->error[0] = '\0';
        CHECK_INT(b->driver->get(b, &a, "echo", &(const void *){NULL}, &(size_t){0}, &info), KUMO_EIO);
        CHECK(strstr(b->error, "AuthorizationPermissionMismatch") != NULL);
        CHECK(strstr(b->error, "tok-abcdef123") == NULL); /* scrubbed */
        kumo__arena_free(&a);
        kumo__store_close(s);
    }

    /* No identity endpoint and no key: refused at open, naming the variables. */
    unsetenv("IDENTITY_ENDPOINT");
    s = NULL;
    memset(&e, 0, sizeof(e));
    CHECK_INT(kumo__store_open(&kumo__blob_kind, url, "files", &s, &e), KUMO_EINVAL);
    CHECK(strstr(e.msg, "AZURE_STORAGE_KEY") != NULL && strstr(e.msg, "IDENTITY_ENDPOINT") != NULL);
    kumo__store_close(s);
    unsetenv("IDENTITY_HEADER");
    kumo__az_token_reset();
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static void test_topic_refused(void)
{
    kumo__store *s = NULL;
    kumo__error e = {0};
    CHECK_INT(kumo__store_open(&kumo__topic_kind, "azservicebus://ns/orders", "orders", &s, &e), KUMO_EINVAL);
    CHECK(s == NULL);
    CHECK(strstr(e.msg, "not supported yet") != NULL && strstr(e.msg, "redis://") != NULL);
}

int main(void)
{
    test_url();
    test_connstr();
    test_signing();
    test_key_encoding();
    test_queue_header();
    test_errors();
    test_topic_refused();
    test_managed_identity();
    return check_report();
}
