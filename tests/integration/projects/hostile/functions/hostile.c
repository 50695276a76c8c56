/*
 * Handlers that attack the worker they run in, for the sandbox's tests
 * (tests/integration/test_sandbox.py). Each answers 200 with what it
 * managed and the errno it got; none ever echoes what it read. The loops
 * are bounded so that a run without the sandbox cannot hurt the machine.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrorname_np */
#endif
#include <kumo.h>

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *errname(int e)
{
    const char *n = e ? strerrorname_np(e) : "0";
    return n ? n : "unknown";
}

static int answer(kumo_response *res, int ok, int e, long count)
{
    return kumo_response_json(res, 200, json_pack("{s:b,s:s,s:I}", "ok", ok, "errno", errname(e), "count",
                                                  (json_int_t)count));
}

int ok(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    return kumo_response_body(res, "fine", 4, "text/plain");
}

/* count: the bytes read, which must stay 0 under the sandbox. */
int read_shadow(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    char buf[256];
    int fd = open("/etc/shadow", O_RDONLY);
    if (fd < 0)
        return answer(res, 0, errno, 0);
    ssize_t n = read(fd, buf, sizeof(buf));
    int e = n < 0 ? errno : 0;
    close(fd);
    return answer(res, n > 0, e, n > 0 ? (long)n : 0);
}

int write_file(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *path = kumo_request_query(req, "path");
    if (path == NULL)
        return kumo_response_body(res, "?path= missing", 14, "text/plain");
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0)
        return answer(res, 0, errno, 0);
    ssize_t n = write(fd, "", 0);
    close(fd);
    return answer(res, 1, 0, (long)n);
}

int fork_bomb(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *ns = kumo_request_query(req, "n");
    long n = ns ? atol(ns) : 20, forked = 0;
    int e = 0;
    for (long i = 0; i < n && i < 200; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid < 0) {
            e = errno;
            break;
        }
        forked++;
        waitpid(pid, NULL, 0);
    }
    return answer(res, forked > 0, e, forked);
}

int spawn_shell(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    pid_t pid;
    char *argv[] = {"true", NULL};
    int rc = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
    if (rc == 0)
        waitpid(pid, NULL, 0);
    return answer(res, rc == 0, rc, 0);
}

/* Touches every page, so the memory is really charged. */
int eat_memory(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *ms = kumo_request_query(req, "mib");
    long mib = ms ? atol(ms) : 1024, got = 0;
    for (; got < mib; got++) {
        char *p = malloc(1 << 20);
        if (p == NULL)
            return answer(res, 0, ENOMEM, got);
        memset(p, 0x5a, 1 << 20); /* kept: the point is to hold it */
    }
    return answer(res, 1, 0, got);
}

int spin(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *ss = kumo_request_query(req, "s");
    double s = ss ? atof(ss) : 30;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    volatile unsigned long x = 0;
    do {
        for (int i = 0; i < 1000000; i++)
            x += (unsigned long)i;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 < s);
    return answer(res, 1, 0, (long)(x & 1));
}

/* count: how many of socket, bind, listen succeeded. */
int listen_tcp(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    long steps = 0;
    int e = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return answer(res, 0, errno, 0);
    steps++;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        e = errno;
    } else {
        steps++;
        if (listen(fd, 1) != 0)
            e = errno;
        else
            steps++;
    }
    close(fd);
    return answer(res, steps == 3, e, steps);
}

int ptrace_parent(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    long rc = ptrace(PTRACE_ATTACH, getppid(), NULL, NULL);
    int e = rc == 0 ? 0 : errno;
    if (rc == 0)
        ptrace(PTRACE_DETACH, getppid(), NULL, NULL);
    return answer(res, rc == 0, e, 0);
}

int mount_tmpfs(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    int rc = mount("hostile", "/mnt", "tmpfs", 0, NULL);
    int e = rc == 0 ? 0 : errno;
    if (rc == 0)
        umount("/mnt");
    return answer(res, rc == 0, e, 0);
}

/* Signal 0 only probes: a sandboxed worker may not signal the gateway. */
int signal_parent(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    int rc = kill(getppid(), 0);
    return answer(res, rc == 0, rc == 0 ? 0 : errno, 0);
}

/* Tries to lift its own memory limit (cgroup v1 path from /proc). */
int raise_memory_limit(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    char line[512], path[700] = "";
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f == NULL)
        return answer(res, 0, errno, 0);
    while (fgets(line, sizeof(line), f)) {
        char *m = strstr(line, ":memory:");
        if (m) {
            m[strcspn(m, "\n")] = '\0';
            snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", m + 8);
        }
    }
    fclose(f);
    if (path[0] == '\0')
        return answer(res, 0, ENOENT, 0);
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return answer(res, 0, errno, 0);
    /* Writes the value it has: proves the write would work, changes nothing. */
    char cur[64];
    int rfd = open(path, O_RDONLY);
    ssize_t n = rfd >= 0 ? read(rfd, cur, sizeof(cur)) : -1;
    if (rfd >= 0)
        close(rfd);
    int e = 0;
    if (n > 0 && write(fd, cur, (size_t)n) < 0)
        e = errno;
    close(fd);
    return answer(res, e == 0, e, 0);
}

int write_tmp(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    char name[64];
    snprintf(name, sizeof(name), "/tmp/kumo-hostile-%d", (int)getpid());
    FILE *f = fopen(name, "w");
    if (f == NULL)
        return answer(res, 0, errno, 0);
    fputs("scratch", f);
    fclose(f);
    char buf[16] = "";
    f = fopen(name, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    unlink(name);
    return answer(res, n == 7 && strcmp(buf, "scratch") == 0, 0, (long)n);
}

/* What /proc shows of the machine's processes: {"pid": comm, ...}. In the
 * sandbox's pid namespace only the namespace's own (its init, the spares
 * and workers of the loop), not the gateway nor anything else. */
int list_processes(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    json_t *seen = json_object();
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && seen && (e = readdir(d)) != NULL) {
        char *end, path[300], comm[64] = "";
        strtol(e->d_name, &end, 10);
        if (*end != '\0' || e->d_name[0] == '\0')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
        FILE *f = fopen(path, "re");
        if (f && fgets(comm, sizeof(comm), f))
            comm[strcspn(comm, "\n")] = '\0';
        if (f)
            fclose(f);
        json_object_set_new(seen, e->d_name, json_string(comm));
    }
    if (d)
        closedir(d);
    return kumo_response_json(res, 200, json_pack("{s:i,s:o}", "self", (int)getpid(), "processes", seen));
}
