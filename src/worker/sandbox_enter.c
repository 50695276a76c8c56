/*
 * sandbox_enter.c: the worker's side of the sandbox (see sandbox.h and
 * docs/sandbox.md for what each layer stops and why it is built so).
 * kumo__sandbox_enter runs in the worker, after dlopen and before the first
 * invocation. The order matters:
 *
 *   limits      first, while /sys/fs/cgroup is still writable: the worker
 *               makes kumo-worker-<pid> under the cgroup it was born in
 *               (its spawner's), sets the limit and moves itself in;
 *   namespaces  then, while the process still holds CAP_SYS_ADMIN;
 *   privileges  then: no_new_privs, non-dumpable, all capabilities dropped;
 *   seccomp     last, so the filter need not allow the set-up calls.
 *
 * The spawner finds the worker's cgroup by the same rule (its own cgroup,
 * child kumo-worker-<pid>), which is how kumo__sandbox_oom_killed and
 * kumo__sandbox_release work without any shared state.
 */

#include "base/clock.h"
#include "base/fs.h"
#include "sandbox/egress.h"
#include "sandbox/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MASK_UID 65534 /* nobody: owner of the masks, so a capless root cannot read them */

/* Sets err to "<what>: <strerror(rc)>" and returns rc. */
static int fail(kumo__error *err, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(kumo__error *err, int rc, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    kumo__error_set(err, rc, "%s: %s", what, strerror(-rc));
    return rc;
}

/* Puts the calling process in a memory cgroup of its own with `bytes` as
 * its limit. 0 and `how` ("cgroup v1"), or negative errno with `why`. */
static int join_memory_cgroup(const kumo__sandbox_config *c, char *how, size_t howlen, char *why, size_t whylen)
{
    char base[PATH_MAX], dir[PATH_MAX + 32], file[PATH_MAX + 64], num[32];
    size_t bytes = c->memory;
    pid_t self = c->host_pid > 0 ? c->host_pid : getpid();
    int v = kumo__sandbox_memory_cgroup(base, sizeof(base), why, whylen);
    if (v == 0)
        return -ENOTSUP;
    /* In a pid namespace the pids in the cgroups' names are not ours to
     * test (kill(pid, 0) says ESRCH for every one): the fork server, which
     * sees them, sweeps before it forks (kumo__sandbox_sweep). */
    if (!c->pid_ns)
        kumo__sandbox_sweep_dir(base, self);
    snprintf(dir, sizeof(dir), "%s/" KUMO__SANDBOX_CGROUP_PREFIX "%ld", base, (long)self);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        int rc = -errno;
        snprintf(why, whylen, "mkdir %s: %s", dir, strerror(-rc));
        return rc;
    }
    snprintf(num, sizeof(num), "%zu", bytes);
    int rc;
    if (v == 1) {
        snprintf(file, sizeof(file), "%s/memory.limit_in_bytes", dir);
        rc = kumo__sandbox_write_file(file, num);
        if (rc == 0) {
            /* No swap beyond the limit: memsw counts memory + swap. It is
             * absent when swap accounting is off, which is fine. */
            snprintf(file, sizeof(file), "%s/memory.memsw.limit_in_bytes", dir);
            kumo__sandbox_write_file(file, num);
        }
    } else {
        snprintf(file, sizeof(file), "%s/memory.max", dir);
        rc = kumo__sandbox_write_file(file, num);
        if (rc == 0) {
            snprintf(file, sizeof(file), "%s/memory.swap.max", dir);
            kumo__sandbox_write_file(file, "0");
        }
    }
    if (rc == 0) {
        snprintf(file, sizeof(file), "%s/cgroup.procs", dir);
        snprintf(num, sizeof(num), "%ld", (long)getpid()); /* read in the writer's pid namespace */
        rc = kumo__sandbox_write_file(file, num);
    }
    if (rc != 0) {
        snprintf(why, whylen, "%s: %s", file, strerror(-rc));
        rmdir(dir);
        return rc;
    }
    snprintf(how, howlen, "cgroup v%d", v);
    return 0;
}

/* ---- limits ------------------------------------------------------------- */

/* The CPU backstop. RLIMIT_CPU counts a process's whole life, but the
 * budget is per invocation, and a long-lived worker may serve thousands.
 * So the soft limit is set to one budget and left to the kernel, which
 * then sends SIGXCPU once per CPU-second; the handler counts consecutive
 * CPU-seconds in which the process never blocked (its voluntary context
 * switches did not move: a worker blocks in read() between invocations).
 * A run of `budget` such seconds is a runaway: it dies by SIGXCPU.
 * Signal handlers have no argument to carry state, hence the statics,
 * written only here and by the handler. */
static volatile long cpu_budget;
static volatile long cpu_run;
static volatile long cpu_last_nvcsw = -1;

