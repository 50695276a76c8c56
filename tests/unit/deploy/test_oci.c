/*
 * test_oci.c: the OCI image layout writer (src/deploy/oci.c). A small tree
 * is written as an image twice and rewritten in place: the manifest digest
 * must not change and no stale blob may stay behind. Python then checks
 * the layout against the image spec independently of our code: every blob
 * is named by its sha256, index -> manifest -> config and layer
 * descriptors agree in digest and size, the config's diff_id is the sha256
 * of the uncompressed layer, the gzip header carries no timestamp, and the
 * tar lists the mount points and the tree under the prefix in name order
 * with uid/gid 0, mtime 0 and normalised modes (a name past 100 bytes
 * included).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "deploy/bundle.h"
#include "deploy/oci.h"

static char tmp[64];

static void put(const char *rel, const char *text, mode_t mode)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/tree/%s", tmp, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    CHECK_INT(kumo__mkdirs(path, 0700), 0);
    *slash = '/';
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    chmod(path, mode);
}

static int count_blobs(const char *layout)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/blobs/sha256", layout);
    DIR *d = opendir(path);
    int n = 0;
    if (d == NULL)
        return -1;
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static const char *check_py =
    "import gzip, hashlib, io, json, os, sys, tarfile\n"
    "lay = sys.argv[1]\n"
    "def blob(d):\n"
    "    algo, hexd = d.split(':')\n"
    "    data = open(os.path.join(lay, 'blobs', algo, hexd), 'rb').read()\n"
    "    assert hashlib.sha256(data).hexdigest() == hexd, d\n"
    "    return data\n"
    "assert json.load(open(os.path.join(lay, 'oci-layout'))) == {'imageLayoutVersion': '1.0.0'}\n"
    "idx = json.load(open(os.path.join(lay, 'index.json')))\n"
    "assert idx['schemaVersion'] == 2 and idx['mediaType'] == 'application/vnd.oci.image.index.v1+json'\n"
    "[md] = idx['manifests']\n"
    "assert md['annotations']['org.opencontainers.image.ref.name'] == 'latest'\n"
    "mb = blob(md['digest']); assert len(mb) == md['size']\n"
    "m = json.loads(mb)\n"
    "assert m['mediaType'] == md['mediaType'] == 'application/vnd.oci.image.manifest.v1+json'\n"
    "cb = blob(m['config']['digest']); assert len(cb) == m['config']['size']\n"
    "assert m['config']['mediaType'] == 'application/vnd.oci.image.config.v1+json'\n"
    "cfg = json.loads(cb)\n"
    "assert cfg['os'] == 'linux' and cfg['architecture'] in ('amd64', 'arm64'), cfg\n"
    "c = cfg['config']\n"
    "assert c['Entrypoint'] == ['/app/bin/tool', 'serve'], c\n"
    "assert c['Env'][0].startswith('PATH=') and c['Env'][1] == 'PORT=8080', c\n"
    "assert c['ExposedPorts'] == {'8080/tcp': {}}, c\n"
    "[ld] = m['layers']\n"
    "assert ld['mediaType'] == 'application/vnd.oci.image.layer.v1.tar+gzip'\n"
    "gz = blob(ld['digest']); assert len(gz) == ld['size']\n"
    "assert gz[:3] == b'\\x1f\\x8b\\x08' and gz[4:8] == b'\\0\\0\\0\\0', gz[:10]\n"
    "raw = gzip.decompress(gz)\n"
    "assert cfg['rootfs'] == {'type': 'layers', 'diff_ids': ['sha256:' + hashlib.sha256(raw).hexdigest()]}\n"
    "t = tarfile.open(fileobj=io.BytesIO(raw))\n"
    "names = [(i.name, i.type, oct(i.mode), i.uid, i.gid, i.mtime) for i in t]\n"
    "long = 'app/' + 'd' * 60 + '/' + 'e' * 60 + '/file.txt'\n"
    "want = [('app', tarfile.DIRTYPE, '0o755'),\n"
    "        ('app/a.txt', tarfile.REGTYPE, '0o644'),\n"
    "        ('app/bin', tarfile.DIRTYPE, '0o755'),\n"
    "        ('app/bin/tool', tarfile.REGTYPE, '0o755'),\n"
    "        ('app/' + 'd' * 60, tarfile.DIRTYPE, '0o755'),\n"
    "        ('app/' + 'd' * 60 + '/' + 'e' * 60, tarfile.DIRTYPE, '0o755'),\n"
    "        (long, tarfile.REGTYPE, '0o644'),\n"
    "        ('dev', tarfile.DIRTYPE, '0o755'), ('proc', tarfile.DIRTYPE, '0o755'),\n"
    "        ('sys', tarfile.DIRTYPE, '0o755'), ('tmp', tarfile.DIRTYPE, '0o1777')]\n"
    "assert [n[:3] for n in names] == want, names\n"
    "assert all(n[3:] == (0, 0, 0) for n in names), names\n"
    "assert t.extractfile('app/bin/tool').read() == b'#!/bin/sh\\necho tool\\n'\n"
    "assert t.extractfile(long).read() == b'deep\\n'\n"
    "print('layout ok', md['digest'])\n";

int main(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/kumo-oci-XXXXXX");
    CHECK(mkdtemp(tmp) != NULL);
    put("bin/tool", "#!/bin/sh\necho tool\n", 0700);
    put("a.txt", "hello\n", 0600);
    char deep[256];
    snprintf(deep, sizeof(deep), "%0*d/%0*d/file.txt", 60, 0, 60, 0);
    for (char *s = deep; *s; s++)
        if (*s == '0')
            *s = s < deep + 60 ? 'd' : 'e';
    put(deep, "deep\n", 0644);

    char root[128], lay1[128], lay2[128], cmd[1024];
    snprintf(root, sizeof(root), "%s/tree", tmp);
    snprintf(lay1, sizeof(lay1), "%s/one", tmp);
    snprintf(lay2, sizeof(lay2), "%s/two", tmp);
    const char *entry[] = {"/app/bin/tool", "serve", NULL};
    const char *env[] = {"PORT=8080", NULL};
    kumo__oci_image img = {.root = root,
                           .prefix = "app",
                           .entrypoint = entry,
                           .env = env,
                           .exposed_port = "8080/tcp",
                           .workdir = "/app",
                           .ref_name = "latest",
                           .title = "t"};
    kumo__error err = {0};
    char *d1 = NULL, *d2 = NULL, *d3 = NULL;
    uint64_t s1 = 0, s2 = 0, s3 = 0;
    CHECK_INT(kumo__oci_write(lay1, &img, &d1, &s1, &err), 0);
    CHECK_INT(kumo__oci_write(lay2, &img, &d2, &s2, &err), 0);
    CHECK_INT(kumo__oci_write(lay1, &img, &d3, &s3, &err), 0); /* replaces the first */
    if (err.code)
        fprintf(stderr, "oci: %s\n", err.msg);
    CHECK(d1 && strncmp(d1, "sha256:", 7) == 0 && strlen(d1) == 71);
    CHECK_STR(d1, d2);
    CHECK_STR(d1, d3);
    CHECK_INT(s1, s2);
    CHECK(s1 > 0);
    CHECK_INT(count_blobs(lay1), 3); /* layer, config, manifest: nothing left from the first write */
    snprintf(cmd, sizeof(cmd), "%s.tmp", lay1);
    CHECK(access(cmd, F_OK) < 0);

    snprintf(cmd, sizeof(cmd), "%s/check.py", tmp);
    FILE *f = fopen(cmd, "w");
    CHECK(f != NULL);
    fputs(check_py, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "python3 %s/check.py %s", tmp, lay1);
    CHECK_INT(system(cmd), 0);

    /* a different file gives a different image */
    put("a.txt", "changed\n", 0600);
    char *d4 = NULL;
    CHECK_INT(kumo__oci_write(lay2, &img, &d4, &s2, &err), 0);
    CHECK(d4 && strcmp(d4, d1) != 0);

    /* a symlink in the tree is refused, and the old layout stays */
    snprintf(cmd, sizeof(cmd), "%s/tree/link", tmp);
    CHECK(symlink("a.txt", cmd) == 0);
    char *d5 = NULL;
    CHECK(kumo__oci_write(lay2, &img, &d5, &s2, &err) < 0);
    CHECK(strstr(err.msg, "link") != NULL);
    CHECK(d5 == NULL);
    CHECK_INT(count_blobs(lay2), 3);

    free(d1);
    free(d2);
    free(d3);
    free(d4);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    CHECK_INT(system(cmd), 0);
    return check_report();
}
