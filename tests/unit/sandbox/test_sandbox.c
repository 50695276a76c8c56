/*
 * test_sandbox.c: the spawner's side of the sandbox (runtime/sandbox.c):
 * parsing the layer list, the CPU budget, the description, and, where a
 * memory cgroup is writable, the OOM check and the release of a worker's
 * cgroup, with a child made to run out of memory in one. Entering the
 * sandbox is tested through real workers in tests/integration/test_sandbox.py.
 */
#include "check.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

static void test_parse_layers(void)
{
    unsigned l = 99;
    CHECK_INT(kumo__sandbox_parse_layers("seccomp,namespaces,limits,no_new_privs", &l), 0);
    CHECK_INT(l, KUMO__SANDBOX_ALL);
    CHECK_INT(kumo__sandbox_parse_layers("none", &l), 0);
    CHECK_INT(l, 0);
    CHECK_INT(kumo__sandbox_parse_layers("limits", &l), 0);
    CHECK_INT(l, KUMO__SANDBOX_LIMITS);
    CHECK_INT(kumo__sandbox_parse_layers("seccomp,,limits,", &l), 0);
    CHECK_INT(l, KUMO__SANDBOX_SECCOMP | KUMO__SANDBOX_LIMITS);
    l = 7;
    CHECK_INT(kumo__sandbox_parse_layers("seccomp,no_n", &l), -EINVAL);
    CHECK_INT(l, 7);
    CHECK_INT(kumo__sandbox_parse_layers("all", &l), 0);
    CHECK_INT(l, KUMO__SANDBOX_ALL);
}

static void test_cpu_seconds(void)
{
    CHECK_INT(kumo__sandbox_cpu_seconds(0), 0);
    CHECK_INT(kumo__sandbox_cpu_seconds(1), 2);
    CHECK_INT(kumo__sandbox_cpu_seconds(1000), 2);
    CHECK_INT(kumo__sandbox_cpu_seconds(1001), 3);
    CHECK_INT(kumo__sandbox_cpu_seconds(10000), 11);
}

static void test_describe(void)
{
    char out[1024];
    kumo__sandbox_config c = {.layers = KUMO__SANDBOX_ALL, .memory = 64u << 20, .cpu_seconds = 11};
    kumo__sandbox_describe(&c, out, sizeof(out));
    CHECK(strncmp(out, "sandbox: seccomp, no_new_privs, limits (", 40) == 0);
    CHECK(strstr(out, "cpu 11 s") != NULL);
    CHECK(strstr(out, "files 256") != NULL);
    /* pid only where the fork server may create the namespace (root) */
    const char *pid = geteuid() == 0 ? "pid, " : "";
    char want[64];
    snprintf(want, sizeof(want), "namespaces (mount, %sipc, net)", pid);
    CHECK(strstr(out, want) != NULL);
    /* A store on a server: egress rules where the fork server can
     * supervise (root), else the host's network, said as skipped. */
    c.net = 1;
    kumo__sandbox_describe(&c, out, sizeof(out));
    if (geteuid() == 0) {
        CHECK(strstr(out, "namespaces (mount, pid, ipc, net), egress rules (connect only to the stores' servers)") !=
              NULL);
    } else {
        CHECK(strstr(out, "namespaces (mount, ipc)") != NULL);
        CHECK(strstr(out, "skipped: egress rules (not root") != NULL);
    }
    c.layers = KUMO__SANDBOX_ALL & ~KUMO__SANDBOX_SECCOMP;
    kumo__sandbox_describe(&c, out, sizeof(out));
    CHECK(strstr(out, "egress rules (the seccomp layer is off; the workers keep the host's network)") != NULL);
    c.layers = 0;
    kumo__sandbox_describe(&c, out, sizeof(out));
    CHECK_STR(out, "sandbox: off");
    /* Never past the buffer. */
    char tiny[12];
    c.layers = KUMO__SANDBOX_ALL;
    kumo__sandbox_describe(&c, tiny, sizeof(tiny));
    CHECK_INT(strlen(tiny), sizeof(tiny) - 1);
}

/* Runs a child in a memory cgroup made the way a worker makes its own
 * (a child of ours named kumo-worker-<pid>), touching `mib` MiB. Returns
 * its wait status, or -1 when the cgroup could not be made. */
static int run_in_cgroup(const char *base, size_t limit, int mib, pid_t *out_pid)
{
    int go[2];
    if (pipe(go) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1)
            _exit(3);
        for (int i = 0; i < mib; i++) {
            char *p = malloc(1 << 20);
            if (p == NULL)
                _exit(4);
            memset(p, 1, 1 << 20);
        }
        _exit(0);
    }
    close(go[0]);
    char dir[PATH_MAX + 64], file[PATH_MAX + 128], num[32];
    snprintf(dir, sizeof(dir), "%s/" KUMO__SANDBOX_CGROUP_PREFIX "%ld", base, (long)pid);
    int ok = mkdir(dir, 0755) == 0;
    snprintf(num, sizeof(num), "%zu", limit);
    snprintf(file, sizeof(file), "%s/memory.limit_in_bytes", dir);
    ok = ok && kumo__sandbox_write_file(file, num) == 0;
    snprintf(file, sizeof(file), "%s/memory.memsw.limit_in_bytes", dir);
    kumo__sandbox_write_file(file, num);
    snprintf(file, sizeof(file), "%s/cgroup.procs", dir);
    snprintf(num, sizeof(num), "%ld", (long)pid);
    ok = ok && kumo__sandbox_write_file(file, num) == 0;
    if (!ok) {
        kill(pid, SIGKILL);
    } else if (write(go[1], "x", 1) != 1) {
        kill(pid, SIGKILL);
    }
    close(go[1]);
    int status;
    waitpid(pid, &status, 0);
    *out_pid = pid;
    return ok ? status : -1;
}

static void test_oom_and_release(void)
{
    char base[PATH_MAX], why[PATH_MAX + 128], dir[PATH_MAX + 64];
    int v = kumo__sandbox_memory_cgroup(base, sizeof(base), why, sizeof(why));
    if (v != 1) {
        static char reason[PATH_MAX + 200];
        snprintf(reason, sizeof reason, "the OOM and release checks: %s",
                 v == 0 ? why : "only cgroup v1 is exercised here");
        check_skip(reason);
        return;
    }
    /* No cgroup for this pid: not OOM, release harmless. */
    CHECK_INT(kumo__sandbox_oom_killed(getpid()), 0);
    kumo__sandbox_release(getpid());

    pid_t pid;
    int status = run_in_cgroup(base, 32u << 20, 512, &pid);
    CHECK(status != -1);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK_INT(kumo__sandbox_oom_killed(pid), 1);
    snprintf(dir, sizeof(dir), "%s/" KUMO__SANDBOX_CGROUP_PREFIX "%ld", base, (long)pid);
    CHECK_INT(access(dir, F_OK), 0);
    kumo__sandbox_release(pid);
    CHECK(access(dir, F_OK) != 0);
    CHECK_INT(kumo__sandbox_oom_killed(pid), 0);

    status = run_in_cgroup(base, 64u << 20, 4, &pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(kumo__sandbox_oom_killed(pid), 0);
    kumo__sandbox_release(pid);
    snprintf(dir, sizeof(dir), "%s/" KUMO__SANDBOX_CGROUP_PREFIX "%ld", base, (long)pid);
    CHECK(access(dir, F_OK) != 0);
}

int main(void)
{
    test_parse_layers();
    test_cpu_seconds();
    test_describe();
    test_oom_and_release();
    return check_report();
}
