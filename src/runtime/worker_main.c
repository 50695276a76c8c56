/*
 * worker_main.c: kumo-worker, the process that hosts one function unit.
 *
 *     kumo-worker UNIT.so FUNCTION      (the gateway's socket on fd 3)
 *
 * It loads the unit, says hello (its pid, or why the load failed), then
 * serves invocations through the local adapter until the gateway closes the
 * socket. kumo-worker exports libkumo's public symbols, which the unit
 * resolves at dlopen time.
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "runtime/frame.h"
#include "sdk/sdk.h"

#define WORKER_FD 3

static int hello(const char *error)
{
    kumo__frame_writer w = {0};
    kumo__frame_begin(&w, 0, KUMO_FRAME_HELLO, 0);
    kumo__frame_put_u32(&w, KF_PID, (uint32_t)getpid());
    if (error)
        kumo__frame_put_str(&w, KF_ERROR, error);
    int rc = kumo__frame_end(&w);
    if (rc == 0 && write(WORKER_FD, w.buf, w.len) != (ssize_t)w.len)
        rc = -1;
    kumo__frame_writer_free(&w);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) { /* options after these two are the sandbox's (sandbox.c) */
        fprintf(stderr, "usage: kumo-worker UNIT.so FUNCTION (started by kumo, socket on fd 3)\n");
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        return 1;
    signal(SIGPIPE, SIG_IGN);

    void *unit = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (unit == NULL) {
        const char *why = dlerror();
        hello(why ? why : "dlopen failed");
        return 1;
    }
    if (hello(NULL) != 0)
        return 1;
    int rc = kumo__local_serve(WORKER_FD, unit, argv[2]);
    kumo__kv_close_all();
    return rc == 0 ? 0 : 1;
}
