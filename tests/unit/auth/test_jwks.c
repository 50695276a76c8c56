/*
 * test_jwks.c: key sets fetched over HTTP from a real server on loopback
 * (python's http.server, started here, serving files this test rewrites):
 * the first fetch, kid rotation (a new kid refused until the refetch its
 * first sighting schedules, then accepted; the refetch rate-limited), the
 * last good keys served while the server is gone, OpenID Connect
 * discovery, and the fetch refusals (HTTP error, a document over the
 * ceiling, nothing listening). Waits are bounded loops on the fetcher's
 * counters, never sleeps that must be long enough.
 */
#include "auth/jwt.h"

#include "base/clock.h"
#include "check.h"
#include "jose_openssl.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

static pid_t server_pid = -1;
static int server_port;

static const char HTTPS_SERVER[] =
    "import functools, http.server, ssl, sys\n"
    "d = sys.argv[1]\n"
    "s = http.server.HTTPServer(('127.0.0.1', 0), functools.partial(http.server.SimpleHTTPRequestHandler, "
    "directory=d))\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(d + '/tls.crt', d + '/tls.key')\n"
    "s.socket = ctx.wrap_socket(s.socket, server_side=True)\n"
    "print('Serving HTTPS on 127.0.0.1 port %d' % s.server_address[1], flush=True)\n"
    "s.serve_forever()\n";

