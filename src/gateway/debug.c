/*
 * debug.c: `kumo dev --debug OPERATION [--debug-port N]` (docs/debugging.md).
 *
 * Each generation, once its operations are bound to their units
 * (kumo__gw_debug_apply), finds the unit that serves OPERATION and makes
 * it debuggable: no invocation deadline (and so no CPU backstop), one
 * worker started ahead of demand, and a sandbox a debugger can attach to
 * (the worker stays dumpable and allows any tracer: sandbox.h's `debug`;
 * seccomp and the namespaces stay). The fork server is told through its
 * --debug-unit argument (loop.c), and never hands such a unit a spare.
 *
 * When that unit's worker says hello (kumo__gw_debug_ready, on its loop's
 * thread), kumo prints the gdb command that attaches to it and writes a
 * VS Code configuration for it into the project's .vscode/launch.json,
 * merged by name into one that is there; with --debug-port N it also
 * starts `gdbserver --once --attach 127.0.0.1:N PID`, which stops the
 * worker until a debugger connects and continues it. (gdbserver listens
 * on every address whatever host it is given: docs/debugging.md says so.)
 */
#include "gateway/gateway_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"

#define LAUNCH_MAX (1u << 20) /* a launch.json larger than this is not merged */

int kumo__gw_debug_apply(gateway *gw, generation *g, kumo__error *err)
{
    const char *want = gw->cfg.debug_op;
    if (want == NULL)
        return 0;
    const kumo__spec *spec = g->spec;
    for (size_t i = 0; i < spec->nops; i++) {
        const kumo__operation *op = &spec->ops[i];
        if (op->operation_id == NULL || strcmp(op->operation_id, want) != 0)
            continue;
        if (op->unit_index < 0) {
            kumo__error_set(err, -EINVAL,
                            "--debug %s: the operation has no handler yet (no function unit defines '%s'); nothing "
                            "to debug",
                            want, op->symbol ? op->symbol : want);
            return err->code;
        }
        kumo__unit *u = &g->project->units[op->unit_index];
        u->tuning.timeout_s = 0; /* no deadline while it sits at a breakpoint */
        u->tuning.min = 1;       /* started ahead, so its pid is known before a request */
        u->tuning.max = 1;       /* one process to attach to */
        g->debug_unit = op->unit_index + 1;
        return 0;
    }
    char known[1024] = "";
    size_t n = 0;
    for (size_t i = 0; i < spec->nops && n + 2 < sizeof(known); i++) {
        const kumo__operation *op = &spec->ops[i];
        if (op->operation_id)
            n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s", n ? ", " : "", op->operation_id);
    }
    if (n >= sizeof(known))
        snprintf(known + sizeof(known) - 5, 5, "...");
    kumo__error_set(err, -EINVAL, "--debug %s: %s has no operation with that operationId; its operations: %s", want,
                    g->project->api_path, n ? known : "(none)");
    return err->code;
}

const char *kumo__gw_debug_unit(const generation *g)
{
    return g && g->debug_unit > 0 ? g->project->units[g->debug_unit - 1].name : NULL;
}

/* ---- gdbserver ------------------------------------------------------------ */

static void *gdbserver_main(void *arg)
{
    pid_t pid = (pid_t)(intptr_t)arg;
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* Starts gdbserver on the worker; 0 or -errno. Its waiter is a detached
 * thread (the gateway reaps its children by pid only). */
static int start_gdbserver(int port, pid_t worker)
{
    char where[32], pid[24];
    snprintf(where, sizeof(where), "127.0.0.1:%d", port);
    snprintf(pid, sizeof(pid), "%ld", (long)worker);
    char *argv[] = {"gdbserver", "--once", "--attach", where, pid, NULL};
    extern char **environ;
    pid_t child;
    int rc = posix_spawnp(&child, "gdbserver", NULL, NULL, argv, environ);
    if (rc != 0)
        return -rc;
    pthread_t tid;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_create(&tid, &attr, gdbserver_main, (void *)(intptr_t)child);
        pthread_attr_destroy(&attr);
    }
    return 0;
}

/* ---- .vscode/launch.json --------------------------------------------------- */

/* Merges kumo's configuration `conf` (named by its "name") into the
 * project's launch.json: 0, or -errno with `why`. A file that is not plain
 * JSON with a "configurations" array (VS Code allows comments) is left as
 * it is. */
