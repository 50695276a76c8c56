/*
 * test_zip_read.c: kumo__zip_extract (src/deploy/zip_read.c) on archives
 * written by Info-ZIP's `zip` and by Python's zipfile (stored and
 * deflated entries, executable bits, directories, an empty file), and on
 * hostile ones it must refuse without writing outside the target: '../x',
 * 'a/../../x', an absolute name, a symlink entry, a corrupted CRC, a
 * truncated archive, a file that is no zip, and a target directory that
 * already holds a symlink an entry would go through.
 */
#include "check.h"
#include "deploy/zip.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static char *path_of(const char *rel)
{
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmp, rel);
    return buf[i];
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static int run(const char *fmt, const char *arg)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), fmt, arg, arg, arg, arg);
    return system(cmd);
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    return st.st_mode & 07777;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void test_info_zip(void)
{
    /* a package as a user would zip it by hand */
    CHECK_INT(run("mkdir -p %s/src/sub %s/src/emptydir && printf '#!/bin/sh\\necho hi\\n' > %s/src/bootstrap && "
                  "chmod 755 %s/src/bootstrap",
                  tmp),
              0);
    CHECK_INT(run("python3 -c \"open('%s/src/sub/data.txt','w').write('kumo ' * 20000)\" && : > %s/src/empty", tmp), 0);
    CHECK_INT(run("cd %s/src && zip -q -r -X ../info.zip bootstrap sub emptydir empty", tmp), 0);
    kumo__error err = {0};
    CHECK_INT(kumo__zip_extract(path_of("info.zip"), path_of("out1"), &err), 0);
    CHECK_STR(err.msg, "");
    size_t n = 0;
    char *s = slurp(path_of("out1/bootstrap"), &n);
    CHECK_STR(s, "#!/bin/sh\necho hi\n");
    free(s);
    CHECK_INT(mode_of(path_of("out1/bootstrap")), 0755);
    s = slurp(path_of("out1/sub/data.txt"), &n);
    CHECK_INT(n, 100000);
    CHECK(s && strncmp(s, "kumo kumo ", 10) == 0);
    free(s);
    CHECK_INT(mode_of(path_of("out1/sub/data.txt")), 0644);
    CHECK_INT(mode_of(path_of("out1/emptydir")), 0755);
    s = slurp(path_of("out1/empty"), &n);
    CHECK_INT(n, 0);
    free(s);
    /* extracting again over the same files works (truncates) */
    CHECK_INT(kumo__zip_extract(path_of("info.zip"), path_of("out1"), &err), 0);
}

/* Writes the Python script that makes every archive below. */
static const char *script =
    "import sys, zipfile\n"
    "d = sys.argv[1]\n"
    "def info(name, mode, method=zipfile.ZIP_DEFLATED):\n"
    "    i = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))\n"
    "    i.create_system = 3\n"
    "    i.external_attr = mode << 16\n"
    "    i.compress_type = method\n"
    "    return i\n"
    "with zipfile.ZipFile(d + '/py.zip', 'w') as z:\n"
    "    z.writestr(info('bin/run', 0o100755), b'#!/bin/sh\\nexit 0\\n')\n"
    "    z.writestr(info('bin/stored.bin', 0o100644, zipfile.ZIP_STORED), bytes(range(256)) * 4)\n"
    "    z.writestr(info('./lib/', 0o040755), b'')\n"
    "    z.writestr(info('lib/big', 0o100600), b'\\x00' * 300000)\n"
    "    z.writestr('plain.txt', 'default attributes')\n"
    "def one(name, entry, data=b'x', mode=0o100644):\n"
    "    with zipfile.ZipFile(d + '/' + name, 'w') as z:\n"
    "        z.writestr(info(entry, mode), data)\n"
    "one('dotdot.zip', '../x')\n"
    "one('deep.zip', 'a/../../x')\n"
    "one('abs.zip', '/tmp/kumo-zip-test-abs')\n"
    "one('backslash.zip', '..\\\\x')\n"
    "one('link.zip', 'evil', b'/etc/passwd', 0o120777)\n"
    "one('through.zip', 'link/x')\n"
    "with zipfile.ZipFile(d + '/crc.zip', 'w') as z:\n"
    "    z.writestr(info('f', 0o100644, zipfile.ZIP_STORED), b'hello world')\n"
    "b = bytearray(open(d + '/crc.zip', 'rb').read())\n"
    "i = b.find(b'hello world')\n"
    "b[i] = ord('j')\n"
    "open(d + '/crc.zip', 'wb').write(bytes(b))\n"
    "b = open(d + '/py.zip', 'rb').read()\n"
    "open(d + '/trunc.zip', 'wb').write(b[: len(b) // 2])\n"
    "open(d + '/notzip.zip', 'wb').write(b'this is not a zip archive at all, just text' * 3)\n";

