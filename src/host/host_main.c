/*
 * host_main.c: the kumo-host command (host.h). What a package's bootstrap
 * runs; it prints why it cannot start on stderr (and, under Lambda, to
 * the Runtime API's init error), and exits 1 then.
 *
 * Built three times (CMakeLists.txt): kumo-host, every adapter; kumo-lambda
 * (KUMO_LAMBDA_ONLY), the lambda adapter alone over kumo_sdk_lambda, which
 * links no HTTP server; kumo-http (KUMO_HTTP_ONLY), the http adapter over
 * kumo's own HTTP/1.1 server (lean_http.c) and kumo_sdk_cloud, which links
 * neither h2o nor OpenSSL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/auxv.h>

#include "host/host.h"

#ifndef KUMO_LAMBDA_ONLY
#define KUMO_LAMBDA_ONLY 0
#endif
#ifndef KUMO_HTTP_ONLY
#define KUMO_HTTP_ONLY 0
#endif

#if KUMO_LAMBDA_ONLY
#define PROG "kumo-lambda"
#elif KUMO_HTTP_ONLY
#define PROG "kumo-http"
#else
#define PROG "kumo-host"
#endif

static void usage(void)
{
#if KUMO_HTTP_ONLY
    fprintf(stderr,
            "usage: kumo-http http APPDIR [UNIT]\n"
            "  http: serves HTTP/1.1 on $PORT (else $FUNCTIONS_CUSTOMHANDLER_PORT, else 8080), all interfaces;\n"
            "        with KUMO_FIRE=EVENT set, fires that event once and exits (0: the handler said 2xx)\n"
            "  (kumo-http is kumo-host's http adapter over kumo's own HTTP/1.1 server, with the clouds'\n"
            "  store drivers only)\n");
    return;
#endif
#if KUMO_LAMBDA_ONLY
    fprintf(stderr, "usage: kumo-lambda lambda APPDIR [UNIT]\n"
                    "  lambda: the AWS Lambda Runtime API at $AWS_LAMBDA_RUNTIME_API\n"
                    "  (kumo-lambda is kumo-host's lambda adapter alone, with the AWS store drivers only)\n");
    return;
#endif
    fprintf(stderr, "usage: kumo-host http|lambda APPDIR [UNIT]\n"
                    "  http:   serves on $PORT (else $FUNCTIONS_CUSTOMHANDLER_PORT, else 8080), all interfaces;\n"
                    "          with KUMO_FIRE=EVENT set, fires that event once and exits (0: the handler said 2xx)\n"
                    "  lambda: the AWS Lambda Runtime API at $AWS_LAMBDA_RUNTIME_API\n");
}

#if !KUMO_LAMBDA_ONLY
static int port_from_env(void)
{
    const char *vars[] = {"PORT", "FUNCTIONS_CUSTOMHANDLER_PORT"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = getenv(vars[i]);
        char *end;
        long n = v && *v ? strtol(v, &end, 10) : -1;
        if (v && *v && *end == '\0' && n > 0 && n < 65536)
            return (int)n;
    }
    return 8080;
}
#endif

int kumo__host_lambda_main(kumo__host *h, const char *api, const char *load_error);

#include "auth/jwks.h"
#include "obs/trace.h"
#include "sdk/stores/cloud.h"
/* own_http.c: key sets fetched and spans sent over kumo's own HTTPS client */
int kumo__own_fetch(const char *url, int timeout_ms, size_t max_bytes, char **body, size_t *len, char *why,
                    size_t whylen);
int kumo__own_post(const char *url, const char *const *headers, const void *body, size_t len, long timeout_ms,
                   long *status, char *why, size_t whylen);

/* The proxy variable set, if one is: libcurl honours them, kumo's own
 * client does not. */
