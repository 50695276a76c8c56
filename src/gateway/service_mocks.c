/*
 * service_mocks.c: the `kumo mock` children kumo up and kumo test start
 * for the services that have no URL in the chosen environment
 * (service_mocks.h; docs/outbound.md, docs/mocks.md). A service's calls
 * then go to its mock through the same path as to a real service, so a
 * function needs no change.
 *
 * Each mock is `kumo mock SPEC --port 0 --host 127.0.0.1 --threads 1
 * --seed S` and what services.NAME.mock asks for (--stateful [--data],
 * --replay DIR, --record DIR --proxy URL with --redact for the service's
 * headers, --faults FILE written from the faults: mapping), started by
 * this very executable (/proc/self/exe) on the main
 * thread while a generation is built; its first stdout line is "listening
 * on http://127.0.0.1:PORT", read with a deadline. Its stderr (its log
 * lines) is its parent's. A mock is kept for the set's life and reused by
 * later generations when the service, its document and its arguments are
 * the same; it gets SIGTERM when the set is stopped (and dies with its
 * parent in any case: PR_SET_PDEATHSIG).
 */
#include "gateway/service_mocks.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fs.h"
#include "project/services.h"

#define MOCK_START_MS 15000 /* how long a mock may take to say where it listens */

struct kumo__mock_set {
    char *dir; /* the project's: faults files go under its .kumo/data/mocks */
    struct kumo__gw_mock *list;
};

struct kumo__gw_mock {
    char *service, *spec;
    char *signature; /* its arguments after the port, joined: what a later generation must ask for to reuse it */
    uint64_t seed;
    pid_t pid;
    int out; /* its stdout's read end, kept open so that it never writes to a closed pipe */
    char *url;
    struct kumo__gw_mock *next;
};

static void mock_free(struct kumo__gw_mock *m)
{
    free(m->service);
    free(m->spec);
    free(m->signature);
    free(m->url);
    if (m->out >= 0)
        close(m->out);
    free(m);
}

/* Reads the first line within the deadline: 0, or -1 (err set). */
static int first_line(struct kumo__gw_mock *m, char *line, size_t size, kumo__error *err)
{
    size_t len = 0;
    uint64_t until = kumo__mono_ms() + MOCK_START_MS;
    while (len + 1 < size) {
        uint64_t now = kumo__mono_ms();
        if (now >= until) {
            kumo__error_set(err, -ETIMEDOUT, "kumo mock did not say where it listens within %d s",
                            MOCK_START_MS / 1000);
            return -1;
        }
        struct pollfd p = {.fd = m->out, .events = POLLIN};
        int rc = poll(&p, 1, (int)(until - now));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            continue;
        char c;
        ssize_t n = read(m->out, &c, 1);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            int status = 0;
            waitpid(m->pid, &status, 0);
            m->pid = 0;
            kumo__error_set(err, -EIO, "kumo mock exited before serving (status %d); its messages are above",
                            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            return -1;
        }
        if (c == '\n')
            break;
        line[len++] = c;
    }
    line[len] = '\0';
    return 0;
}

static int start(char *const *argv, struct kumo__gw_mock *m, kumo__error *err)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        kumo__error_set(err, -errno, "cannot find the kumo executable to start kumo mock: %s", strerror(errno));
        return -1;
    }
    self[n] = '\0';
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        kumo__error_set(err, -errno, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        kumo__error_set(err, -errno, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        /* only async-signal-safe calls between fork and exec */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* kumo up's loops block signals for sigwait */
        if (dup2(fds[1], 1) < 0)
            _exit(127);
        execv(self, argv);
        _exit(127);
    }
    close(fds[1]);
    m->pid = pid;
    m->out = fds[0];
    char line[512];
    if (first_line(m, line, sizeof(line), err) != 0)
        return -1;
    static const char prefix[] = "listening on ";
    if (strncmp(line, prefix, sizeof(prefix) - 1) != 0 || (m->url = strdup(line + sizeof(prefix) - 1)) == NULL) {
        kumo__error_set(err, -EPROTO, "kumo mock said '%.200s' where 'listening on URL' was expected", line);
        return -1;
    }
    return 0;
}

/* The faults: mapping of kumo.yaml as the file --faults reads (JSON, a
 * list of rules wrapped as {"rules": [...]}), under DATA/mocks. */
static int faults_file(const char *dir, const kumo__service *s, char *path, size_t size, kumo__error *err)
{
    char mocks[4096];
    snprintf(mocks, sizeof(mocks), "%s/.kumo/data/mocks", dir);
    int rc = kumo__mkdirs(mocks, 0700);
    if (rc != 0) {
        kumo__error_set(err, rc, "cannot create %s: %s", mocks, strerror(-rc));
        return -1;
    }
    snprintf(path, size, "%s/%s.faults.json", mocks, s->name);
    json_t *f = (json_t *)s->mock.faults;
    json_t *doc = json_is_array(f) ? json_pack("{s:O}", "rules", f) : json_incref(f);
    rc = doc ? json_dump_file(doc, path, JSON_COMPACT) : -1;
    json_decref(doc);
    if (rc != 0) {
        kumo__error_set(err, -EIO, "cannot write %s", path);
        return -1;
    }
    return 0;
}

