/*
 * sandbox.c: the spawner's side of the worker sandbox, and what both sides
 * share: parsing the layer list, finding the memory cgroup a worker makes
 * for itself (a child of its spawner's cgroup named kumo-worker-<pid>),
 * reading whether the OOM killer struck there, removing it (and sweeping
 * those of processes that are gone), and describing the layers for the
 * gateway's start-up line.
 *
 * The worker's side, which enters the layers, is sandbox_enter.c; it alone
 * needs libseccomp, so the gateway (which links this file) does not.
 * docs/sandbox.md says what each layer stops and why it is built so.
 */

#include "sandbox/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers shared with sandbox_enter.c --------------------------------- */

/* Appends to a NUL-terminated buffer, truncating silently. */
void kumo__sandbox_append(char *buf, size_t len, const char *fmt, ...)
{
    if (buf == NULL || len == 0)
        return;
    size_t used = strnlen(buf, len);
    if (used >= len - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

int kumo__sandbox_write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int rc = n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
    close(fd);
    return rc;
}

int kumo__sandbox_read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, len - 1);
    int rc = n < 0 ? -errno : 0;
    buf[n < 0 ? 0 : n] = '\0';
    close(fd);
    return rc;
}

static void format_bytes(char *out, size_t len, size_t bytes)
{
    if (bytes % (1u << 30) == 0)
        snprintf(out, len, "%zu GiB", bytes >> 30);
    else if (bytes % (1u << 20) == 0)
        snprintf(out, len, "%zu MiB", bytes >> 20);
    else if (bytes % 1024 == 0)
        snprintf(out, len, "%zu KiB", bytes >> 10);
    else
        snprintf(out, len, "%zu bytes", bytes);
}

int kumo__sandbox_parse_layers(const char *list, unsigned *layers)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {
        {"seccomp", KUMO__SANDBOX_SECCOMP}, {"namespaces", KUMO__SANDBOX_NAMESPACES},
        {"limits", KUMO__SANDBOX_LIMITS},   {"no_new_privs", KUMO__SANDBOX_NO_NEW_PRIVS},
        {"all", KUMO__SANDBOX_ALL},         {"none", 0},
    };
    unsigned bits = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        size_t i;
        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strlen(names[i].name) == n && strncmp(p, names[i].name, n) == 0)
                break;
        if (n > 0 && i == sizeof(names) / sizeof(names[0]))
            return -EINVAL;
        if (n > 0)
            bits |= names[i].bit;
        p += n;
        if (*p == ',')
            p++;
    }
    *layers = bits;
    return 0;
}

unsigned kumo__sandbox_cpu_seconds(unsigned timeout_ms)
{
    if (timeout_ms == 0)
        return 0;
    return (timeout_ms + 999) / 1000 + 1;
}

/* ---- cgroups ------------------------------------------------------------ */

/* The directory of the calling process's own memory cgroup: v1 (the
 * "memory" hierarchy) when mounted, else v2 when its memory controller can
 * be given to children. Returns 1, 2 or 0 with `why`. */
int kumo__sandbox_memory_cgroup(char *dir, size_t len, char *why, size_t whylen)
{
    char v1[PATH_MAX] = "", v2[PATH_MAX] = "";
    int have_v1 = 0, have_v2 = 0;
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f == NULL) {
        snprintf(why, whylen, "cannot read /proc/self/cgroup");
        return 0;
    }
    char line[PATH_MAX + 64];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1, *path = c2 + 1;
        if (*ctrls == '\0') {
            snprintf(v2, sizeof(v2), "%s", path);
            have_v2 = 1;
            continue;
        }
        for (const char *s = ctrls; *s;) {
            size_t n = strcspn(s, ",");
            if (n == 6 && strncmp(s, "memory", 6) == 0) {
                snprintf(v1, sizeof(v1), "%s", path);
                have_v1 = 1;
            }
            s += n + (s[n] == ',');
        }
    }
    fclose(f);

    if (have_v1 && access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0) {
        snprintf(dir, len, "/sys/fs/cgroup/memory%s", strcmp(v1, "/") == 0 ? "" : v1);
        if (access(dir, W_OK) != 0) {
            snprintf(why, whylen, "%s is not writable", dir);
            return 0;
        }
        return 1;
    }
    if (have_v2) {
        const char *mnt =
            access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified";
        char ctl[PATH_MAX + 32], buf[512];
        snprintf(dir, len, "%s%s", mnt, strcmp(v2, "/") == 0 ? "" : v2);
        snprintf(ctl, sizeof(ctl), "%s/cgroup.controllers", dir);
        if (kumo__sandbox_read_file(ctl, buf, sizeof(buf)) == 0 && strstr(buf, "memory") != NULL) {
            snprintf(ctl, sizeof(ctl), "%s/cgroup.subtree_control", dir);
            if (kumo__sandbox_read_file(ctl, buf, sizeof(buf)) == 0 && strstr(buf, "memory") != NULL)
                return 2;
            snprintf(why, whylen, "the memory controller is not delegated below %s", dir);
            return 0;
        }
        snprintf(why, whylen, "no writable memory cgroup (cgroup v2 at %s has no memory controller)", mnt);
        return 0;
    }
    snprintf(why, whylen, "no memory cgroup is mounted");
    return 0;
}