static const char *proxy_var(void)
{
    static const char *const vars[] = {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
                                       "http_proxy",  "ALL_PROXY",   "all_proxy"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        if (getenv(vars[i]) && *getenv(vars[i]))
            return vars[i];
    return NULL;
}

/* The host's HTTP calls of its own, the cloud stores', the key sets' and
 * the spans', go through kumo's own client (sdk/stores/httpc.c), so that a
 * package needs libcurl only for the units' outbound calls (deploy/
 * bundle.c). Not when a proxy variable is set: libcurl honours it, kumo's
 * client does not, and a package that carries no libcurl then says so
 * when a store first connects. kumo-lambda has no libcurl at all: the
 * units' outbound calls go through kumo's client there too. */
static void own_http_calls(void)
{
    const char *proxy = proxy_var();
#if !KUMO_LAMBDA_ONLY && !KUMO_HTTP_ONLY
    if (proxy) {
        fprintf(stderr, "kumo-host: %s is set: the stores, key sets and spans go through libcurl, which honours it\n",
                proxy);
        return;
    }
    kumo__cloud_builtin = 1;
#else
    if (proxy)
        fprintf(stderr,
                PROG ": %s is set, and " PROG "'s HTTP client does not use a proxy; build the "
                     "package with KUMO_CURL=1 kumo build --host kumo-host to go through one\n",
                proxy);
    kumo__http_use_builtin(1); /* the functions' outbound calls: kumo-lambda and kumo-http have no libcurl */
#endif
    kumo__jwks_set_getter(kumo__own_fetch);
    kumo__otlp_set_poster(kumo__own_post);
}

#if KUMO_LAMBDA_ONLY
/* kumo-lambda as a package's bootstrap (no arguments: bundle.c made it
 * the bootstrap): the app/ folder beside the executable and the unit its
 * KUMO__LAMBDA_UNIT_FILE names. 0, or -1 having said why. */
static int as_bootstrap(const char *argv0, char *app, size_t appcap, char *unit, size_t unitcap)
{
    /* where the executable is: the path execve was given (no system call;
     * this process has not changed directory since), else the kernel's */
    char self[PATH_MAX];
    const char *execfn = (const char *)getauxval(AT_EXECFN);
    if (execfn && strchr(execfn, '/') && strlen(execfn) < sizeof(self)) {
        snprintf(self, sizeof(self), "%s", execfn);
    } else {
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0)
            self[n] = '\0';
        else
            snprintf(self, sizeof(self), "%s", argv0);
    }
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(self, sizeof(self), ".");
    snprintf(app, appcap, "%s/app", self);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", app, KUMO__LAMBDA_UNIT_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, unit, unitcap - 1) : -1;
    if (fd >= 0)
        close(fd);
    size_t len = got > 0 ? (size_t)got : 0;
    while (len > 0 && (unit[len - 1] == '\n' || unit[len - 1] == ' '))
        len--;
    unit[len] = '\0';
    if (len == 0) {
        fprintf(stderr,
                "kumo-lambda: no arguments, and %s names no unit; run it as the bootstrap of a package "
                "kumo build wrote, or as kumo-lambda lambda APPDIR UNIT\n",
                path);
        return -1;
    }
    return 0;
}
#endif

int main(int argc, char **argv)
{
#if KUMO_LAMBDA_ONLY || KUMO_HTTP_ONLY
    kumo__host_lazy_checks = 1; /* one invocation at a time: compile what is asked */
#endif
#if KUMO_LAMBDA_ONLY
    char app[PATH_MAX], unit[256];
    char *boot_argv[] = {argv[0], "lambda", app, unit, NULL};
    if (argc == 1) {
        if (as_bootstrap(argv[0], app, sizeof(app), unit, sizeof(unit)) != 0)
            return 2;
        argc = 4;
        argv = boot_argv;
    }
#endif
    int http_ok = !KUMO_LAMBDA_ONLY, lambda_ok = !KUMO_HTTP_ONLY;
    if (argc < 3 || argc > 4 ||
        ((!http_ok || strcmp(argv[1], "http") != 0) && (!lambda_ok || strcmp(argv[1], "lambda") != 0))) {
        usage();
        return 2;
    }
    own_http_calls();
    kumo__error err = {0};
    kumo__host *h = NULL;
    int rc = kumo__host_load(argv[2], argc == 4 ? argv[3] : NULL, &h, &err);
#if !KUMO_HTTP_ONLY
    if (strcmp(argv[1], "lambda") == 0) {
        const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
        if (api == NULL || *api == '\0') {
            fprintf(stderr, "kumo-host: AWS_LAMBDA_RUNTIME_API is not set; lambda runs under AWS Lambda or "
                            "`kumo emulate lambda`\n");
            kumo__host_free(h);
            return 1;
        }
        if (rc != 0)
            fprintf(stderr, "kumo-host: %s\n", err.msg[0] ? err.msg : "cannot load the package");
        rc = kumo__host_lambda_main(rc == 0 ? h : NULL, api, err.msg);
    }
#endif
#if !KUMO_LAMBDA_ONLY
    if (strcmp(argv[1], "http") != 0) {
        /* answered above */
    } else if (rc == 0 && getenv("KUMO_FIRE") && *getenv("KUMO_FIRE")) {
        /* a Kubernetes CronJob: fire the event once and exit */
        rc = kumo__host_fire(h, getenv("KUMO_FIRE"), &err);
    } else if (rc == 0) {
#if KUMO_HTTP_ONLY
        rc = kumo__host_serve_lean(h, "0.0.0.0", port_from_env(), &err);
#else
        rc = kumo__host_serve_http(h, "0.0.0.0", port_from_env(), &err);
#endif
    }
#endif
    if (rc != 0 && strcmp(argv[1], "http") == 0)
        fprintf(stderr, PROG ": %s\n", err.msg[0] ? err.msg : "failed");
    kumo__host_free(h);
    return rc == 0 ? 0 : 1;
}
