/*
 * host_main.c: kumo-host (being written).
 */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "kumo-host: not available yet\n");
    return 1;
}
