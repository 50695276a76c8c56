/*
 * runner.c: `kumo test`'s run. The project is loaded once, as kumo-host
 * loads a package (kumo__host_load: units dlopened, routes, security,
 * contract checks); the test objects are dlopened and their KUMO_TEST
 * constructors register the tests (harness.c). Then each test runs in a
 * child forked from that state, with its stores on a fresh temporary
 * folder and its stdout and stderr captured in a file, while this process
 * waits on the report pipe (testkit.h) for at most the test's timeout.
 * One line per test, the failure's file:line and the captured output, a
 * summary; the parent never runs a handler, so it opens no store. Each
 * handler sees its unit's env: of kumo.yaml (kumo__host_apply_unit_env),
 * over the environment kumo test was started with.
 */
#include "testkit/testkit.h"

#include "host/host.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fs.h"
#include "base/growbuf.h"
#include "base/store_var.h"
#include "gateway/service_mocks.h"
#include "project/project.h"
#include "project/services.h"

#define REPORTS_MAX (256u << 10)
#define OUTPUT_SHOWN (16u << 10)

/* What the child told and how it ended. */
typedef struct outcome {
    int passed;
    char failure[4200]; /* "FILE:LINE: message", or why the child died */
    char during[400];   /* the last request it was sending: "FILE:LINE: GET /x" */
    int pending;        /* it had not had the answer to that request */
    int died;           /* killed, crashed or exited: no assertion said why */
} outcome;

/* Moves every store of the project to the fresh folder `tmp` (the child's
 * environment; the SDK reads KUMO_STORE_<NAME> when a store is first
 * opened, which no test has done yet in this process). */
static int place_fresh_stores(const kumo__project *p, const char *tmp)
{
    for (size_t i = 0; i < p->nstores; i++) {
        char var[KUMO__STORE_VAR_MAX + 8], url[4200];
        if (kumo__store_var(p->stores[i].name, var, sizeof(var)) != 0)
            return -1;
        if (p->stores[i].kind == KUMO__STORE_BLOB)
            snprintf(url, sizeof(url), "file:%s/blob", tmp);
        else
            snprintf(url, sizeof(url), "sqlite:%s/%s.db", tmp, kumo__store_kind_name(p->stores[i].kind));
        if (setenv(var, url, 1) != 0)
            return -1;
    }
    return 0;
}

/* The reports in `buf`: the first failure, the last request. */
static void read_reports(const char *buf, size_t len, outcome *o)
{
    const char *end = buf + len;
    for (const char *l = buf; l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        size_t n = nl ? (size_t)(nl - l) : (size_t)(end - l);
        if (n > 1 && l[0] == '!' && o->failure[0] == '\0')
            snprintf(o->failure, sizeof(o->failure), "%.*s", (int)(n - 1), l + 1);
        else if (n > 1 && l[0] == '@') {
            snprintf(o->during, sizeof(o->during), "%.*s", (int)(n - 1), l + 1);
            o->pending = 1;
        } else if (n >= 1 && l[0] == '=') {
            o->pending = 0;
        }
        l += n + 1;
    }
}

