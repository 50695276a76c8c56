/*
 * access_log.h: the access log line shared by kumo up and kumo-host
 * (access_log.c).
 */
#ifndef KUMO_GATEWAY_ACCESS_LOG_H
#define KUMO_GATEWAY_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/log.h"

/* The level of a request's line by its status. */
const char *kumo__access_level(int status);
/* Starts l as a request's line with the fields both kumo up and kumo-host
 * write; the caller may add fields, then ends and writes it. trace_id and
 * span_id (the request's SERVER span, hex) are left out when NULL. */
void kumo__access_line(kumo__logline *l, const char *request_id, const char *method, size_t method_len,
                       const char *path, size_t path_len, const char *operation, int status, uint64_t duration_us,
                       const char *trace_id, const char *span_id);
/* The gateway's line (with worker_pid when pid > 0), buffered per loop
 * thread until kumo__access_log_flush (once per turn of the loop, or when
 * the buffer fills). trace_id (16 bytes) and span_id (8), binary, are
 * written in hex straight into the line; NULL leaves them out. */
void kumo__access_log(const char *request_id, const char *method, const char *path, size_t path_len,
                      const char *operation, int status, uint64_t duration_us, pid_t pid, const uint8_t *trace_id,
                      const uint8_t *span_id);
void kumo__access_log_flush(void);

#endif
