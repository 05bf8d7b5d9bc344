/* exec's module plan on a made-up module tree: the modules exec needs and only those,
 * each after what it depends on, '-' and '_' alike, built-in ones (absent from
 * modules.dep) skipped, a missing tree or module file said in one line. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../vmm/front/exec_modules.h"
#include "check.h"

static char tree[64];

static void put(const char *rel, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", tree, rel);
	char *slash = strrchr(path, '/');
	*slash = 0;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
	if (system(cmd))
		return;
	*slash = '/';
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* Where name sits in the archive (its offset), or -1. */
static long pos(const struct cpio *c, const char *name)
{
	const char *p = memmem(c->buf.data, c->buf.len, name, strlen(name) + 1);
	return p ? (long)(p - (const char *)c->buf.data) : -1;
}

int main(void)
{
	snprintf(tree, sizeof(tree), "/tmp/pagoda-modules-XXXXXX");
	if (!mkdtemp(tree))
		return 1;
	put("modules.dep",
	    "kernel/fs/fuse/fuse.ko:\n"
	    "kernel/fs/fuse/cuse.ko: kernel/fs/fuse/fuse.ko\n"
	    "kernel/fs/fuse/virtiofs.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko kernel/fs/fuse/fuse.ko\n"
	    "kernel/fs/overlayfs/overlay.ko:\n"
	    "kernel/drivers/virtio/virtio_pci-legacy-dev.ko:\n"
	    "kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci-legacy-dev.ko "
	    "kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n"
	    "kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko\n"
	    "kernel/drivers/virtio/virtio.ko:\n"
	    "kernel/drivers/net/dummy.ko:\n");
	const char *files[] = { "fuse/fuse.ko", "fuse/cuse.ko", "fuse/virtiofs.ko", "overlayfs/overlay.ko" };
	for (unsigned int i = 0; i < 4; i++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "kernel/fs/%s", files[i]);
		put(rel, "\x7f" "ELF module");
	}
	put("kernel/drivers/virtio/virtio_pci-legacy-dev.ko", "m");
	put("kernel/drivers/virtio/virtio_pci.ko", "m");
	put("kernel/drivers/virtio/virtio_ring.ko", "m");
	put("kernel/drivers/virtio/virtio.ko", "m");

	struct cpio c = { 0 };
	char err[512];
	/* virtio_pci needs 3 (virtio, then virtio_ring, then the legacy part), virtiofs
	 * adds fuse: 7 modules; virtio_mmio and 9p are built in (not listed). */
	CHECK_EQ(exec_add_modules(&c, tree, err, sizeof(err)), 7);
	CHECK(pos(&c, EXEC_MODULES_DIR "/00-virtio.ko") >= 0);
	CHECK(pos(&c, EXEC_MODULES_DIR "/01-virtio_ring.ko") >= 0);
	CHECK(pos(&c, EXEC_MODULES_DIR "/02-virtio_pci-legacy-dev.ko") >= 0);
	CHECK(pos(&c, EXEC_MODULES_DIR "/03-virtio_pci.ko") >= 0);
	CHECK(pos(&c, EXEC_MODULES_DIR "/04-fuse.ko") >= 0);
	CHECK(pos(&c, EXEC_MODULES_DIR "/05-virtiofs.ko") >= 0);
	CHECK(pos(&c, EXEC_MODULES_DIR "/06-overlay.ko") >= 0);
	CHECK(memmem(c.buf.data, c.buf.len, "cuse", 4) == NULL);
	CHECK(memmem(c.buf.data, c.buf.len, "dummy", 5) == NULL);
	cpio_free(&c);

	/* a module file missing from the tree: said, nothing half-added counts */
	char path[256];
	snprintf(path, sizeof(path), "%s/kernel/fs/overlayfs/overlay.ko", tree);
	unlink(path);
	c = (struct cpio){ 0 };
	CHECK(exec_add_modules(&c, tree, err, sizeof(err)) < 0);
	CHECK_MSG(err, "overlay.ko");
	cpio_free(&c);
	c = (struct cpio){ 0 };
	CHECK(exec_add_modules(&c, "/nonexistent", err, sizeof(err)) < 0);
	CHECK_MSG(err, "give a kernel's module tree");
	cpio_free(&c);

	/* the tree a kernel's name gives */
	char buf[256];
	CHECK(exec_guess_modules("/boot/vmlinuz-0.0.0-pagoda-none", buf, sizeof(buf)) == NULL);
	CHECK(exec_guess_modules("/tmp/bzImage", buf, sizeof(buf)) == NULL);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tree);
	if (system(cmd)) {
		/* a leftover temporary directory is not a failure */
	}
	return check_result("exec_modules");
}