static void on_sigxcpu(int sig)
{
    int saved = errno;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        if (ru.ru_nvcsw == cpu_last_nvcsw) {
            cpu_run++;
        } else {
            cpu_run = 1;
            cpu_last_nvcsw = ru.ru_nvcsw;
        }
    }
    if (cpu_run >= cpu_budget) {
        /* the one log line shape (base/log.h), built async-signal-safely */
        static const char head[] = "{\"time\":\"";
        static const char rest[] = "\",\"level\":\"error\",\"msg\":\"worker: CPU limit reached without a pause; "
                                   "the sandbox's backstop ends it\"}\n";
        char line[sizeof(head) + KUMO__RFC3339_LEN + sizeof(rest)];
        size_t n = sizeof(head) - 1;
        memcpy(line, head, n);
        n += kumo__rfc3339_now(line + n, KUMO__RFC3339_LEN);
        memcpy(line + n, rest, sizeof(rest) - 1);
        n += sizeof(rest) - 1;
        ssize_t w = write(STDERR_FILENO, line, n);
        (void)w;
        signal(sig, SIG_DFL);
        raise(sig);
    }
    errno = saved;
}

static int apply_rlimits(const kumo__sandbox_config *c, char *report, size_t report_len, kumo__error *err)
{
    struct rlimit rl;
    rlim_t files = c->open_files ? c->open_files : KUMO__SANDBOX_OPEN_FILES;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return fail(err, -errno, "getrlimit(RLIMIT_NOFILE)");
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < files)
        files = rl.rlim_max;
    rl.rlim_cur = rl.rlim_max = files;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return fail(err, -errno, "setrlimit(RLIMIT_NOFILE, %lu)", (unsigned long)files);

    /* No core, unless asked for (kumo up --core-dumps): then as large as
     * the hard limit allows (the memory limit bounds it anyway). */
    if (c->core_dumps) {
        if (getrlimit(RLIMIT_CORE, &rl) != 0)
            return fail(err, -errno, "getrlimit(RLIMIT_CORE)");
        rl.rlim_cur = rl.rlim_max;
    } else {
        rl.rlim_cur = rl.rlim_max = 0;
    }
    if (setrlimit(RLIMIT_CORE, &rl) != 0)
        return fail(err, -errno, "setrlimit(RLIMIT_CORE, %s)", c->core_dumps ? "hard limit" : "0");

    if (c->cpu_seconds) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_sigxcpu;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGXCPU, &sa, NULL) != 0)
            return fail(err, -errno, "sigaction(SIGXCPU)");
        cpu_budget = c->cpu_seconds;
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        if (getrlimit(RLIMIT_CPU, &rl) != 0)
            return fail(err, -errno, "getrlimit(RLIMIT_CPU)");
        /* Soft: one budget from now. Hard: untouched (raising it needs
         * CAP_SYS_RESOURCE, and the handler decides, not the hard limit). */
        rl.rlim_cur = (rlim_t)ru.ru_utime.tv_sec + (rlim_t)ru.ru_stime.tv_sec + c->cpu_seconds;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
            rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_CPU, &rl) != 0)
            return fail(err, -errno, "setrlimit(RLIMIT_CPU)");
    }
    (void)report;
    (void)report_len;
    return 0;
}

/* Memory: a cgroup, else RLIMIT_AS (address space, not resident memory:
 * the limit is what the process has mapped now plus `memory`). */
static int apply_memory(const kumo__sandbox_config *c, char *how, size_t howlen, char *skipped, size_t skippedlen,
                        kumo__error *err)
{
    char why[PATH_MAX + 128] = "";
    if (join_memory_cgroup(c, how, howlen, why, sizeof(why)) == 0)
        return 0;
    if (KUMO__SANDBOX_ASAN) {
        /* AddressSanitizer reserves terabytes of address space up front. */
        kumo__sandbox_append(skipped, skippedlen, "%smemory limit (%s; RLIMIT_AS is unusable under AddressSanitizer)",
                             *skipped ? ", " : "", why);
        how[0] = '\0';
        return 0;
    }
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (f != NULL) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + c->memory;
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        return fail(err, -errno, "setrlimit(RLIMIT_AS)");
    snprintf(how, howlen, "RLIMIT_AS, as %s", why);
    return 0;
}

/* ---- namespaces --------------------------------------------------------- */

/* A directory the worker must keep seeing (the project, the data dir),
 * held open across the mounts that may cover it: a project under /tmp or
 * /home is hidden by the private /tmp or the /home mask. */
typedef struct kept_dir {
    const char *path;
    int fd;
} kept_dir;

/* Makes `k->path` show the directory held open: a bind of itself when it
 * is still visible, else of the open descriptor onto a path made anew in
 * whatever now covers it (directories made there are traverse-only). */