/* The cgroup directory of worker `pid` as seen from its spawner. */
static int worker_cgroup(pid_t pid, char *dir, size_t len)
{
    char base[PATH_MAX], why[256];
    int v = kumo__sandbox_memory_cgroup(base, sizeof(base), why, sizeof(why));
    if (v == 0)
        return 0;
    if (snprintf(dir, len, "%s/" KUMO__SANDBOX_CGROUP_PREFIX "%ld", base, (long)pid) >= (int)len)
        return 0;
    return v;
}

int kumo__sandbox_set_memory(pid_t pid, size_t bytes)
{
    char dir[PATH_MAX], file[PATH_MAX + 64], num[32];
    if (worker_cgroup(pid, dir, sizeof(dir)) == 0)
        return -ENOENT;
    snprintf(num, sizeof(num), "%zu", bytes);
    snprintf(file, sizeof(file), "%s/memory.max", dir);
    if (access(file, F_OK) == 0)
        return kumo__sandbox_write_file(file, num);
    /* cgroup v1: memory.limit_in_bytes may not exceed memsw's, so the
     * order depends on the direction; writing memsw, limit, memsw works
     * both ways (memsw is absent without swap accounting: fine). */
    char memsw[PATH_MAX + 64];
    snprintf(memsw, sizeof(memsw), "%s/memory.memsw.limit_in_bytes", dir);
    snprintf(file, sizeof(file), "%s/memory.limit_in_bytes", dir);
    kumo__sandbox_write_file(memsw, num);
    int rc = kumo__sandbox_write_file(file, num);
    kumo__sandbox_write_file(memsw, num);
    return rc;
}

int kumo__sandbox_oom_killed(pid_t pid)
{
    char dir[PATH_MAX], file[PATH_MAX + 32], buf[1024];
    int v = worker_cgroup(pid, dir, sizeof(dir));
    if (v == 0)
        return 0;
    snprintf(file, sizeof(file), "%s/%s", dir, v == 1 ? "memory.oom_control" : "memory.events");
    int rc = kumo__sandbox_read_file(file, buf, sizeof(buf));
    if (rc == -ENOENT)
        return 0;
    if (rc != 0)
        return rc;
    const char *k = strstr(buf, "oom_kill ");
    if (k != NULL)
        return strtoul(k + 9, NULL, 10) > 0;
    /* Kernels before 4.13 have no oom_kill counter: under_oom or a failed
     * charge is the best sign left. */
    k = strstr(buf, "under_oom ");
    return k != NULL && strtoul(k + 10, NULL, 10) > 0;
}

void kumo__sandbox_release(pid_t pid)
{
    char dir[PATH_MAX];
    if (worker_cgroup(pid, dir, sizeof(dir)) == 0)
        return;
    /* The kernel may still be uncharging the last pages of a process just
     * reaped; rmdir then fails with EBUSY for a moment. */
    for (int i = 0; i < 50; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return;
        if (errno != EBUSY)
            return;
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void kumo__sandbox_sweep_dir(const char *base, pid_t self)
{
    DIR *d = opendir(base);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, KUMO__SANDBOX_CGROUP_PREFIX, strlen(KUMO__SANDBOX_CGROUP_PREFIX)) != 0)
            continue;
        char *end;
        long pid = strtol(e->d_name + strlen(KUMO__SANDBOX_CGROUP_PREFIX), &end, 10);
        if (*end != '\0' || pid <= 0 || pid == (long)self)
            continue;
        /* A live process (or one not yet reaped) keeps its cgroup; rmdir
         * refuses one with tasks in it anyway (EBUSY). */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof(path), "%s/%s", base, e->d_name) < (int)sizeof(path))
            rmdir(path);
    }
    closedir(d);
}