static void run_one(kumo__host *h, const kumo__test_case *c, const kumo__test_options *opt, const char *tmp, int out_fd,
                    outcome *o)
{
    memset(o, 0, sizeof(*o));
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(o->failure, sizeof(o->failure), "cannot make a pipe: %s", strerror(errno));
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(o->failure, sizeof(o->failure), "cannot fork the test's process: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return;
    }
    if (pid == 0) {
        close(pfd[0]);
        if (dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0 || place_fresh_stores(h->project, tmp) != 0)
            _exit(120);
        signal(SIGPIPE, SIG_DFL);
        kumo__test_run_case(h, c, pfd[1]);
        _exit(0);
    }
    close(pfd[1]);
    kumo__growbuf reports = {.max = REPORTS_MAX};
    uint64_t deadline = kumo__mono_us() + (uint64_t)opt->timeout_s * 1000000u;
    int timed_out = 0;
    for (;;) {
        uint64_t now = kumo__mono_us();
        if (now >= deadline) {
            timed_out = 1;
            break;
        }
        struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
        int ms = (int)((deadline - now) / 1000u) + 1;
        int rc = poll(&pf, 1, ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            break;
        if (rc == 0)
            continue; /* the deadline is checked above */
        char buf[4096];
        ssize_t n = read(pfd[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* EOF: the child is gone (or closed the pipe) */
        if (!reports.over)
            kumo__growbuf_add(&reports, buf, (size_t)n);
    }
    close(pfd[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    read_reports(reports.data ? reports.data : "", reports.len, o);
    free(reports.data);
    int clean = !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    o->died = !clean && o->failure[0] == '\0';
    if (timed_out) {
        snprintf(o->failure, sizeof(o->failure), "%s:%d: did not finish in %u s (killed; --timeout S to wait longer)",
                 c->file, c->line, opt->timeout_s);
    } else if (WIFSIGNALED(status)) {
        snprintf(o->failure, sizeof(o->failure), "%s:%d: crashed: signal %d (%s)", c->file, c->line, WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && o->failure[0] == '\0') {
        o->passed = 1;
    } else if (o->failure[0] == '\0') {
        snprintf(o->failure, sizeof(o->failure), "%s:%d: the test's process exited with status %d%s", c->file, c->line,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                 WIFEXITED(status) && WEXITSTATUS(status) == 120 ? " (its stores could not be placed)" : "");
    }
}

/* What the test printed, indented, at most OUTPUT_SHOWN bytes (its end). */
static void show_output(int fd)
{
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0)
        return;
    off_t from = size > (off_t)OUTPUT_SHOWN ? size - (off_t)OUTPUT_SHOWN : 0;
    char *buf = malloc((size_t)(size - from) + 1);
    if (buf == NULL)
        return;
    ssize_t n = pread(fd, buf, (size_t)(size - from), from);
    if (n > 0) {
        buf[n] = '\0';
        printf("     output%s:\n", from ? " (its end)" : "");
        for (char *l = buf; *l;) {
            char *nl = strchr(l, '\n');
            if (nl)
                *nl = '\0';
            printf("       %s\n", l);
            if (nl == NULL)
                break;
            l = nl + 1;
        }
    }
    free(buf);
}

static int run_case(kumo__host *h, const kumo__test_case *c, const kumo__test_options *opt, kumo__test_summary *sum,
                    kumo__error *err)
{
    const char *base = getenv("TMPDIR");
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s/kumo-test-stores-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(tmp) == NULL) {
        kumo__error_set(err, -errno, "cannot make a temporary folder for the test's stores in %s: %s",
                        base && *base ? base : "/tmp", strerror(errno));
        return err->code;
    }
    char out_path[4200];
    snprintf(out_path, sizeof(out_path), "%s/output", tmp);
    int out_fd = open(out_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out_fd < 0) {
        kumo__error_set(err, -errno, "cannot create %s: %s", out_path, strerror(errno));
        kumo__rmtree(tmp);
        return err->code;
    }
    uint64_t start = kumo__mono_us();
    outcome o;
    run_one(h, c, opt, tmp, out_fd, &o);
    double ms = (double)(kumo__mono_us() - start) / 1000.0;
    if (o.passed) {
        sum->passed++;
        printf("ok   %s:%d %s (%.0f ms)\n", c->file, c->line, c->name, ms);
        if (opt->verbose)
            show_output(out_fd);
    } else {
        sum->failed++;
        printf("FAIL %s:%d %s (%.0f ms)\n", c->file, c->line, c->name, ms);
        printf("     %s\n", o.failure);
        if (o.died && o.during[0])
            printf("     %s %s\n", o.pending ? "during the request" : "after the last request,", o.during);
        show_output(out_fd);
    }
    fflush(stdout);
    close(out_fd);
    kumo__rmtree(tmp);
    return 0;
}

/* Each service with no URL in the environment gets a `kumo mock` child,
 * as under kumo up (gateway/service_mocks.h), started once for the run
 * (a stateful mock's records are shared by the tests); kumo-host's load
 * then finds it by KUMO_SERVICE_<NAME>_URL. */
static int mock_services(const char *dir, kumo__mock_set **set, kumo__error *err)
{
    kumo__project *p = NULL;
    kumo__service_target *t = NULL;
    size_t n = 0;
    int rc = kumo__project_load(dir, &p, err);
    if (rc != 0 || p->nservices == 0)
        goto out;
    const char *env = getenv("KUMO_ENV");
    if ((*set = kumo__mock_set_new(p->dir)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = kumo__services_resolve(p, env && *env ? env : NULL, kumo__mock_set_start, *set, &t, &n, err)) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        char var[160];
        if ((strncmp(t[i].from, "kumo mock", 9) == 0 || strstr(t[i].from, "through kumo mock")) &&
            kumo__service_var(t[i].decl->name, var, sizeof(var)) == 0) {
            printf("note service %s: %s at %s\n", t[i].decl->name, t[i].from, t[i].url);
            if (setenv(var, t[i].url, 1) != 0) {
                kumo__error_set(err, -errno, "%s: %s", var, strerror(errno));
                rc = err->code;
                goto out;
            }
        }
    }
out:
    kumo__service_targets_free(t, n);
    kumo__project_free(p);
    return rc;
}

int kumo__test_run(const char *dir, char *const *objects, char *const *sources, size_t n, const kumo__test_options *opt,
                   kumo__test_summary *sum, kumo__error *err)
{
    kumo__mock_set *mocks = NULL;
    memset(sum, 0, sizeof(*sum));
    kumo__host *h = NULL;
    void **handles = calloc(n ? n : 1, sizeof(*handles));
    int rc = 0;
    if (handles == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    if ((rc = mock_services(dir, &mocks, err)) != 0) {
        kumo__error_wrap(err, "mocking the project's services for its tests");
        goto out;
    }
    if ((rc = kumo__host_load(dir, NULL, &h, err)) != 0) {
        kumo__error_wrap(err, "loading the project for its tests");
        goto out;
    }
    const char *env = getenv("KUMO_ENV"); /* kumo test --env */
    if ((rc = kumo__host_apply_unit_env(h, env && *env ? env : NULL, err)) != 0) {
        kumo__error_wrap(err, "kumo.yaml's env:");
        goto out;
    }
    kumo__test_cases_reset();
    for (size_t i = 0; i < n; i++) {
        size_t before, after;
        kumo__test_cases(&before);
        if ((handles[i] = dlopen(objects[i], RTLD_NOW | RTLD_LOCAL)) == NULL) {
            const char *why = dlerror();
            kumo__error_set(err, -ENOEXEC, "%s: cannot load its test object: %s", sources[i],
                            why ? why : "dlopen failed");
            rc = err->code;
            goto out;
        }
        kumo__test_cases(&after);
        if (after == before)
            printf("note %s defines no test (KUMO_TEST(name) { ... }: docs/testing.md)\n", sources[i]);
    }
    size_t ncases, ran = 0;
    const kumo__test_case *cases = kumo__test_cases(&ncases);
    uint64_t start = kumo__mono_us();
    for (size_t i = 0; i < ncases && rc == 0; i++) {
        if (opt->filter && strstr(cases[i].name, opt->filter) == NULL)
            continue;
        ran++;
        rc = run_case(h, &cases[i], opt, sum, err);
    }
    if (rc != 0)
        goto out;
    if (ran == 0) {
        kumo__error_set(err, -ENOENT, "no test to run%s%s%s", opt->filter ? " (none has '" : "",
                        opt->filter ? opt->filter : "", opt->filter ? "' in its name)" : "");
        rc = err->code;
        goto out;
    }
    printf("%u passed, %u failed (%.2f s)\n", sum->passed, sum->failed, (double)(kumo__mono_us() - start) / 1e6);
    fflush(stdout);
out:
    kumo__test_cases_reset();
    for (size_t i = 0; i < n; i++)
        if (handles[i])
            dlclose(handles[i]);
    free(handles);
    kumo__host_free(h);
    kumo__mock_set_free(mocks);
    return rc;
}
