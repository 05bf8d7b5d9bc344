#include "exec_modules.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/image.h"

#define MAX_MODULES 64
#define MAX_DEPTH 16

static const char *const wanted[] = { "virtio_pci", "virtio_mmio", "virtiofs", "9pnet_virtio", "9p", "overlay" };

struct plan {
	const char *dir;
	struct image dep;            /* modules.dep */
	char *added[MAX_MODULES];    /* paths below dir, in load order */
	unsigned int nr;
	struct cpio *c;
	char *err;
	size_t errlen;
};

/* Whether path (kernel/fs/fuse/virtiofs.ko[.xz]) is module name ('-' and '_' alike). */
static bool is_module(const char *path, size_t len, const char *name)
{
	const char *base = path;
	for (size_t i = 0; i < len; i++)
		if (path[i] == '/')
			base = path + i + 1;
	size_t n = strlen(name);
	if ((size_t)(path + len - base) < n + 3 || strncmp(base + n, ".ko", 3))
		return false;
	for (size_t i = 0; i < n; i++)
		if (base[i] != name[i] && !(base[i] == '-' && name[i] == '_') && !(base[i] == '_' && name[i] == '-'))
			return false;
	return true;
}

/* The line of modules.dep that starts with the module (by name, or by path when name
 * has a slash), as [start, end); NULL when there is none. */
static const char *dep_line(const struct plan *p, const char *name, const char **end)
{
	const char *s = (const char *)p->dep.data, *stop = s + p->dep.len;
	bool by_path = strchr(name, '/') != NULL;
	for (const char *line = s; line < stop;) {
		const char *nl = memchr(line, '\n', (size_t)(stop - line));
		const char *eol = nl ? nl : stop;
		const char *colon = memchr(line, ':', (size_t)(eol - line));
		if (colon && (by_path ? (size_t)(colon - line) == strlen(name) && !strncmp(line, name, strlen(name))
				      : is_module(line, (size_t)(colon - line), name))) {
			*end = eol;
			return line;
		}
		line = eol + 1;
	}
	return NULL;
}

static int add_file(struct plan *p, const char *rel, size_t len)
{
	for (unsigned int i = 0; i < p->nr; i++)
		if (strlen(p->added[i]) == len && !strncmp(p->added[i], rel, len))
			return 0;
	if (p->nr == MAX_MODULES) {
		snprintf(p->err, p->errlen, "--modules %s: more than %d modules to load", p->dir, MAX_MODULES);
		return -E2BIG;
	}
	char path[4096], name[512];
	const char *base = memrchr(rel, '/', len);
	base = base ? base + 1 : rel;
	snprintf(path, sizeof(path), "%s/%.*s", p->dir, (int)len, rel);
	snprintf(name, sizeof(name), EXEC_MODULES_DIR "/%02u-%.*s", p->nr, (int)(rel + len - base), base);
	struct image m;
	int e = image_open(&m, path, "module", p->err, p->errlen);
	if (e)
		return e;
	cpio_add_file(p->c, name, 0644, m.data, m.len);
	image_close(&m);
	p->added[p->nr] = strndup(rel, len);
	return p->added[p->nr++] ? 0 : -ENOMEM;
}

/* Adds the module after its dependencies. modules.dep lists every dependency of a
 * module, each before the ones it needs: loaded last to first. */
static int add_module(struct plan *p, const char *name, int depth)
{
	const char *end, *line = dep_line(p, name, &end);
	if (!line)
		return 0; /* built in, or not in this kernel */
	if (depth > MAX_DEPTH) {
		snprintf(p->err, p->errlen, "--modules %s: dependencies of %s go deeper than %d", p->dir, name, MAX_DEPTH);
		return -ELOOP;
	}
	const char *colon = memchr(line, ':', (size_t)(end - line));
	const char *deps[MAX_MODULES];
	size_t lens[MAX_MODULES];
	unsigned int n = 0;
	for (const char *d = colon + 1; d < end && n < MAX_MODULES;) {
		while (d < end && *d == ' ')
			d++;
		const char *e = d;
		while (e < end && *e != ' ')
			e++;
		if (e > d) {
			deps[n] = d;
			lens[n++] = (size_t)(e - d);
		}
		d = e;
	}
	for (unsigned int i = n; i-- > 0;) {
		char dep[512];
		snprintf(dep, sizeof(dep), "%.*s", (int)lens[i], deps[i]);
		int e = add_module(p, dep, depth + 1);
		if (e)
			return e;
	}
	return add_file(p, line, (size_t)(colon - line));
}

int exec_add_modules(struct cpio *c, const char *dir, char *err, size_t errlen)
{
	struct plan p = { .dir = dir, .c = c, .err = err, .errlen = errlen };
	char path[4096];
	snprintf(path, sizeof(path), "%s/modules.dep", dir);
	char why[300];
	int e = image_open(&p.dep, path, "module list", why, sizeof(why));
	if (e) {
		snprintf(err, errlen, "--modules %s: %s: give a kernel's module tree (/lib/modules/VERSION)", dir, why);
		return e;
	}
	cpio_add_dir(c, "lib", 0755);
	cpio_add_dir(c, EXEC_MODULES_DIR, 0755);
	for (unsigned int i = 0; !e && i < sizeof(wanted) / sizeof(wanted[0]); i++)
		e = add_module(&p, wanted[i], 0);
	image_close(&p.dep);
	for (unsigned int i = 0; i < p.nr; i++)
		free(p.added[i]);
	return e ? e : (int)p.nr;
}

const char *exec_guess_modules(const char *kernel, char *buf, size_t len)
{
	const char *base = strrchr(kernel, '/');
	base = base ? base + 1 : kernel;
	if (strncmp(base, "vmlinuz-", 8) || !base[8])
		return NULL;
	struct stat st;
	if (snprintf(buf, len, "/lib/modules/%s/modules.dep", base + 8) >= (int)len || stat(buf, &st))
		return NULL;
	*strrchr(buf, '/') = 0;
	return buf;
}
