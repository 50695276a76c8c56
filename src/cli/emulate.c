/*
 * emulate.c: `kumo emulate lambda --zip FILE [--port N] [--host ADDR]
 * [--payload 1|2] [--timeout S] [--memory MB]`: runs a Lambda function
 * package on this machine behind a local API Gateway and Runtime API
 * (src/emulate/). Only the Lambda emulator exists so far; the
 * first argument names it so that others can follow.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "emulate/emulate.h"

static int number(const char *opt, const char *s, long min, long max, long *out, kumo__error *err)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (s == NULL || *s == '\0' || *end || errno || v < min || v > max) {
        kumo__error_set(err, -KUMO__EUSAGE, "%s takes a number from %ld to %ld", opt, min, max);
        return err->code;
    }
    *out = v;
    return 0;
}

int kumo__cmd_emulate(int argc, char **argv, kumo__error *err)
{
    if (argc < 1 || strcmp(argv[0], "lambda") != 0) {
        kumo__error_set(err, -KUMO__EUSAGE, "%s",
                        argc < 1 ? "say what to emulate: lambda" : "only 'lambda' can be emulated");
        return err->code;
    }
    kumo__lambda_emulator_opts o = {.port = 9000, .payload = 1, .timeout_s = 30, .memory_mb = 128};
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n = 0; /* number() sets it whenever it returns 0; -O3 cannot tell */
        if (strcmp(a, "--zip") == 0 && v) {
            o.zip = v;
        } else if (strcmp(a, "--host") == 0 && v) {
            o.host = v;
        } else if (strcmp(a, "--port") == 0) {
            if (number(a, v, 0, 65535, &n, err))
                return err->code;
            o.port = (int)n;
        } else if (strcmp(a, "--payload") == 0) {
            if (number(a, v, 1, 2, &n, err))
                return err->code;
            o.payload = (int)n;
        } else if (strcmp(a, "--timeout") == 0) {
            if (number(a, v, 1, 900, &n, err)) /* Lambda's own ceiling: 15 minutes */
                return err->code;
            o.timeout_s = (unsigned)n;
        } else if (strcmp(a, "--memory") == 0) {
            if (number(a, v, 128, 10240, &n, err))
                return err->code;
            o.memory_mb = (unsigned)n;
        } else if (strcmp(a, "--function-name") == 0 && v) {
            o.function_name = v;
        } else if (strcmp(a, "--env") == 0 && v) {
            o.env = v;
        } else {
            kumo__error_set(err, -KUMO__EUSAGE, "unknown option or missing value: %s", a);
            return err->code;
        }
    }
    if (o.zip == NULL) {
        kumo__error_set(err, -KUMO__EUSAGE,
                        "--zip FILE is required (a function package, as kumo build --target aws "
                        "writes under .kumo/build/aws/)");
        return err->code;
    }
    return kumo__lambda_emulate(&o, err);
}