/* python's http.server on loopback, over TLS when tls: the pid, its port in *port. */
static pid_t python_server(int tls, int *port)
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        char log[300];
        snprintf(log, sizeof log, "%s/server%s.log", jo_dir, tls ? "-tls" : "");
        if (freopen(log, "w", stderr) == NULL)
            _exit(127);
        close(fds[0]);
        if (tls)
            execlp("python3", "python3", "-u", "-c", HTTPS_SERVER, jo_dir, (char *)NULL);
        else
            execlp("python3", "python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", jo_dir,
                   (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[512];
    FILE *f = fdopen(fds[0], "r");
    const char *at = f && fgets(line, sizeof line, f) ? strstr(line, " port ") : NULL;
    int ok = at && sscanf(at, " port %d", port) == 1;
    if (f)
        fclose(f);
    if (!ok && pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

static int server_start(void)
{
    server_pid = python_server(0, &server_port);
    return server_pid > 0 ? 0 : -1;
}

static void server_stop(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
}

static kumo__jwks_stats stats(kumo__jwks *ks)
{
    kumo__jwks_stats st;
    kumo__jwks_stats_get(ks, &st);
    return st;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static kumo__jwt_result verify(kumo__jwks *ks, const char *tok)
{
    json_t *claims = NULL;
    char why[256];
    kumo__jwt_result r = kumo__jwt_verify(ks, NULL, tok, strlen(tok), (int64_t)time(NULL), &claims, why, sizeof why);
    json_decref(claims);
    return r;
}

static char *token(const char *key, const char *kid)
{
    char header[128], payload[128];
    snprintf(header, sizeof header, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", kid);
    snprintf(payload, sizeof payload, "{\"sub\":\"alice\",\"exp\":%lld}", (long long)time(NULL) + 3600);
    return jo_sign("RS256", key, NULL, 0, header, payload);
}

static char *jwk_a, *jwk_b;

static void write_keys(int a, int b)
{
    char doc[8192];
    snprintf(doc, sizeof doc, "{\"keys\":[%s%s%s%s%s%s%s]}", a ? "{" : "", a ? jwk_a : "", a ? ",\"kid\":\"a\"}" : "",
             a && b ? "," : "", b ? "{" : "", b ? jwk_b : "", b ? ",\"kid\":\"b\"}" : "");
    jo_write("jwks.json", doc, strlen(doc));
}

static void rotation(void)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/jwks.json", server_port);
    write_keys(1, 0);
    kumo__error err = {0};
    kumo__jwks_config c = {.jwks_url = url, .min_refetch_s = 2};
    kumo__jwks *ks = kumo__jwks_new(&c, &err);
    CHECK(ks != NULL);
    if (ks == NULL)
        return;
    CHECK_INT(kumo__jwks_wait(ks, 10000), 1);
    CHECK_INT(stats(ks).keys, 1);
    char *ta = token("rsa.pem", "a"), *tb = token("rsa_other.pem", "b");
    CHECK_INT(verify(ks, ta), KUMO__JWT_OK);
    /* an unknown kid, many times at once: refused, and at most one refetch per min_refetch_s */
    uint64_t t0 = kumo__mono_ms();
    for (int i = 0; i < 200; i++)
        CHECK_INT(verify(ks, tb), KUMO__JWT_UNKNOWN_KEY);
    uint64_t spent_s = (kumo__mono_ms() - t0) / 1000;
    sleep_ms(300);
    CHECK(stats(ks).fetches <= 2 + spent_s / 2);
    /* the issuer rotates: kid b is accepted after the refetch its sighting asks for */
    write_keys(1, 1);
    kumo__jwt_result r = KUMO__JWT_UNKNOWN_KEY;
    for (int i = 0; i < 200 && r != KUMO__JWT_OK; i++) {
        r = verify(ks, tb);
        if (r != KUMO__JWT_OK)
            sleep_ms(100);
    }
    CHECK_INT(r, KUMO__JWT_OK);
    CHECK_INT(verify(ks, ta), KUMO__JWT_OK);
    CHECK_INT(stats(ks).keys, 2);
    /* a key the issuer dropped is refused once the set is fetched again */
    write_keys(0, 1);
    char *tc = token("rsa.pem", "c"); /* an unknown kid asks for the refetch */
    r = KUMO__JWT_OK;
    for (int i = 0; i < 200 && r == KUMO__JWT_OK; i++) {
        verify(ks, tc);
        r = verify(ks, ta);
        if (r == KUMO__JWT_OK)
            sleep_ms(100);
    }
    CHECK_INT(r, KUMO__JWT_UNKNOWN_KEY);
    CHECK_INT(verify(ks, tb), KUMO__JWT_OK);
    free(ta), free(tb), free(tc);
    kumo__jwks_free(ks);
}

static void discovery(void)
{
    char doc[512], url[256];
    snprintf(doc, sizeof doc, "{\"issuer\":\"https://issuer.test\",\"jwks_uri\":\"http://127.0.0.1:%d/jwks.json\"}",
             server_port);
    jo_run("mkdir -p .well-known");
    jo_write(".well-known/openid-configuration", doc, strlen(doc));
    snprintf(url, sizeof url, "http://127.0.0.1:%d/.well-known/openid-configuration", server_port);
    write_keys(1, 0);
    kumo__error err = {0};
    kumo__jwks_config c = {.discovery_url = url};
    kumo__jwks *ks = kumo__jwks_new(&c, &err);
    CHECK(ks != NULL);
    if (ks == NULL)
        return;
    CHECK_INT(kumo__jwks_wait(ks, 10000), 1);
    char *ta = token("rsa.pem", "a");
    CHECK_INT(verify(ks, ta), KUMO__JWT_OK);
    CHECK_STR(stats(ks).issuer, "https://issuer.test");
    free(ta);
    kumo__jwks_free(ks);
    /* a discovery document without jwks_uri */
    jo_write(".well-known/bad", "{\"issuer\":\"x\"}", 14);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/.well-known/bad", server_port);
    c.discovery_url = url;
    ks = kumo__jwks_new(&c, &err);
    CHECK_INT(kumo__jwks_wait(ks, 10000), 0);
    CHECK(strstr(stats(ks).last_error, "jwks_uri") != NULL);
    kumo__jwks_free(ks);
}

static void fetch_refusals(void)
{
    char url[256];
    kumo__error err = {0};
    /* 404 */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/missing.json", server_port);
    kumo__jwks_config c = {.jwks_url = url, .timeout_ms = 5000};
    kumo__jwks *ks = kumo__jwks_new(&c, &err);
    CHECK_INT(kumo__jwks_wait(ks, 10000), 0);
    CHECK(strstr(stats(ks).last_error, "404") != NULL);
    char *ta = token("rsa.pem", "a");
    CHECK_INT(verify(ks, ta), KUMO__JWT_KEYS_UNAVAILABLE);
    kumo__jwks_free(ks);
    /* a document over the ceiling is cut off, not read whole */
    size_t big = KUMO__JWKS_MAX_BYTES + 4096;
    char *doc = malloc(big);
    memset(doc, ' ', big);
    memcpy(doc, "{\"keys\":[", 9);
    memcpy(doc + big - 2, "]}", 2);
    jo_write("big.json", doc, big);
    free(doc);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/big.json", server_port);
    ks = kumo__jwks_new(&c, &err);
    CHECK_INT(kumo__jwks_wait(ks, 10000), 0);
    CHECK(strstr(stats(ks).last_error, "larger") != NULL);
    kumo__jwks_free(ks);
    /* nothing listening */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &al);
    close(s);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/jwks.json", ntohs(a.sin_port));
    ks = kumo__jwks_new(&c, &err);
    CHECK_INT(kumo__jwks_wait(ks, 10000), 0);
    CHECK_INT(verify(ks, ta), KUMO__JWT_KEYS_UNAVAILABLE);
    CHECK(stats(ks).failures >= 1);
    kumo__jwks_free(ks);
    free(ta);
}

/* Verifications on several threads while the fetcher swaps the snapshot
 * under them (ttl 1 s): every one sees a whole set (under ASan, a freed
 * key would be caught). */
typedef struct {
    kumo__jwks *ks;
    const char *tok;
    int stop, bad, done;
} race_arg;

static void *race_thread(void *p)
{
    race_arg *a = p;
    while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
        if (verify(a->ks, a->tok) != KUMO__JWT_OK)
            __atomic_add_fetch(&a->bad, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&a->done, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void swaps_under_readers(void)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/jwks.json", server_port);
    write_keys(1, 1);
    kumo__error err = {0};
    kumo__jwks_config c = {.jwks_url = url, .ttl_s = 1, .min_refetch_s = 1};
    kumo__jwks *ks = kumo__jwks_new(&c, &err);
    CHECK_INT(kumo__jwks_wait(ks, 10000), 1);
    char *ta = token("rsa.pem", "a");
    race_arg a = {.ks = ks, .tok = ta};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, race_thread, &a);
    unsigned start = stats(ks).fetches;
    for (int i = 0; i < 200 && stats(ks).fetches < start + 3; i++)
        sleep_ms(100);
    __atomic_store_n(&a.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    CHECK(stats(ks).fetches >= start + 3);
    CHECK(a.done > 0);
    CHECK_INT(a.bad, 0);
    free(ta);
    kumo__jwks_free(ks);
}

/* An issuer that accepts the connection and never answers: readers are
 * not held up, and freeing the set aborts the fetch instead of waiting
 * out its 20 s. */
static void hung_issuer(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    listen(s, 8); /* never accepted: the kernel completes the handshake, nobody reads */
    getsockname(s, (struct sockaddr *)&a, &al);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/jwks.json", ntohs(a.sin_port));
    kumo__error err = {0};
    kumo__jwks_config c = {.jwks_url = url, .timeout_ms = 20000};
    kumo__jwks *ks = kumo__jwks_new(&c, &err);
    char *ta = token("rsa.pem", "a");
    uint64_t t0 = kumo__mono_ms();
    CHECK_INT(verify(ks, ta), KUMO__JWT_KEYS_UNAVAILABLE);
    CHECK_INT(kumo__jwks_wait(ks, 500), 0);
    CHECK(kumo__mono_ms() - t0 < 5000);
    t0 = kumo__mono_ms();
    kumo__jwks_free(ks);
    CHECK(kumo__mono_ms() - t0 < 10000);
    close(s);
    free(ta);
}

/* Keys over https: refused from an issuer whose certificate the system
 * does not trust, read with its CA given (ca_file); an https discovery
 * document may not send kumo to an http jwks_uri. */
static void https(void)
{
    if (jo_run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -out tls.crt "
               "-days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1") != 0) {
        CHECK(0);
        return;
    }
    int port = 0;
    pid_t pid = python_server(1, &port);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    write_keys(1, 0);
    char url[256], ca[300], doc[512];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/jwks.json", port);
    snprintf(ca, sizeof ca, "%s/tls.crt", jo_dir);
    kumo__error err = {0};
    char *ta = token("rsa.pem", "a");
    kumo__jwks_config c = {.jwks_url = url};
    kumo__jwks *ks = kumo__jwks_new(&c, &err);
    CHECK_INT(kumo__jwks_wait(ks, 10000), 0);
    CHECK(strstr(stats(ks).last_error, "certificate") != NULL || strstr(stats(ks).last_error, "SSL") != NULL);
    CHECK_INT(verify(ks, ta), KUMO__JWT_KEYS_UNAVAILABLE);
    kumo__jwks_free(ks);
    c.ca_file = ca;
    ks = kumo__jwks_new(&c, &err);
    CHECK_INT(kumo__jwks_wait(ks, 10000), 1);
    CHECK_INT(verify(ks, ta), KUMO__JWT_OK);
    kumo__jwks_free(ks);
    /* discovery over https pointing at http */
    snprintf(doc, sizeof doc, "{\"issuer\":\"x\",\"jwks_uri\":\"http://127.0.0.1:%d/jwks.json\"}", server_port);
    jo_run("mkdir -p .well-known");
    jo_write(".well-known/downgrade", doc, strlen(doc));
    snprintf(url, sizeof url, "https://127.0.0.1:%d/.well-known/downgrade", port);
    c = (kumo__jwks_config){.discovery_url = url, .ca_file = ca};
    ks = kumo__jwks_new(&c, &err);
    CHECK_INT(kumo__jwks_wait(ks, 10000), 0);
    CHECK(strstr(stats(ks).last_error, "not https") != NULL);
    kumo__jwks_free(ks);
    /* a CA file that is not there is refused at once */
    c = (kumo__jwks_config){.jwks_url = url, .ca_file = "/nonexistent/ca.pem"};
    CHECK(kumo__jwks_new(&c, &err) == NULL);
    CHECK(strstr(err.msg, "/nonexistent/ca.pem") != NULL);
    free(ta);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* The server goes away: the keys fetched before are still served. */
static void stale_on_failure(void)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/jwks.json", server_port);
    write_keys(1, 0);
    kumo__error err = {0};
    kumo__jwks_config c = {.jwks_url = url, .ttl_s = 1, .min_refetch_s = 1, .timeout_ms = 3000};
    kumo__jwks *ks = kumo__jwks_new(&c, &err);
    CHECK_INT(kumo__jwks_wait(ks, 10000), 1);
    server_stop();
    for (int i = 0; i < 300 && stats(ks).failures < 2; i++)
        sleep_ms(100);
    kumo__jwks_stats st = stats(ks);
    CHECK(st.failures >= 2);
    CHECK(st.last_error[0] != '\0');
    CHECK_INT(st.keys, 1);
    char *ta = token("rsa.pem", "a");
    CHECK_INT(verify(ks, ta), KUMO__JWT_OK);
    free(ta);
    uint64_t t0 = kumo__mono_ms();
    kumo__jwks_free(ks); /* prompt: the fetcher is woken, not waited out */
    CHECK(kumo__mono_ms() - t0 < 5000);
}

int main(void)
{
    if (jo_setup() < 0) {
        fprintf(stderr, "the openssl command is needed to sign the test tokens\n");
        return 1;
    }
    jwk_a = jo_jwk_members("rsa.pem", "RSA");
    jwk_b = jo_jwk_members("rsa_other.pem", "RSA");
    if (server_start() < 0) {
        fprintf(stderr, "cannot start python3 -m http.server\n");
        server_stop();
        jo_cleanup();
        return 1;
    }
    rotation();
    discovery();
    fetch_refusals();
    swaps_under_readers();
    hung_issuer();
    https();
    stale_on_failure();
    server_stop();
    free(jwk_a), free(jwk_b);
    jo_cleanup();
    return check_report();
}