static int reveal(const kept_dir *k)
{
    struct stat want, now;
    char src[64];
    if (fstat(k->fd, &want) != 0)
        return -errno;
    if (stat(k->path, &now) != 0 || now.st_dev != want.st_dev || now.st_ino != want.st_ino) {
        int rc = kumo__mkdirs(k->path, 0711);
        if (rc != 0)
            return rc;
    }
    snprintf(src, sizeof(src), "/proc/self/fd/%d", k->fd);
    if (mount(src, k->path, NULL, MS_BIND | MS_REC, NULL) != 0)
        return -errno;
    return 0;
}

enum mount_access { MOUNT_WRITABLE, MOUNT_READ_ONLY };
enum mount_reach { MOUNT_THIS_ONE, MOUNT_AND_BELOW };

/* Sets or clears MOUNT_ATTR_RDONLY on the mount at `path` (and, with
 * MOUNT_AND_BELOW, every mount below it). */
static int set_access(const char *path, enum mount_access want, enum mount_reach reach)
{
    int ro = want == MOUNT_READ_ONLY, recursive = reach == MOUNT_AND_BELOW;
    struct mount_attr attr;
    memset(&attr, 0, sizeof(attr));
    if (ro)
        attr.attr_set = MOUNT_ATTR_RDONLY;
    else
        attr.attr_clr = MOUNT_ATTR_RDONLY;
    if (syscall(SYS_mount_setattr, AT_FDCWD, path, recursive ? AT_RECURSIVE : 0, &attr, sizeof(attr)) == 0)
        return 0;
    if (errno != ENOSYS || recursive)
        return -errno;
    /* Kernels before 5.12: a bind remount changes one mount's flags. */
    if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | (ro ? MS_RDONLY : 0), NULL) != 0)
        return -errno;
    return 0;
}

static const char *const masked_files[] = {"/etc/shadow",   "/etc/gshadow", "/etc/shadow-",
                                           "/etc/gshadow-", "/etc/sudoers", NULL};
static const char *const masked_dirs[] = {"/root", "/home", "/etc/ssh", "/etc/sudoers.d", "/run/secrets", NULL};

/* Hides secrets behind mounts the worker cannot read once its
 * capabilities are gone: files behind an empty mode-000 file owned by
 * nobody, directories behind an empty tmpfs owned by nobody that can be
 * crossed (a project may live below /home) but not listed. */
/* In a user namespace (kumo runs unprivileged) only the caller's own user
 * is mapped, so the masks stay the caller's: mode 000 still keeps a
 * capless owner out, and the masked directories are empty anyway. */