#define MOCK_ARGS_MAX (24 + 2 * 64)

kumo__mock_set *kumo__mock_set_new(const char *project_dir)
{
    kumo__mock_set *set = calloc(1, sizeof(*set));
    if (set && (set->dir = strdup(project_dir)) == NULL) {
        free(set);
        set = NULL;
    }
    return set;
}

int kumo__mock_set_start(void *ctx, const kumo__service *s, const char *upstream, char **url, kumo__error *err)
{
    kumo__mock_set *set = ctx;
    const kumo__service_mock *mk = &s->mock;
    const char *mode = mk->mode ? mk->mode : "static";
    char seed[32], faults[4200];
    char *argv[MOCK_ARGS_MAX];
    int n = 0;
    snprintf(seed, sizeof(seed), "%llu", (unsigned long long)mk->seed);
    argv[n++] = "kumo";
    argv[n++] = "mock";
    argv[n++] = s->spec;
    argv[n++] = "--port";
    argv[n++] = "0";
    int from = n; /* the signature starts here */
    argv[n++] = "--host";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--threads";
    argv[n++] = "1";
    argv[n++] = "--seed";
    argv[n++] = seed;
    if (mk->data && strcmp(mode, "stateful") != 0) {
        kumo__error_set(err, -EINVAL, "services.%s.mock.data seeds a stateful mock; add mode: stateful or remove it",
                        s->name);
        return -EINVAL;
    }
    if (strcmp(mode, "stateful") == 0) {
        argv[n++] = "--stateful";
        if (mk->data) {
            argv[n++] = "--data";
            argv[n++] = mk->data;
        }
    } else if (strcmp(mode, "replay") == 0 || strcmp(mode, "record") == 0) {
        if (mk->recordings == NULL) {
            kumo__error_set(err, -EINVAL, "services.%s.mock.mode %s needs recordings: DIR (a directory in the project)",
                            s->name, mode);
            return -EINVAL;
        }
        argv[n++] = strcmp(mode, "replay") == 0 ? "--replay" : "--record";
        argv[n++] = mk->recordings;
        if (upstream) {
            argv[n++] = "--proxy";
            argv[n++] = (char *)upstream;
        }
        /* the service's own headers (credentials) never reach a recording */
        for (size_t i = 0; i < s->nheaders && n < MOCK_ARGS_MAX - 3; i++) {
            argv[n++] = "--redact";
            argv[n++] = s->headers[i].name;
        }
    }
    if (mk->faults) {
        if (faults_file(set->dir, s, faults, sizeof(faults), err) != 0)
            return err->code ? err->code : -EIO;
        argv[n++] = "--faults";
        argv[n++] = faults;
    }
    argv[n] = NULL;
    size_t siglen = 1;
    for (int i = from; i < n; i++)
        siglen += strlen(argv[i]) + 1;
    char *sig = malloc(siglen);
    if (sig == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    sig[0] = '\0';
    for (int i = from; i < n; i++) {
        strcat(sig, argv[i]);
        strcat(sig, " ");
    }
    for (struct kumo__gw_mock *m = set->list; m; m = m->next)
        if (strcmp(m->service, s->name) == 0 && strcmp(m->spec, s->spec) == 0 && strcmp(m->signature, sig) == 0 &&
            m->pid > 0 && waitpid(m->pid, NULL, WNOHANG) == 0) {
            free(sig);
            if ((*url = strdup(m->url)) == NULL) {
                kumo__error_set(err, -ENOMEM, "out of memory");
                return -ENOMEM;
            }
            return 0;
        }
    struct kumo__gw_mock *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->service = strdup(s->name)) == NULL || (m->spec = strdup(s->spec)) == NULL) {
        free(sig);
        if (m)
            mock_free(m);
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    m->signature = sig;
    m->out = -1;
    m->seed = mk->seed;
    if (start(argv, m, err) != 0) {
        int rc = err->code ? err->code : -EIO;
        if (m->pid > 0) {
            kill(m->pid, SIGKILL);
            waitpid(m->pid, NULL, 0);
        }
        mock_free(m);
        return rc;
    }
    if ((*url = strdup(m->url)) == NULL) {
        kill(m->pid, SIGKILL);
        waitpid(m->pid, NULL, 0);
        mock_free(m);
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    kumo__log_event("info", "service %s: kumo mock (%s) of %s serves it at %s (pid %d)", s->name, mode, s->spec, m->url,
                    (int)m->pid);
    m->next = set->list;
    set->list = m;
    return 0;
}

void kumo__mock_set_free(kumo__mock_set *set)
{
    if (set == NULL)
        return;
    for (struct kumo__gw_mock *m = set->list; m; m = m->next)
        if (m->pid > 0)
            kill(m->pid, SIGTERM);
    uint64_t until = kumo__mono_ms() + 5000;
    while (set->list) {
        struct kumo__gw_mock *m = set->list;
        if (m->pid > 0 && waitpid(m->pid, NULL, WNOHANG) == 0) {
            if (kumo__mono_ms() < until) {
                usleep(10000);
                continue;
            }
            kill(m->pid, SIGKILL);
            waitpid(m->pid, NULL, 0);
        }
        set->list = m->next;
        mock_free(m);
    }
    free(set->dir);
    free(set);
}
