/*
 * lambda_main.c: kumo-host under AWS Lambda (being written: it waits for
 * the lambda adapter, src/sdk/adapters/lambda.c).
 */
#include <stdio.h>

#include "host/host.h"

int kumo__host_lambda_main(kumo__host *h, const char *api)
{
    fprintf(stderr, "kumo-host: the lambda adapter is not available yet\n");
    return 1;
}