static int mask_secrets(int userns, kumo__error *err)
{
    const char *mask = "/tmp/.kumo-mask";
    int fd = open(mask, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return fail(err, -errno, "create %s", mask);
    int rc = !userns && fchown(fd, MASK_UID, MASK_UID) != 0 ? -errno : 0;
    close(fd);
    if (rc != 0) {
        unlink(mask);
        return fail(err, rc, "chown %s", mask);
    }
    for (size_t i = 0; masked_files[i]; i++) {
        struct stat st;
        if (stat(masked_files[i], &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (mount(mask, masked_files[i], NULL, MS_BIND, NULL) != 0) {
            rc = fail(err, -errno, "mask %s", masked_files[i]);
            break;
        }
    }
    unlink(mask);
    if (rc != 0)
        return rc;
    for (size_t i = 0; masked_dirs[i]; i++) {
        struct stat st;
        if (stat(masked_dirs[i], &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        if (mount("kumo-mask", masked_dirs[i], "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  userns ? "size=64k,mode=0711" : "size=64k,mode=0711,uid=65534,gid=65534") != 0)
            return fail(err, -errno, "mask %s", masked_dirs[i]);
    }
    return 0;
}

/* Unprivileged: a user namespace first, mapping the caller to root in it,
 * so that the other namespaces may be made. */
static int enter_user_namespace(void)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER) != 0)
        return -errno;
    char map[64];
    int rc = kumo__sandbox_write_file("/proc/self/setgroups", "deny");
    if (rc != 0 && rc != -ENOENT)
        return rc;
    snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
    if ((rc = kumo__sandbox_write_file("/proc/self/uid_map", map)) != 0)
        return rc;
    snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
    return kumo__sandbox_write_file("/proc/self/gid_map", map);
}

/* Writes `a` then `b` into a fresh file under the private /tmp and binds it
 * over `target` (which must exist: nothing is made in the host's /etc). */
static int bind_text(const char *target, const char *a, size_t alen, const char *b, size_t blen, kumo__error *err)
{
    const char *tmp = "/tmp/.kumo-resolver";
    struct stat st;
    if (stat(target, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    int fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0444);
    if (fd < 0)
        return fail(err, -errno, "create %s", tmp);
    int rc = 0;
    if ((alen && write(fd, a, alen) != (ssize_t)alen) || (blen && write(fd, b, blen) != (ssize_t)blen))
        rc = fail(err, -EIO, "write %s", tmp);
    close(fd);
    if (rc == 0 && mount(tmp, target, NULL, MS_BIND, NULL) != 0)
        rc = fail(err, -errno, "bind %s over %s", tmp, target);
    unlink(tmp);
    return rc;
}

/* Under egress rules the worker resolves names without the network: its
 * /etc/hosts is the host's plus the stores' names as the fork server
 * resolved them, and its nsswitch.conf says "hosts: files". */
static int egress_resolver(const kumo__egress_rules *r, kumo__error *err)
{
    char text[65536];
    int rc = kumo__sandbox_read_file("/etc/hosts", text, sizeof(text));
    size_t n = rc == 0 ? strlen(text) : 0;
    if (n && text[n - 1] != '\n' && n + 1 < sizeof(text))
        text[n++] = '\n';
    if ((rc = bind_text("/etc/hosts", text, n, r->hosts, r->hosts_len, err)) != 0)
        return rc;
    rc = kumo__sandbox_read_file("/etc/nsswitch.conf", text, sizeof(text));
    n = 0;
    if (rc == 0) { /* every line but hosts: */
        for (char *line = text, *next; *line; line = next) {
            next = line + strcspn(line, "\n");
            if (*next)
                next++;
            const char *w = line + strspn(line, " \t");
            if (strncmp(w, "hosts:", 6) == 0)
                continue;
            memmove(text + n, line, (size_t)(next - line));
            n += (size_t)(next - line);
        }
        if (n && text[n - 1] != '\n')
            text[n++] = '\n';
    }
    static const char files[] = "hosts: files\n";
    return bind_text("/etc/nsswitch.conf", text, n, files, sizeof(files) - 1, err);
}

/* *egress_on: set to 1 when the worker is in an empty net namespace with
 * the egress rules' resolver files, which the seccomp layer then needs. */
static int enter_namespaces(const kumo__sandbox_config *c, char *active, size_t activelen, char *skipped,
                            size_t skippedlen, int *egress_on, kumo__error *err)
{
    int egress = c->net && c->egress != NULL && (c->layers & KUMO__SANDBOX_SECCOMP);
    int flags = CLONE_NEWNS | CLONE_NEWIPC | (c->net && !egress ? 0 : CLONE_NEWNET);
    int user = 0, rc = 0;
    kept_dir kept[2] = {{c->project_dir, -1}, {c->data_dir, -1}};
    const size_t nkept = sizeof(kept) / sizeof(kept[0]);

    /* The data dir must exist before / turns read-only. */
    if (c->data_dir && (rc = kumo__mkdirs(c->data_dir, 0755)) != 0)
        return fail(err, rc, "mkdir %s", c->data_dir);
    if (unshare(flags) != 0) {
        if (errno != EPERM) {
            rc = fail(err, -errno, "unshare");
            goto out;
        }
        if (enter_user_namespace() != 0 || unshare(flags) != 0) {
            kumo__sandbox_append(skipped, skippedlen, "%snamespaces (no privilege to create them: %s)",
                                 *skipped ? ", " : "", strerror(errno));
            goto out;
        }
        user = 1;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        rc = fail(err, -errno, "make / private");
        goto out;
    }
    /* Opened in the new namespace: a bind's source must belong to it. */
    for (size_t i = 0; i < nkept; i++)
        if (kept[i].path && (kept[i].fd = open(kept[i].path, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
            rc = fail(err, -errno, "open %s", kept[i].path);
            goto out;
        }
    if (mount("kumo-tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
        rc = fail(err, -errno, "mount a tmpfs on /tmp");
        goto out;
    }
    if (access("/dev/shm", F_OK) == 0 &&
        mount("kumo-shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777") != 0) {
        rc = fail(err, -errno, "mount a tmpfs on /dev/shm");
        goto out;
    }
    /* A /proc of the worker's pid namespace: it lists only that
     * namespace's processes (its init and the workers of its loop). */
    if (c->pid_ns && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
        rc = fail(err, -errno, "mount /proc for the pid namespace");
        goto out;
    }
    if ((rc = mask_secrets(user, err)) != 0)
        goto out;
    if (egress && (rc = egress_resolver(c->egress, err)) != 0)
        goto out;
    /* The project, then the data dir (often inside it), shown again. */
    for (size_t i = 0; i < nkept; i++)
        if (kept[i].path && (rc = reveal(&kept[i])) != 0) {
            rc = fail(err, rc, "bind %s", kept[i].path);
            goto out;
        }
    if ((rc = set_access("/", MOUNT_READ_ONLY, MOUNT_AND_BELOW)) != 0) {
        rc = fail(err, rc, "make / read-only");
        goto out;
    }
    if ((rc = set_access("/tmp", MOUNT_WRITABLE, MOUNT_THIS_ONE)) != 0) {
        rc = fail(err, rc, "make /tmp writable");
        goto out;
    }
    if (access("/dev/shm", F_OK) == 0 && (rc = set_access("/dev/shm", MOUNT_WRITABLE, MOUNT_THIS_ONE)) != 0) {
        rc = fail(err, rc, "make /dev/shm writable");
        goto out;
    }
    if (c->data_dir && (rc = set_access(c->data_dir, MOUNT_WRITABLE, MOUNT_THIS_ONE)) != 0) {
        rc = fail(err, rc, "make %s writable", c->data_dir);
        goto out;
    }
    kumo__sandbox_append(active, activelen, "namespaces (%smount, %sipc%s)", user ? "user, " : "",
                         c->pid_ns ? "pid, " : "", c->net && !egress ? "" : ", net");
    *egress_on = egress;
    if (!c->pid_ns)
        kumo__sandbox_append(skipped, skippedlen, "%spid namespace (%s)", *skipped ? ", " : "",
                             user ? "no privilege to create one"
                                  : "the worker was not forked by a fork server with one");
out:
    for (size_t i = 0; i < nkept; i++)
        if (kept[i].fd >= 0)
            close(kept[i].fd);
    return rc;
}

/* ---- privileges --------------------------------------------------------- */

static int drop_privileges(const kumo__sandbox_config *c, kumo__error *err)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return fail(err, -errno, "PR_SET_NO_NEW_PRIVS");
    /* Not dumpable: other processes of the same user cannot ptrace it or
     * read its /proc files. A process that is not dumpable writes no core
     * either: with core dumps on (or a debugger to attach) it stays
     * dumpable, which the report says. */
    if (prctl(PR_SET_DUMPABLE, c->core_dumps || c->debug ? 1 : 0, 0, 0, 0) != 0)
        return fail(err, -errno, "PR_SET_DUMPABLE");
    /* kumo dev --debug: Yama's ptrace_scope 1 lets only ancestors trace;
     * a debugger started from a shell is none (EINVAL: no Yama here) */
    if (c->debug && prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0) != 0 && errno != EINVAL)
        return fail(err, -errno, "PR_SET_PTRACER");
    for (unsigned long cap = 0; cap <= 63; cap++) {
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1)
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
            return fail(err, -errno, "PR_CAPBSET_DROP %lu", cap);
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &hdr, data) != 0)
        return fail(err, -errno, "capset");
    return 0;
}

/* ---- seccomp ------------------------------------------------------------ */

/* What a handler, libkumo, SQLite and the sanitizer runtimes need. */
static const char *const allowed[] = {
    /* io on what is open, and files (the mounts decide where) */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2", "close",
    "close_range", "lseek", "_llseek", "fstat", "stat", "lstat", "newfstatat", "statx", "fstatfs", "statfs", "open",
    "openat", "openat2", "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getcwd", "chdir", "fchdir",
    "getdents", "getdents64", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "link", "linkat", "symlink", "symlinkat", "truncate", "ftruncate", "fallocate", "fsync", "fdatasync",
    "sync_file_range", "flock", "fcntl", "dup", "dup2", "dup3", "pipe", "pipe2", "fchmod", "fchmodat", "chmod",
    "fchown", "fchownat", "chown", "lchown", "utimensat", "umask", "getxattr", "lgetxattr", "fgetxattr", "listxattr",
    "flistxattr", "llistxattr", "fadvise64", "readahead", "copy_file_range", "sendfile", "splice", "tee",
    /* memory */
    "brk", "mmap", "munmap", "mprotect", "madvise", "mremap", "msync", "mincore", "mlock", "munlock", "membarrier",
    /* time and waiting */
    "clock_gettime", "clock_getres", "clock_nanosleep", "gettimeofday", "time", "nanosleep", "futex", "futex_waitv",
    "set_robust_list", "get_robust_list", "rseq", "set_tid_address", "sched_yield", "sched_getaffinity", "getcpu",
    "sched_getparam", "sched_getscheduler", "restart_syscall", "pause", "alarm", "getitimer", "setitimer",
    "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete", "timerfd_create",
    "timerfd_settime", "timerfd_gettime", "eventfd", "eventfd2", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select", "pselect6", "wait4", "waitid",
    /* who am I */
    "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getgroups", "getresuid", "getresgid",
    "getpgrp", "getpgid", "getsid", "uname", "sysinfo", "getrusage", "times", "getrlimit", "ugetrlimit", "getpriority",
    "capget",
    /* signals (kill and tgkill: only to itself, below) */
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend",
    "sigaltstack", "signalfd", "signalfd4",
    /* sockets already open (the gateway's), and pairs */
    "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "sendto", "recvfrom", "shutdown", "getsockname", "getpeername",
    "getsockopt", "setsockopt", "connect", "getrandom", "exit", "exit_group", NULL};

/* Under egress rules these are not in the allow-list as they are: connect
 * goes to the supervisor, the sends may not name an address (below). */
static int egress_ruled(const char *name)
{
    static const char *const ruled[] = {"connect", "sendto", "sendmsg", "sendmmsg", NULL};
    for (size_t i = 0; ruled[i]; i++)
        if (strcmp(name, ruled[i]) == 0)
            return 1;
    return 0;
}

/* Calls that only an attack makes: the process dies (SIGSYS) so that it
 * shows in the log as a crash, not as a quiet error. */
static const char *const killing[] = {"ptrace",
                                      "process_vm_readv",
                                      "process_vm_writev",
                                      "mount",
                                      "umount",
                                      "umount2",
                                      "pivot_root",
                                      "chroot",
                                      "mount_setattr",
                                      "move_mount",
                                      "open_tree",
                                      "fsopen",
                                      "fsconfig",
                                      "fsmount",
                                      "fspick",
                                      "kexec_load",
                                      "kexec_file_load",
                                      "bpf",
                                      "perf_event_open",
                                      "init_module",
                                      "finit_module",
                                      "delete_module",
                                      "reboot",
                                      "swapon",
                                      "swapoff",
                                      "setns",
                                      "unshare",
                                      "keyctl",
                                      "add_key",
                                      "request_key",
                                      "open_by_handle_at",
                                      "name_to_handle_at",
                                      "iopl",
                                      "ioperm",
                                      "acct",
                                      "settimeofday",
                                      "clock_settime",
                                      "clock_adjtime",
                                      "adjtimex",
                                      "sethostname",
                                      "setdomainname",
                                      "quotactl",
                                      "syslog",
                                      "userfaultfd",
                                      "lookup_dcookie",
                                      "vhangup",
                                      "kcmp",
                                      "pidfd_getfd",
                                      NULL};

static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n, ...)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not a call on this architecture */
    struct scmp_arg_cmp cmp[2];
    va_list ap;
    va_start(ap, n);
    for (unsigned i = 0; i < n && i < 2; i++)
        cmp[i] = va_arg(ap, struct scmp_arg_cmp);
    va_end(ap);
    return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

/* The egress rules' part of the filter (docs/sandbox.md, "Egress rules"):
 * a worker's own sockets live in its empty net namespace; a TCP socket
 * that can reach out is made by the supervisor, and every connect() is the
 * supervisor's to check and make. What could name a destination without
 * connect() is refused: sendto() with an address, and TCP Fast Open's
 * MSG_FASTOPEN (a connect inside a send). */
static int egress_rules(scmp_filter_ctx ctx, const char **what)
{
    int rc;
    *what = "connect";
    if ((rc = rule(ctx, SCMP_ACT_NOTIFY, "connect", 0)) != 0)
        return rc;
    *what = "sendto";
    if ((rc = rule(ctx, SCMP_ACT_ALLOW, "sendto", 2, SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, 0),
                   SCMP_A4(SCMP_CMP_EQ, 0))) != 0)
        return rc;
    *what = "sendmsg";
    if ((rc = rule(ctx, SCMP_ACT_ALLOW, "sendmsg", 1, SCMP_A2(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, 0))) != 0 ||
        (rc = rule(ctx, SCMP_ACT_ALLOW, "sendmmsg", 1, SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, 0))) != 0)
        return rc;
    *what = "socket";
    static const int inet[] = {AF_INET, AF_INET6};
    for (size_t i = 0; i < 2; i++)
        if ((rc = rule(ctx, SCMP_ACT_NOTIFY, "socket", 2, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)inet[i]),
                       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM))) != 0 ||
            (rc = rule(ctx, SCMP_ACT_ALLOW, "socket", 2, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)inet[i]),
                       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_DGRAM))) != 0)
            return rc;
    /* unix: connection-oriented only (a datagram socket could send to any
     * named socket on the machine, which live outside net namespaces) */
    static const int unix_types[] = {SOCK_STREAM, SOCK_SEQPACKET};
    for (size_t i = 0; i < 2; i++)
        if ((rc = rule(ctx, SCMP_ACT_ALLOW, "socket", 2, SCMP_A0(SCMP_CMP_EQ, AF_UNIX),
                       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, (scmp_datum_t)unix_types[i]))) != 0)
            return rc;
    return rule(ctx, SCMP_ACT_ALLOW, "socket", 1, SCMP_A0(SCMP_CMP_EQ, AF_NETLINK));
}