static void test_python(void)
{
    FILE *f = fopen(path_of("make.py"), "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs(script, f);
    fclose(f);
    CHECK_INT(run("python3 %s/make.py %s", tmp), 0);
    kumo__error err = {0};
    CHECK_INT(kumo__zip_extract(path_of("py.zip"), path_of("out2"), &err), 0);
    CHECK_STR(err.msg, "");
    size_t n = 0;
    char *s = slurp(path_of("out2/bin/run"), &n);
    CHECK_STR(s, "#!/bin/sh\nexit 0\n");
    free(s);
    CHECK_INT(mode_of(path_of("out2/bin/run")), 0755);
    s = slurp(path_of("out2/bin/stored.bin"), &n);
    CHECK_INT(n, 1024);
    CHECK(s && (unsigned char)s[255] == 255 && s[256] == 0);
    free(s);
    CHECK_INT(mode_of(path_of("out2/lib")), 0755);
    s = slurp(path_of("out2/lib/big"), &n);
    CHECK_INT(n, 300000);
    free(s);
    CHECK_INT(mode_of(path_of("out2/lib/big")), 0644);
    s = slurp(path_of("out2/plain.txt"), &n);
    CHECK_STR(s, "default attributes");
    free(s);
}

static void refused(const char *zip, const char *out, const char *want)
{
    kumo__error err = {0};
    int rc = kumo__zip_extract(path_of(zip), path_of(out), &err);
    CHECK(rc < 0);
    CHECK_INT(rc, err.code);
    if (strstr(err.msg, want) == NULL) {
        fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", zip, err.msg, want);
        CHECK(0);
    }
    CHECK(strstr(err.msg, zip) != NULL); /* names the archive */
}

static void test_hostile(void)
{
    refused("dotdot.zip", "sandbox/out", "'..'");
    CHECK(!exists(path_of("sandbox/x")));
    refused("deep.zip", "sandbox/out", "'..'");
    CHECK(!exists(path_of("x")));
    CHECK(!exists(path_of("sandbox/x")));
    refused("abs.zip", "out3", "absolute");
    CHECK(!exists("/tmp/kumo-zip-test-abs"));
    refused("backslash.zip", "out3", "backslash");
    refused("link.zip", "out3", "symbolic link");
    CHECK(!exists(path_of("out3/evil")));
    refused("crc.zip", "out4", "CRC");
    refused("trunc.zip", "out5", "not a zip");
    refused("notzip.zip", "out5", "not a zip");
    refused("missing.zip", "out5", "cannot open");
    /* a target that already holds a symlink: nothing is written through it */
    CHECK_INT(run("mkdir -p %s/out6 %s/elsewhere && ln -s %s/elsewhere %s/out6/link", tmp), 0);
    refused("through.zip", "out6", "symlink");
    CHECK(!exists(path_of("elsewhere/x")));
}

int main(void)
{
    snprintf(tmp, sizeof(tmp), "%s/kumo-zip-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmp) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_info_zip();
    test_python();
    test_hostile();
    nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_report();
}
