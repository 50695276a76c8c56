/*
 * test_zip_write.c: the zip writer (src/deploy/zip_write.c). Archives are
 * checked by tools that did not write them: `unzip -t` tests every CRC,
 * and Python's zipfile reads back each entry's bytes, mode and time and
 * compares them with the files they came from. Two writes of the same
 * input must be byte-identical; bad names and an abandoned archive are
 * refused and cleaned up.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "deploy/zip.h"

static char tmp[64];

static void write_file(const char *rel, const void *data, size_t len, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/src/%s", tmp, rel);
    for (char *s = strchr(path + strlen(tmp) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(path, 0755);
        *s = '/';
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    CHECK(fd >= 0);
    CHECK(write(fd, data, len) == (ssize_t)len);
    close(fd);
    chmod(path, mode);
}

/* Writes the archive `name` under tmp from the files of tmp/src. */
static int write_archive(const char *name, const char *random, size_t nrandom)
{
    char path[256], src[256];
    kumo__error err = {0};
    kumo__zip_writer *z;
    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    if (kumo__zip_open(path, &z, &err) < 0)
        return -1;
    int rc = 0;
    const char *text = "#!/bin/sh\necho hello\n";
    rc |= kumo__zip_add(z, "bootstrap", text, strlen(text), 0755, &err);
    rc |= kumo__zip_add(z, "empty.txt", "", 0, 0644, &err);
    rc |= kumo__zip_add(z, "lib/random.bin", random, nrandom, 0644, &err);
    snprintf(src, sizeof(src), "%s/src/bin/tool", tmp);
    rc |= kumo__zip_add_file(z, "bin/tool", src, &err);
    snprintf(src, sizeof(src), "%s/src/app/big.txt", tmp);
    rc |= kumo__zip_add_file(z, "app/big.txt", src, &err);
    snprintf(src, sizeof(src), "%s/src/lib/noise.so", tmp);
    rc |= kumo__zip_add_file(z, "lib/noise.so", src, &err);
    snprintf(src, sizeof(src), "%s/src/lib/link.so", tmp);
    rc |= kumo__zip_add_file(z, "lib/link.so", src, &err);
    if (rc != 0)
        fprintf(stderr, "zip: %s\n", err.msg);
    int crc = kumo__zip_close(z, &err);
    if (crc < 0)
        fprintf(stderr, "zip close: %s\n", err.msg);
    return rc | crc;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static const char *readback_py =
    "import os, sys, zipfile\n"
    "arc, src = sys.argv[1], sys.argv[2]\n"
    "want = {'bootstrap': 0o755, 'empty.txt': 0o644, 'lib/random.bin': 0o644, 'bin/tool': 0o755,\n"
    "        'app/big.txt': 0o644, 'lib/noise.so': 0o644, 'lib/link.so': 0o755}\n"
    "z = zipfile.ZipFile(arc)\n"
    "names = z.namelist()\n"
    "assert names == list(want), names\n"
    "methods = {}\n"
    "for i in z.infolist():\n"
    "    data = z.read(i.filename)\n"
    "    with open(os.path.join(src, i.filename), 'rb') as f:\n"
    "        assert f.read() == data, i.filename\n"
    "    mode = i.external_attr >> 16\n"
    "    assert mode == 0o100000 | want[i.filename], (i.filename, oct(mode))\n"
    "    assert i.date_time == (1980, 1, 1, 0, 0, 0), i.date_time\n"
    "    assert i.create_system == 3, i.create_system\n"
    "    methods[i.filename] = i.compress_type\n"
    "assert methods['app/big.txt'] == zipfile.ZIP_DEFLATED, methods\n"
    "assert methods['bootstrap'] == zipfile.ZIP_STORED or methods['bootstrap'] == zipfile.ZIP_DEFLATED\n"
    "assert methods['lib/random.bin'] == zipfile.ZIP_STORED, methods\n"
    "assert methods['lib/noise.so'] == zipfile.ZIP_STORED, methods\n"
    "print('readback ok', len(names))\n";

int main(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/kumo-zip-XXXXXX");
    CHECK(mkdtemp(tmp) != NULL);
    char path[256], cmd[1024];
    snprintf(path, sizeof(path), "%s/src", tmp);
    mkdir(path, 0755);

    /* inputs: compressible text, incompressible noise, an executable, a symlink */
    size_t nbig = 300 * 1024, nrandom = 70000;
    char *big = malloc(nbig), *random = malloc(nrandom);
    CHECK(big && random);
    for (size_t i = 0; i < nbig; i++)
        big[i] = "kumo builds the same bytes\n"[i % 27];
    unsigned x = 12345;
    for (size_t i = 0; i < nrandom; i++) {
        x = x * 1103515245u + 12345u;
        random[i] = (char)(x >> 16);
    }
    write_file("bootstrap", "#!/bin/sh\necho hello\n", 21, 0755);
    write_file("empty.txt", "", 0, 0644);
    write_file("lib/random.bin", random, nrandom, 0644);
    write_file("bin/tool", "#!/bin/sh\nexit 0\n", 17, 0700);
    write_file("app/big.txt", big, nbig, 0600);
    write_file("lib/noise.so", random, nrandom, 0644);
    write_file("lib/target.so",
               "\x7f"
               "ELF not really",
               14, 0755);
    snprintf(path, sizeof(path), "%s/src/lib/link.so", tmp);
    CHECK(symlink("target.so", path) == 0);

    CHECK_INT(write_archive("a.zip", random, nrandom), 0);
    CHECK_INT(write_archive("b.zip", random, nrandom), 0);

    snprintf(cmd, sizeof(cmd), "unzip -tq %s/a.zip", tmp);
    CHECK_INT(system(cmd), 0);

    snprintf(path, sizeof(path), "%s/readback.py", tmp);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(readback_py, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "python3 %s/readback.py %s/a.zip %s/src", tmp, tmp, tmp);
    CHECK_INT(system(cmd), 0);

    /* deterministic: the same input, the same bytes */
    size_t na = 0, nb = 0;
    snprintf(path, sizeof(path), "%s/a.zip", tmp);
    char *a = slurp(path, &na);
    snprintf(path, sizeof(path), "%s/b.zip", tmp);
    char *b = slurp(path, &nb);
    CHECK(a && b);
    CHECK_INT(na, nb);
    CHECK(a && b && na == nb && memcmp(a, b, na) == 0);
    CHECK(na < nbig); /* big.txt was deflated */
    free(a);
    free(b);

    /* refused names; close after a failure removes the partial archive */
    kumo__error err = {0};
    kumo__zip_writer *z;
    snprintf(path, sizeof(path), "%s/bad.zip", tmp);
    CHECK_INT(kumo__zip_open(path, &z, &err), 0);
    CHECK_INT(kumo__zip_add(z, "ok.txt", "x", 1, 0644, &err), 0);
    CHECK(kumo__zip_add(z, "ok.txt", "y", 1, 0644, &err) < 0);
    CHECK(strstr(err.msg, "added twice") != NULL);
    kumo__error cerr = {0};
    CHECK(kumo__zip_close(z, &cerr) < 0);
    CHECK(access(path, F_OK) < 0 && errno == ENOENT);

    const char *bad[] = {"/etc/passwd", "../up", "a/../../b", "", "dir/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT(kumo__zip_open(path, &z, &err), 0);
        CHECK(kumo__zip_add(z, bad[i], "x", 1, 0644, &err) < 0);
        CHECK(kumo__zip_close(z, &cerr) < 0);
    }
    CHECK_INT(kumo__zip_open(path, &z, &err), 0);
    CHECK_INT(kumo__zip_add(z, "a..b/c..", "x", 1, 0644, &err), 0); /* '..' only as a whole segment */
    CHECK(kumo__zip_add_file(z, "missing", "/nonexistent/file", &err) < 0);
    CHECK(strstr(err.msg, "/nonexistent/file") != NULL);
    CHECK(kumo__zip_close(z, &cerr) < 0);
    CHECK(access(path, F_OK) < 0);

    free(big);
    free(random);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    CHECK_INT(system(cmd), 0);
    return check_report();
}
