/*
 * fuzz_doc.c: libFuzzer target for the YAML/JSON document loader
 * (src/openapi/doc.c): any input must parse or fail cleanly, without
 * leaks, crashes or runaway alias expansion. The input is also loaded as
 * a file (a memfd: kumo__doc_load reads YAML as libyaml asks, in pieces,
 * and JSON whole), which must agree with parsing it from memory: both
 * load the same tree, with the same position for its root, or both
 * fail. Seeds: fuzz/corpus/doc/.
 */
#include "openapi/openapi.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* The input loaded from a file with the same bytes; -1 when no file. */
static int load_as_file(const uint8_t *data, size_t size, kumo__doc **out, kumo__error *err)
{
    int fd = memfd_create("fuzz-doc", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int rc = kumo__doc_load(path, out, err);
    close(fd);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kumo__doc *doc = NULL, *fdoc = NULL;
    kumo__error err = {0}, ferr = {0};
    int rc = kumo__doc_parse("fuzz.yaml", (const char *)data, size, &doc, &err);
    int frc = load_as_file(data, size, &fdoc, &ferr);
    if (frc != -1 || fdoc) {
        int l1 = 0, c1 = 0, l2 = 0, c2 = 0;
        if ((rc == 0) != (frc == 0) || (rc == 0 && (!json_equal(kumo__doc_root(doc), kumo__doc_root(fdoc)) ||
                                                    kumo__doc_pos(doc, kumo__doc_root(doc), &l1, &c1) !=
                                                        kumo__doc_pos(fdoc, kumo__doc_root(fdoc), &l2, &c2) ||
                                                    l1 != l2 || c1 != c2))) {
            fprintf(stderr, "parsed from memory: %d %s\nloaded from a file: %d %s\n", rc, err.msg, frc, ferr.msg);
            abort();
        }
    }
    if (rc == 0) {
        int line, col;
        kumo__doc_pos(doc, kumo__doc_root(doc), &line, &col);
    }
    kumo__doc_free(doc);
    kumo__doc_free(fdoc);
    return 0;
}
