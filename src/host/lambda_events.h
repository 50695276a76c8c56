/*
 * lambda_events.h: kumo-host's answer to the Lambda events that are not
 * API Gateway's (SQS, S3, SNS, a schedule's tick), mapped by the adapter
 * (sdk/adapters/lambda_events.c): each record is matched to the kumo.yaml
 * event it belongs to and its handler called with the same CloudEvents
 * request `kumo up` sends (docs/events-delivery.md, docs/deploy-lambda.md).
 */
#ifndef KUMO_HOST_LAMBDA_EVENTS_H
#define KUMO_HOST_LAMBDA_EVENTS_H

#include "host/host.h"
#include "sdk/adapters/lambda.h"

typedef struct kumo__lambda_events kumo__lambda_events;

/* The events of the units `h` serves, with the resource each one is fed
 * by: $KUMO_EVENTS ("NAME=RESOURCE,NAME=RESOURCE": the SQS queue, S3
 * bucket, SNS topic or schedule name the template gave it), else kumo's
 * own name for it (the queue store's name, TOPIC-EVENT for a topic's
 * subscription queue, the blob store's name, the event's name), and each
 * event's data: schema compiled. NULL with err set (out of memory, a
 * schema that does not compile). */
kumo__lambda_events *kumo__lambda_events_new(kumo__host *h, const char *map, kumo__error *err);
void kumo__lambda_events_free(kumo__lambda_events *le);

/* Answers one invocation: SQS records give {"batchItemFailures":[...]}
 * (the ids of the records whose handler failed); S3 and SNS records
 * report an invocation error when a handler failed (so Lambda retries
 * them); a tick answers {"status":N} and never fails the invocation (a
 * tick is not retried, as under kumo up). A record no event of this
 * function matches is an invocation error naming its source. out's memory
 * lives until the next call. */
int kumo__lambda_events_handle(kumo__lambda_events *le, const kumo__lambda_event *ev, kumo__lambda_event_reply *out);

#endif
