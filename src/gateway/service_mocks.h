/*
 * service_mocks.h: `kumo mock` children for the services kumo.yaml
 * declares that have no URL in the chosen environment (service_mocks.c).
 * kumo up keeps one set for its life (later generations reuse a mock whose
 * service, document and arguments did not change); kumo test one for its
 * run. kumo__mock_set_start is a kumo__service_mock_fn
 * (project/services.h): pass it with its set to kumo__services_resolve.
 */
#ifndef KUMO_GATEWAY_SERVICE_MOCKS_H
#define KUMO_GATEWAY_SERVICE_MOCKS_H

#include "base/error.h"
#include "project/services.h"

typedef struct kumo__mock_set kumo__mock_set;

/* For the project in project_dir (faults files go under its .kumo/data).
 * NULL when out of memory. */
kumo__mock_set *kumo__mock_set_new(const char *project_dir);
/* ctx: the set. Starts (or reuses) service s's mock, in front of upstream
 * when its mock.mode is record; *url is malloc'd. */
int kumo__mock_set_start(void *ctx, const kumo__service *s, const char *upstream, char **url, kumo__error *err);
/* SIGTERM to every mock, waits for them (5 s, then SIGKILL); frees. */
void kumo__mock_set_free(kumo__mock_set *set);

#endif