static int install_seccomp(const kumo__sandbox_config *c, int egress_on, kumo__error *err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    int rc = 0;
    if (ctx == NULL)
        return fail(err, -ENOMEM, "seccomp_init");
    const pid_t self = getpid();
    const char *what = "";

    /* Calls of another architecture (int 0x80 on x86_64) kill. */
    if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) != 0) {
        what = "badarch";
        goto out;
    }
    for (size_t i = 0; allowed[i]; i++)
        if (!(egress_on && egress_ruled(allowed[i])) && (rc = rule(ctx, SCMP_ACT_ALLOW, allowed[i], 0)) != 0) {
            what = allowed[i];
            goto out;
        }
    for (size_t i = 0; killing[i]; i++)
        if ((rc = rule(ctx, SCMP_ACT_KILL_PROCESS, killing[i], 0)) != 0) {
            what = killing[i];
            goto out;
        }
    /* Signals to itself only (abort, raise); never to the gateway. */
    what = "kill";
    if ((rc = rule(ctx, SCMP_ACT_ALLOW, "kill", 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self))) != 0 ||
        (rc = rule(ctx, SCMP_ACT_ALLOW, "tgkill", 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self))) != 0 ||
        (rc = rule(ctx, SCMP_ACT_ALLOW, "rt_sigqueueinfo", 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self))) != 0 ||
        (rc = rule(ctx, SCMP_ACT_ALLOW, "rt_tgsigqueueinfo", 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self))) != 0)
        goto out;
    /* Threads yes, processes no. clone3 hides its flags in memory a filter
     * cannot read: ENOSYS makes glibc fall back to clone, whose flags it
     * can. fork, vfork, and clone without CLONE_THREAD (posix_spawn,
     * fork()) get EPERM. */
    what = "clone";
    if ((rc = rule(ctx, SCMP_ACT_ALLOW, "clone", 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD))) != 0 ||
        (rc = rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0)) != 0)
        goto out;
    /* Limits may be read, never raised (the CPU backstop stays). */
    what = "prlimit64";
    if ((rc = rule(ctx, SCMP_ACT_ALLOW, "prlimit64", 1, SCMP_A2(SCMP_CMP_EQ, 0))) != 0)
        goto out;
    /* prctl: reading, and naming threads and mappings. */
    static const int prctl_ok[] = {PR_GET_DUMPABLE,     PR_GET_NAME,     PR_SET_NAME,
                                   PR_GET_NO_NEW_PRIVS, PR_GET_SECCOMP,  PR_GET_TIMERSLACK,
                                   PR_CAPBSET_READ,     PR_GET_KEEPCAPS, PR_GET_PDEATHSIG,
#ifdef PR_SET_VMA
                                   PR_SET_VMA,
#endif
                                   PR_GET_THP_DISABLE};
    what = "prctl";
    for (size_t i = 0; i < sizeof(prctl_ok) / sizeof(prctl_ok[0]); i++)
        if ((rc = rule(ctx, SCMP_ACT_ALLOW, "prctl", 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)prctl_ok[i]))) != 0)
            goto out;
    /* ioctl: terminal queries and non-blocking flags; not TIOCSTI. */
    static const unsigned long ioctl_ok[] = {TCGETS, TIOCGWINSZ, FIONREAD, FIONBIO, FIOCLEX, FIONCLEX};
    what = "ioctl";
    for (size_t i = 0; i < sizeof(ioctl_ok) / sizeof(ioctl_ok[0]); i++)
        if ((rc = rule(ctx, SCMP_ACT_ALLOW, "ioctl", 1, SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)ioctl_ok[i]))) != 0)
            goto out;
    /* socketpair: unix, connection-oriented (a datagram pair could send to
     * any named unix socket on the machine with sendmsg's address). */
    what = "socketpair";
    if ((rc = rule(ctx, SCMP_ACT_ALLOW, "socketpair", 2, SCMP_A0(SCMP_CMP_EQ, AF_UNIX),
                   SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM))) != 0 ||
        (rc = rule(ctx, SCMP_ACT_ALLOW, "socketpair", 2, SCMP_A0(SCMP_CMP_EQ, AF_UNIX),
                   SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_SEQPACKET))) != 0)
        goto out;
    /* New sockets only with the network, and only clients: bind, listen
     * and accept stay refused (default EPERM). */
    if (egress_on) {
        if ((rc = egress_rules(ctx, &what)) != 0)
            goto out;
    } else if (c->net) {
        static const int families[] = {AF_INET, AF_INET6, AF_UNIX, AF_NETLINK};
        what = "socket";
        for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
            if ((rc = rule(ctx, SCMP_ACT_ALLOW, "socket", 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]))) != 0)
                goto out;
    }
    what = "load";
    if ((rc = seccomp_load(ctx)) == 0 && egress_on) {
        /* The only copy (libseccomp keeps the number, not a duplicate):
         * the caller hands it to the supervisor and closes it. */
        what = "notification fd";
        int fd = seccomp_notify_fd(ctx);
        if (fd < 0)
            rc = fd;
        else if (c->egress_listener)
            *c->egress_listener = fd;
        else
            close(fd);
    }
