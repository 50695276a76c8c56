/*
 * fuzz_zip_read.c: libFuzzer target for the zip reader (src/deploy/zip_read.c),
 * which opens function packages: untrusted archives. The input is written
 * to a file and extracted into ROOT/out, where a symlink out/link points
 * at the sibling directory ROOT/escape. Whatever the archive holds, the
 * extraction must succeed or fail with its error set, and afterwards
 * nothing may exist outside ROOT/out: ROOT holds only out/ and an empty
 * escape/, and nothing under out/ is a symlink (but ours), a device, or a
 * file with mode bits beyond 0755. Seeds: fuzz/corpus/zip_read/.
 */
#include "base/fs.h"
#include "deploy/zip.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[64]; /* the per-process scratch directory */
static char zip_path[128], root[128], out[160], escape[160], link_path[192];

static void cleanup(void)
{
    kumo__rmtree(base);
}

static void setup_once(void)
{
    if (base[0])
        return;
    snprintf(base, sizeof base, "%s", "/tmp/kumo-fuzz-zip-XXXXXX");
    if (mkdtemp(base) == NULL)
        abort();
    snprintf(zip_path, sizeof zip_path, "%s/input.zip", base);
    snprintf(root, sizeof root, "%s/root", base);
    snprintf(out, sizeof out, "%s/out", root);
    snprintf(escape, sizeof escape, "%s/escape", root);
    snprintf(link_path, sizeof link_path, "%s/link", out);
    atexit(cleanup);
}

/* The number of entries of `dir` other than . and .., or -1. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Everything the reader created under `dir` is a directory or a regular
 * file with no mode bits beyond 0755; `skip` (our symlink) is left alone. */
static int only_plain_files(const char *dir, const char *skip)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int ok = 1;
    struct dirent *e;
    while (ok && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (strcmp(path, skip) == 0)
            continue;
        if (lstat(path, &st) != 0 || (st.st_mode & 07777 & ~0755))
            ok = 0;
        else if (S_ISDIR(st.st_mode))
            ok = only_plain_files(path, skip);
        else if (!S_ISREG(st.st_mode))
            ok = 0;
    }
    closedir(d);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    if (kumo__rmtree(root) != 0 || mkdir(root, 0755) != 0 || mkdir(out, 0755) != 0 || mkdir(escape, 0755) != 0 ||
        symlink("../escape", link_path) != 0)
        abort();
    FILE *f = fopen(zip_path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();

    kumo__error err = {0};
    int rc = kumo__zip_extract(zip_path, out, &err);
    if (rc > 0 || (rc < 0 && (err.code == 0 || err.msg[0] == '\0')))
        __builtin_trap(); /* a failure is a negative code with a message */
    if (count_entries(base) != 2 || count_entries(root) != 2 || count_entries(escape) != 0)
        __builtin_trap(); /* something was written outside out/ */
    struct stat st;
    if (lstat(link_path, &st) != 0 || !S_ISLNK(st.st_mode) || !only_plain_files(out, link_path))
        __builtin_trap(); /* our symlink replaced, or a non-file extracted */
    return 0;
}
