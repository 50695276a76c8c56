/*
 * sns.c: the topic driver for SNS (placeholder until it lands).
 */
#include "sdk/sdk.h"

static int sns_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    (void)url;
    (void)name;
    *out = NULL;
    kumo__error_set(e, KUMO_EINVAL, "the SNS topic driver is not built yet");
    return KUMO_EINVAL;
}

static void sns_close(kumo__store *s)
{
    (void)s;
}

const kumo__topic_driver kumo__topic_sns_driver = {
    .common = {.version = KUMO__TOPIC_DRIVER_VERSION, .scheme = "sns", .open = sns_open, .close = sns_close},
};