out:
    seccomp_release(ctx);
    if (rc != 0)
        return fail(err, rc < 0 ? rc : -EINVAL, "seccomp (%s)", what);
    return 0;
}

/* ---- entering and describing ------------------------------------------- */

int kumo__sandbox_enter(const kumo__sandbox_config *c, char *report, size_t report_len, kumo__error *err)
{
    char active[768] = "", skipped[1024] = "", memory_how[PATH_MAX + 64] = "", limits[256] = "";
    int rc = 0, egress_on = 0;
    if (c->egress_listener)
        *c->egress_listener = -1;

    if ((c->layers & KUMO__SANDBOX_LIMITS) && c->memory &&
        (rc = apply_memory(c, memory_how, sizeof(memory_how), skipped, sizeof(skipped), err)) != 0)
        goto out;
    if (c->layers & KUMO__SANDBOX_NAMESPACES) {
        if (!(c->layers & KUMO__SANDBOX_NO_NEW_PRIVS))
            kumo__sandbox_append(skipped, sizeof(skipped),
                                 "%scapability drop (no_new_privs is off: masked secrets read as empty, not EACCES)",
                                 *skipped ? ", " : "");
        if ((rc = enter_namespaces(c, limits, sizeof(limits), skipped, sizeof(skipped), &egress_on, err)) != 0)
            goto out;
    }
    /* Egress rules need both walls: the empty net namespace (else the
     * worker's own sockets reach out) and the filter. */
    if (!(c->layers & KUMO__SANDBOX_SECCOMP))
        egress_on = 0;
    if (c->net && !egress_on && (c->layers & KUMO__SANDBOX_ALL))
        kumo__sandbox_append(skipped, sizeof(skipped), "%segress rules (%s; the worker keeps the host's network)",
                             *skipped ? ", " : "",
                             c->egress == NULL ? (c->egress_skipped ? c->egress_skipped : "no supervisor")
                             : !(c->layers & KUMO__SANDBOX_SECCOMP) ? "the seccomp layer is off"
                                                                    : "no net namespace");
    if ((c->layers & KUMO__SANDBOX_LIMITS) && (rc = apply_rlimits(c, NULL, 0, err)) != 0)
        goto out;
    if ((c->layers & KUMO__SANDBOX_NO_NEW_PRIVS) && (rc = drop_privileges(c, err)) != 0)
        goto out;
    if ((c->layers & KUMO__SANDBOX_SECCOMP) && (rc = install_seccomp(c, egress_on, err)) != 0)
        goto out;

    if (c->layers & KUMO__SANDBOX_SECCOMP)
        kumo__sandbox_append(active, sizeof(active), "seccomp");
    if (c->layers & KUMO__SANDBOX_NO_NEW_PRIVS)
        kumo__sandbox_append(active, sizeof(active), "%sno_new_privs (no capabilities)", *active ? ", " : "");
    if (c->layers & KUMO__SANDBOX_LIMITS) {
        kumo__sandbox_append(active, sizeof(active), "%s", *active ? ", " : "");
        kumo__sandbox_describe_limits(c, memory_how, active, sizeof(active));
    }
    if (*limits)
        kumo__sandbox_append(active, sizeof(active), "%s%s", *active ? ", " : "", limits);
    if (egress_on)
        kumo__sandbox_append(active, sizeof(active),
                             ", egress rules (connect only to the stores' servers: %zu address%s, %zu "
                             "destination%s)",
                             c->egress->naddrs, c->egress->naddrs == 1 ? "" : "es", c->egress->ndests,
                             c->egress->ndests == 1 ? "" : "s");
    if (c->debug)
        kumo__sandbox_append(active, sizeof(active),
                             "%sdebuggable (kumo dev --debug: dumpable, any tracer, no CPU "
                             "backstop)",
                             *active ? ", " : "");
    if (!(c->layers & KUMO__SANDBOX_ALL))
        snprintf(active, sizeof(active), "off%s", c->debug ? ", debuggable" : "");
out:
    if (report && report_len)
        snprintf(report, report_len, "sandbox: %s%s%s", *active ? active : "none", *skipped ? "; skipped: " : "",
                 skipped);
    return rc;
}