void kumo__sandbox_sweep(void)
{
    char base[PATH_MAX], why[PATH_MAX + 128];
    if (kumo__sandbox_memory_cgroup(base, sizeof(base), why, sizeof(why)) != 0)
        kumo__sandbox_sweep_dir(base, getpid());
}

void kumo__sandbox_describe_limits(const kumo__sandbox_config *c, const char *memory_how, char *out, size_t len)
{
    char mem[640] = ""; /* memory_how may name a cgroup path and why it is unusable */
    if (c->memory && memory_how && *memory_how) {
        char size[32];
        format_bytes(size, sizeof(size), c->memory);
        snprintf(mem, sizeof(mem), "memory %s via %s, ", size, memory_how);
    }
    char cpu[32] = "";
    if (c->cpu_seconds)
        snprintf(cpu, sizeof(cpu), "cpu %u s, ", c->cpu_seconds);
    kumo__sandbox_append(out, len, "limits (%s%sfiles %u, %s)", mem, cpu,
                         c->open_files ? c->open_files : KUMO__SANDBOX_OPEN_FILES,
                         c->core_dumps ? "core dumps on, dumpable" : "no core");
}

void kumo__sandbox_describe(const kumo__sandbox_config *c, char *out, size_t len)
{
    char active[512] = "", skipped[512] = "";
    if (c->layers & KUMO__SANDBOX_SECCOMP)
        kumo__sandbox_append(active, sizeof(active), "seccomp");
    if (c->layers & KUMO__SANDBOX_NO_NEW_PRIVS)
        kumo__sandbox_append(active, sizeof(active), "%sno_new_privs", *active ? ", " : "");
    if (c->layers & KUMO__SANDBOX_LIMITS) {
        char base[PATH_MAX], why[PATH_MAX + 128] = "", how[64] = "";
        int v = kumo__sandbox_memory_cgroup(base, sizeof(base), why, sizeof(why));
        if (v != 0)
            snprintf(how, sizeof(how), "cgroup v%d", v);
        else if (!KUMO__SANDBOX_ASAN)
            snprintf(how, sizeof(how), "RLIMIT_AS");
        else if (c->memory)
            kumo__sandbox_append(skipped, sizeof(skipped),
                                 "memory limit (%s; RLIMIT_AS is unusable under AddressSanitizer)", why);
        kumo__sandbox_append(active, sizeof(active), "%s", *active ? ", " : "");
        kumo__sandbox_describe_limits(c, how, active, sizeof(active));
    }
    /* Egress rules (egress.h): a store on a server, with both the net
     * namespace and the filter; the fork server supervises as root
     * (CAP_SYS_PTRACE), else the workers keep the host's network. */
    int egress =
        c->net && (c->layers & KUMO__SANDBOX_NAMESPACES) && (c->layers & KUMO__SANDBOX_SECCOMP) && geteuid() == 0;
    if (c->layers & KUMO__SANDBOX_NAMESPACES)
        /* pid: the fork server creates it, which needs CAP_SYS_ADMIN */
        kumo__sandbox_append(active, sizeof(active), "%snamespaces (mount, %sipc%s)", *active ? ", " : "",
                             geteuid() == 0 ? "pid, " : "", c->net && !egress ? "" : ", net");
    if (egress)
        kumo__sandbox_append(active, sizeof(active), ", egress rules (connect only to the stores' servers)");
    else if (c->net && (c->layers & KUMO__SANDBOX_ALL))
        kumo__sandbox_append(skipped, sizeof(skipped), "%segress rules (%s; the workers keep the host's network)",
                             *skipped ? ", " : "",
                             !(c->layers & KUMO__SANDBOX_NAMESPACES) ? "the namespaces layer is off"
                             : !(c->layers & KUMO__SANDBOX_SECCOMP)  ? "the seccomp layer is off"
                                                                     : "not root: no CAP_SYS_PTRACE to supervise");
    snprintf(out, len, "sandbox: %s%s%s", *active ? active : "off", *skipped ? "; skipped: " : "", skipped);
}
