/*
 * test_spawner.c: the spawner's own strategies. Without a fork server it
 * execs each worker with the unit's arguments and exactly the config's
 * envp (never the gateway's environ), waits for it and reports its exit
 * status; with a fork server that is behind, SPAWN messages wait in order
 * for room in the control socket instead of blocking the loop.
 */
#include "runtime/spawner.c"

#include <sys/stat.h>

#include "check.h"

static h2o_evloop_t *loop;

static char *slurp(const char *path)
{
    static char buf[16384];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    return buf;
}

/* A stand-in kumo-worker: writes its arguments and environment where its
 * environment says, greets on fd 3 and exits 7. */
static const char *script = "#!/bin/sh\n"
                            "for a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$OUT/argv\"\n"
                            "/usr/bin/env > \"$OUT/env\"\n"
                            "printf hi >&3\n"
                            "exit 7\n";

static void test_exec_without_fork_server(void)
{
    char dir[] = "/tmp/kumo-test-spawner-XXXXXX", path[256], out[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/worker.sh", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(script, f);
    fclose(f);
    chmod(path, 0755);
    snprintf(out, sizeof(out), "OUT=%s", dir);

    /* The fork server cannot start: the spawner execs workers itself. */
    setenv("KUMO_WORKER", "/nonexistent/kumo-worker", 1);
    setenv("KUMO_TEST_GATEWAY_ONLY", "1", 1);
    kumo__spawner_unit units[2] = {
        {.name = "other", .so_path = "/x.so", .layers = "none"},
        {.name = "fn", .so_path = "/p/fn.so", .layers = "seccomp,limits", .memory = 1234, .timeout_ms = 5678}};
    char *envp[] = {out, "KUMO_STORE_KV=sqlite:/tmp/x", NULL};
    kumo__spawner_config cfg = {
        .units = units, .nunits = 2, .project_dir = "/proj", .data_dir = "/data", .envp = envp, .net = 1};
    kumo__error err = {0};
    kumo__spawner *s = kumo__spawner_start(loop, &cfg, &err);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    CHECK(((spawner *)s)->dead);
    out[0] = '\0'; /* the spawner has its own copy */

    setenv("KUMO_WORKER", path, 1);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    uint32_t tag = 99;
    pid_t pid = 0;
    CHECK_INT(kumo__spawner_spawn(s, 1, sv[1], &tag, &pid, &err), 0);
    close(sv[1]);
    CHECK(pid > 0);
    CHECK_INT(tag, 0);
    char hi[3] = "";
    CHECK_INT(read(sv[0], hi, 2), 2); /* fd 3 is the worker's socket */
    CHECK_STR(hi, "hi");
    int status = 0, oom = 1, rc = 0;
    for (int i = 0; i < 1000 && (rc = kumo__spawner_exit_status(s, pid, &status, &oom)) == 0; i++)
        kumo__spawner_poll(s, 5);
    CHECK_INT(rc, 1);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
    CHECK_INT(oom, 0);
    CHECK_INT(kumo__spawner_exit_status(s, pid, &status, &oom), -ECHILD); /* reported once */
    close(sv[0]);

    char file[300];
    snprintf(file, sizeof(file), "%s/argv", dir);
    CHECK_STR(slurp(file), "/p/fn.so\nfn\n--sandbox\nseccomp,limits\n--memory\n1234\n--timeout-ms\n5678\n"
                           "--project\n/proj\n--data\n/data\n--net\n");
    snprintf(file, sizeof(file), "%s/env", dir);
    const char *env = slurp(file);
    CHECK(strstr(env, "KUMO_STORE_KV=sqlite:/tmp/x\n") != NULL);
    CHECK(strstr(env, "OUT=/tmp/kumo-test-spawner-") != NULL);
    CHECK(strstr(env, "KUMO_TEST_GATEWAY_ONLY") == NULL); /* environ is not the workers' */

    /* A unit it does not have: an error, not a crash. */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK_INT(kumo__spawner_spawn(s, 5, sv[1], &tag, &pid, &err), -EINVAL);
    close(sv[0]);
    close(sv[1]);

    kumo__spawner_stop(s);
    unlink(path);
    snprintf(file, sizeof(file), "%s/argv", dir);
    unlink(file);
    snprintf(file, sizeof(file), "%s/env", dir);
    unlink(file);
    rmdir(dir);
}

/* A fork server that does not read: SPAWNs queue up, in order, and go out
 * as soon as it reads again; the loop never waits for it. */
static void test_queued_spawns(void)
{
    int cs[2], sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cs) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    int small = 1;
    setsockopt(cs[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)); /* fills after a few messages */
    fcntl(cs[0], F_SETFL, O_NONBLOCK);
    fcntl(cs[1], F_SETFL, O_NONBLOCK);

    kumo__spawner_unit unit = {.name = "fn", .so_path = "/nonexistent.so", .layers = "none"};
    kumo__spawner_config cfg = {.units = &unit, .nunits = 1};
    spawner *s = calloc(1, sizeof(*s));
    s->super.methods = &methods;
    CHECK_INT(copy_config(s, &cfg), 0);
    s->sock = cs[0];
    s->watch = h2o_evloop_socket_create(loop, dup(cs[0]), H2O_SOCKET_FLAG_DONT_READ);
    s->watch->data = s;
    h2o_socket_read_start(s->watch, on_readable);

    /* Spawn until some wait, then a few more. */
    uint32_t n = 0, tag;
    pid_t pid;
    kumo__error err = {0};
    int extra = 0;
    while (extra < 5 && n < 200) {
        CHECK_INT(kumo__spawner_spawn(&s->super, 0, sv[1], &tag, &pid, &err), 0);
        CHECK_INT(pid, 0);
        CHECK_INT(tag, ++n);
        if (s->nqueued > 0)
            extra++;
    }
    CHECK(s->nqueued >= 5);
    CHECK_INT(s->ndirect, 0);

    /* The fork server reads again: every SPAWN arrives, in order, with its fd. */
    uint32_t got = 0;
    for (int i = 0; i < 2000 && got < n; i++) {
        kumo__fs_msg m;
        int fd;
        int rc = kumo__fs_recv(cs[1], &m, &fd);
        if (rc == 1) {
            CHECK_INT(m.op, KUMO__FS_SPAWN);
            CHECK_INT(m.tag, ++got);
            CHECK(fd >= 0);
            if (fd >= 0)
                close(fd);
            continue;
        }
        h2o_evloop_run(loop, 10);
    }
    CHECK_INT(got, n);
    CHECK_INT(s->nqueued, 0);
    CHECK(!s->dead);

    close_control(s);
    spawner_free(s);
    close(cs[1]);
    close(sv[0]);
    close(sv[1]);
    for (int i = 0; i < 4; i++)
        h2o_evloop_run(loop, 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    loop = h2o_evloop_create();
    test_exec_without_fork_server();
    test_queued_spawns();
    return check_report();
}
