/*
 * error.c: the control plane's error out-parameter (openapi.h). Each layer
 * sets or wraps the message; only the CLI prints it.
 */
#include "base/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void kumo__error_set(kumo__error *e, int code, const char *fmt, ...)
{
    if (e == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code ? code : -EINVAL;
}

void kumo__error_wrap(kumo__error *e, const char *fmt, ...)
{
    if (e == NULL)
        return;
    char prefix[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    /* "prefix: old", cut at the end when it does not fit */
    size_t plen = (size_t)n < sizeof e->msg - 3 ? (size_t)n : sizeof e->msg - 3;
    size_t room = sizeof e->msg - 1 - plen - 2;
    size_t olen = strnlen(e->msg, sizeof e->msg - 1);
    if (olen > room)
        olen = room;
    memmove(e->msg + plen + 2, e->msg, olen);
    memcpy(e->msg, prefix, plen);
    memcpy(e->msg + plen, ": ", 2);
    e->msg[plen + 2 + olen] = '\0';
    if (e->code == 0)
        e->code = -EINVAL;
}