static int write_launch(const char *project_dir, json_t *conf, char *why, size_t whylen)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], tmp[PATH_MAX + 32];
    snprintf(dir, sizeof(dir), "%s/.vscode", project_dir);
    snprintf(path, sizeof(path), "%s/launch.json", dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(why, whylen, "mkdir %s: %s", dir, strerror(errno));
        return -errno;
    }
    json_t *doc = NULL;
    struct stat st;
    if (stat(path, &st) == 0) {
        json_error_t je;
        if (st.st_size > LAUNCH_MAX) {
            snprintf(why, whylen, "%s is larger than 1 MiB; not changed", path);
            return -EFBIG;
        }
        doc = json_load_file(path, 0, &je);
        if (doc == NULL || !json_is_array(json_object_get(doc, "configurations"))) {
            snprintf(why, whylen,
                     "%s:%d:%d: not plain JSON with a \"configurations\" array (%s); not changed: add the "
                     "configuration below yourself",
                     path, doc ? 1 : je.line, doc ? 1 : je.column, doc ? "no configurations" : je.text);
            json_decref(doc);
            return -EINVAL;
        }
    } else {
        doc = json_pack("{s:s, s:[]}", "version", "0.2.0", "configurations");
    }
    json_t *confs = json_object_get(doc, "configurations");
    const char *name = json_string_value(json_object_get(conf, "name"));
    size_t i;
    json_t *c;
    int replaced = 0;
    json_array_foreach(confs, i, c)
    {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n && name && strcmp(n, name) == 0) {
            json_array_set(confs, i, conf);
            replaced = 1;
            break;
        }
    }
    if (!replaced)
        json_array_append(confs, conf);
    snprintf(tmp, sizeof(tmp), "%s.kumo-%ld", path, (long)getpid());
    int rc = json_dump_file(doc, tmp, JSON_INDENT(2)) == 0 && rename(tmp, path) == 0 ? 0 : -errno;
    if (rc != 0) {
        snprintf(why, whylen, "cannot write %s: %s", path, strerror(-rc));
        unlink(tmp);
    }
    json_decref(doc);
    return rc;
}

void kumo__gw_debug_ready(gateway *gw, const generation *g, const char *unit_name, pid_t pid)
{
    const char *unit = kumo__gw_debug_unit(g);
    if (unit == NULL || strcmp(unit, unit_name) != 0 || pid <= 0 || atomic_load(&gw->draining))
        return;
    const char *op = gw->cfg.debug_op;
    int port = gw->cfg.debug_port;
    char name[300];
    snprintf(name, sizeof(name), "kumo: %s", op);
    json_t *conf;
    if (port) {
        char server[32];
        snprintf(server, sizeof(server), "127.0.0.1:%d", port);
        conf = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name", name, "type", "cppdbg", "request",
                         "launch", "program", kumo__worker_path(), "cwd", g->project->dir, "MIMode", "gdb",
                         "miDebuggerPath", "gdb", "miDebuggerServerAddress", server);
    } else {
        char spid[24];
        snprintf(spid, sizeof(spid), "%ld", (long)pid);
        conf = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s}]}", "name", name, "type", "cppdbg",
                         "request", "attach", "program", kumo__worker_path(), "processId", spid, "MIMode", "gdb",
                         "miDebuggerPath", "gdb", "setupCommands", "description",
                         "the worker's files as this machine sees them (the worker has its own mount namespace)",
                         "text", "set sysroot /");
    }
    char why[PATH_MAX + 300] = "";
    int written = conf && write_launch(g->project->dir, conf, why, sizeof(why)) == 0;
    if (port) {
        int rc = start_gdbserver(port, pid);
        if (rc != 0)
            printf("debug: cannot start gdbserver: %s\n", strerror(-rc));
        else
            printf("debug: operation '%s' runs in worker %ld (function '%s'), stopped under gdbserver on "
                   "port %d (gdbserver listens on every address of the machine); connect with: gdb -ex 'target "
                   "remote 127.0.0.1:%d' %s\n",
                   op, (long)pid, unit, port, port, kumo__worker_path());
    } else {
        /* the worker lives in its own mount namespace, where the build tree
         * may be hidden (/tmp): gdb reads its files from this machine's view */
        printf("debug: operation '%s' runs in worker %ld (function '%s'), without a deadline; attach with: gdb -iex "
               "'set sysroot /' -p %ld\n",
               op, (long)pid, unit, (long)pid);
    }
    if (written)
        printf("debug: VS Code: the configuration '%s' in %s/.vscode/launch.json\n", name, g->project->dir);
    else {
        char *text = conf ? json_dumps(conf, JSON_INDENT(2)) : NULL;
        printf("debug: %s\n%s\n", why[0] ? why : "out of memory", text ? text : "");
        free(text);
    }
    fflush(stdout);
    json_decref(conf);
}
