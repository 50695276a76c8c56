/*
 * error.h: the control plane's error, used by every layer (crun's design):
 * a function that can fail takes a kumo__error * last, sets it on failure
 * and returns a negative errno-style code; each caller may wrap the
 * message with its own context; only the CLI's main prints it. The hot
 * path (request handling, frames) returns negative codes and takes none.
 * docs/architecture.md, "Errors", says when to use which.
 */
#ifndef KUMO_BASE_ERROR_H
#define KUMO_BASE_ERROR_H

typedef struct kumo__error {
    int code; /* 0: no error; else a negative errno-style code */
    char msg[2048];
} kumo__error;

/* Sets the message (printf); code defaults to -EINVAL when 0 is given. */
void kumo__error_set(kumo__error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefixes context: "loading project: <old message>". */
void kumo__error_wrap(kumo__error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
