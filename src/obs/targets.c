/*
 * targets.c: a project's metrics targets (obs/metrics.h), one per
 * operation of its spec and one per event, and the one of requests no
 * operation matched. The gateway looks them up once per generation,
 * kumo-host once at start: the request path then records by index.
 */
#include "obs/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "openapi/openapi.h"
#include "project/project.h"

const char *kumo__faas_trigger(int event_kind)
{
    switch ((kumo__event_kind)event_kind) {
    case KUMO__EVENT_SCHEDULE: return "timer";
    case KUMO__EVENT_QUEUE:
    case KUMO__EVENT_TOPIC: return "pubsub";
    case KUMO__EVENT_BLOB: return "datasource";
    case KUMO__EVENT_CLOUDEVENT: return "other";
    }
    return "other";
}

int kumo__metrics_project_targets(kumo__metrics *m, const struct kumo__project *p, const struct kumo__spec *spec,
                                  int **ops, int **events, int *noroute)
{
    *noroute = -1;
    *ops = malloc((spec->nops ? spec->nops : 1) * sizeof(int));
    *events = malloc((p->nevents ? p->nevents : 1) * sizeof(int));
    if (*ops == NULL || *events == NULL) {
        free(*ops);
        free(*events);
        *ops = *events = NULL;
        return -ENOMEM;
    }
    for (size_t i = 0; i < spec->nops; i++) {
        const kumo__operation *op = &spec->ops[i];
        if (!p->obs.enabled) { /* observability: {enabled: false}: nothing is recorded */
            (*ops)[i] = -1;
            continue;
        }
        char route[1024], name[1100];
        snprintf(route, sizeof(route), "%s%s", spec->base_path ? spec->base_path : "", op->path);
        if (op->operation_id == NULL)
            snprintf(name, sizeof(name), "%s %s", op->method, route);
        kumo__mtarget t = {.function = op->unit_index >= 0 ? p->units[op->unit_index].name : "",
                           .operation = op->operation_id ? op->operation_id : name,
                           .route = route,
                           .method = op->method,
                           .trigger = "http"};
        (*ops)[i] = kumo__metrics_target(m, &t);
    }
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *d = &p->events[i];
        kumo__mtarget t = {.function = d->unit, .operation = d->name, .trigger = kumo__faas_trigger(d->kind)};
        (*events)[i] = p->obs.enabled ? kumo__metrics_target(m, &t) : -1;
    }
    if (p->obs.enabled) {
        kumo__mtarget none = {.function = "", .operation = "", .route = "", .method = "", .trigger = "http"};
        *noroute = kumo__metrics_target(m, &none);
    }
    return 0;
}