/* ---- spares: the fork server's pre-sandboxed children -------------------- */

int kumo__sandbox_enter_spare(const kumo__sandbox_config *c, char *report, size_t report_len, kumo__error *err)
{
    /* The CPU backstop is armed from the first CPU second; the unit's own
     * budget is set at assignment (kumo__sandbox_assign), when setrlimit
     * would be refused by the filter already in place. */
    kumo__sandbox_config armed = *c;
    if (armed.cpu_seconds)
        armed.cpu_seconds = 1;
    int rc = kumo__sandbox_enter(&armed, report, report_len, err);
    /* The report tells the budget the worker will have, not the backstop. */
    char was[32], now[32];
    snprintf(was, sizeof(was), "cpu %u s, ", armed.cpu_seconds);
    snprintf(now, sizeof(now), "cpu %u s, ", c->cpu_seconds);
    char *at = report && armed.cpu_seconds != c->cpu_seconds ? strstr(report, was) : NULL;
    if (at && strlen(report) - strlen(was) + strlen(now) < report_len) {
        memmove(at + strlen(now), at + strlen(was), strlen(at + strlen(was)) + 1);
        memcpy(at, now, strlen(now));
    }
    return rc;
}

void kumo__sandbox_assign(const kumo__sandbox_config *c)
{
    if (c->cpu_seconds && (c->layers & KUMO__SANDBOX_LIMITS)) {
        cpu_run = 0;
        cpu_last_nvcsw = -1;
        cpu_budget = c->cpu_seconds;
    }
}
