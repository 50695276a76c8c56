/*
 * emf.c: kumo-host's metrics under AWS Lambda, where nothing can scrape
 * /metrics (an instance takes no connection and is frozen between
 * invocations). Each invocation ends with one line on stdout in
 * CloudWatch's embedded metric format (EMF): Lambda sends stdout to
 * CloudWatch Logs, which turns the line into metrics with no API call and
 * no agent. The line is also an ordinary kumo log line (time, level, msg,
 * request_id...), so a log query finds it too:
 *
 *   {"time":..,"level":"info","msg":"invocation","request_id":..,
 *    "service":"todo","function":"todos","operation":"listTodos",
 *    "trigger":"http","status":200,"invocations":1,"errors":0,
 *    "coldstarts":1,"duration":1.234,
 *    "_aws":{"Timestamp":1733400000000,"CloudWatchMetrics":[{
 *      "Namespace":"kumo","Dimensions":[["service","function","operation"]],
 *      "Metrics":[{"Name":"invocations","Unit":"Count"},...]}]}}
 *
 * Namespace "kumo", the dimensions service (the project), function and
 * operation (the event's name for an event), and the names of /metrics
 * without their Prometheus suffixes (docs/metrics.md). Written with one
 * write(2), never allocated; only when observability is on.
 */
#include "host/host.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"

static const char DIRECTIVE[] = "\"Namespace\":\"kumo\",\"Dimensions\":[[\"service\",\"function\",\"operation\"]],"
                                "\"Metrics\":[{\"Name\":\"invocations\",\"Unit\":\"Count\"},"
                                "{\"Name\":\"errors\",\"Unit\":\"Count\"},"
                                "{\"Name\":\"coldstarts\",\"Unit\":\"Count\"},"
                                "{\"Name\":\"duration\",\"Unit\":\"Milliseconds\"}]";

void kumo__host_emf(const kumo__host *h, const kumo__host_emf_point *pt)
{
    if (!h->emf)
        return;
    kumo__logline l;
    kumo__logline_begin(&l, "info", "invocation", 10);
    kumo__logline_cstr(&l, "request_id", pt->request_id);
    kumo__logline_cstr(&l, "service", h->project->name);
    kumo__logline_cstr(&l, "function", pt->function);
    /* every dimension must be there for CloudWatch to take the metrics:
     * a request no operation matched is counted under "-" */
    kumo__logline_cstr(&l, "operation", pt->operation && *pt->operation ? pt->operation : "-");
    kumo__logline_cstr(&l, "trigger", pt->trigger);
    kumo__logline_int(&l, "status", pt->status);
    kumo__logline_int(&l, "invocations", 1);
    kumo__logline_int(&l, "errors", pt->error ? 1 : 0);
    kumo__logline_int(&l, "coldstarts", pt->cold ? 1 : 0);
    char num[48];
    int n = snprintf(num, sizeof(num), "%llu.%03llu", (unsigned long long)(pt->duration_us / 1000),
                     (unsigned long long)(pt->duration_us % 1000));
    kumo__logline_json(&l, "duration", num, (size_t)n);
    char aws[sizeof(DIRECTIVE) + 96];
    n = snprintf(aws, sizeof(aws), "{\"Timestamp\":%llu,\"CloudWatchMetrics\":[{%s}]}",
                 (unsigned long long)(kumo__epoch_us() / 1000), DIRECTIVE);
    kumo__logline_json(&l, "_aws", aws, (size_t)n);
    kumo__logline_write(&l, 1);
}
