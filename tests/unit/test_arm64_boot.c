/* arm64 boot data, checked on any build host: the device tree pagoda generates (read back
 * with libfdt, and round-tripped through dtc, which must not warn) and the Image header
 * checks and placement. Argument: the dtc program. */
#include <libfdt.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../arch/arm64/fdt.h"
#include "../../arch/arm64/image.h"
#include "../../arch/arm64/platform.h"
#include "check.h"

static const char *dtc = "dtc";

static const void *prop(const void *fdt, const char *path, const char *name, int *len)
{
	int node = fdt_path_offset(fdt, path);
	if (node < 0)
		return NULL;
	return fdt_getprop(fdt, node, name, len);
}

static uint32_t cell(const void *p, int i)
{
	return fdt32_to_cpu(((const fdt32_t *)p)[i]);
}

static uint64_t cell64(const void *p, int i)
{
	return ((uint64_t)cell(p, 2 * i) << 32) | cell(p, 2 * i + 1);
}

static bool prop_is(const void *fdt, const char *path, const char *name, const char *want)
{
	int len;
	const char *v = prop(fdt, path, name, &len);
	return v && len == (int)strlen(want) + 1 && !strcmp(v, want);
}

static void *build(unsigned int cpus, unsigned int virtio, bool initrd, bool pci, struct mem_layout *l, size_t *len)
{
	static const uint64_t mpidr[4] = { 0x80000000, 0x80000001, 0x80000002, 0x80000003 };
	char err[256] = "";
	CHECK_EQ(layout_arm64(512ULL << 20, 0x200000, l), 0);
	struct arm64_fdt_config c = { .layout = l, .nr_cpus = cpus, .mpidr = mpidr, .nr_virtio = virtio,
				      .bootargs = "console=ttyS0 -- poweroff",
				      .initrd_start = initrd ? 0x5f000000 : 0, .initrd_end = initrd ? 0x5f100000 : 0,
				      .pci = pci };
	for (unsigned int i = 0; i < virtio; i++) {
		c.virtio[i].gpa = ARM64_VIRTIO_MMIO_GPA + i * ARM64_VIRTIO_MMIO_STRIDE;
		c.virtio[i].size = 0x200;
		c.virtio[i].spi = 1 + i;
	}
	void *blob = NULL;
	int e = arm64_fdt_build(&c, &blob, len, err, sizeof(err));
	CHECK_EQ(e, 0);
	if (e)
		fprintf(stderr, "arm64_fdt_build: %s\n", err);
	return blob;
}

static void test_tree(void)
{
	struct mem_layout l;
	size_t len;
	void *fdt = build(4, 2, true, false, &l, &len);
	if (!fdt)
		return;
	CHECK_EQ(fdt_check_header(fdt), 0);
	CHECK(len <= ARM64_DTB_MAX);
	int n;
	CHECK(prop_is(fdt, "/", "compatible", "linux,dummy-virt"));
	const void *reg = prop(fdt, "/memory@40000000", "reg", &n);
	CHECK(reg && n == 16 && cell64(reg, 0) == ARM64_RAM_GPA && cell64(reg, 1) == 512ULL << 20);
	CHECK(prop_is(fdt, "/memory@40000000", "device_type", "memory"));
	/* cpus: one node per vCPU at its MPIDR affinity, started by PSCI */
	int cpus = fdt_path_offset(fdt, "/cpus"), count = 0, child;
	fdt_for_each_subnode(child, fdt, cpus) {
		const void *r = fdt_getprop(fdt, child, "reg", &n);
		CHECK(r && n == 8 && cell64(r, 0) == (uint64_t)count);
		const char *m = fdt_getprop(fdt, child, "enable-method", NULL);
		CHECK(m && !strcmp(m, "psci"));
		count++;
	}
	CHECK_EQ(count, 4);
	CHECK(prop_is(fdt, "/psci", "method", "hvc"));
	const char *compat = prop(fdt, "/psci", "compatible", &n);
	CHECK(compat && fdt_stringlist_contains(compat, n, "arm,psci-0.2"));
	/* the GICv3: distributor and 4 redistributors; the interrupt parent of the tree */
	reg = prop(fdt, "/intc@8000000", "reg", &n);
	CHECK(reg && n == 32 && cell64(reg, 0) == ARM64_GIC_DIST_GPA && cell64(reg, 2) == ARM64_GIC_REDIST_GPA &&
	      cell64(reg, 3) == 4 * ARM64_GIC_REDIST_STRIDE);
	CHECK(prop_is(fdt, "/intc@8000000", "compatible", "arm,gic-v3"));
	const void *ph = prop(fdt, "/intc@8000000", "phandle", &n), *parent = prop(fdt, "/", "interrupt-parent", &n);
	CHECK(ph && parent && cell(ph, 0) == cell(parent, 0));
	/* the timer's four PPIs, virtual at 11 */
	const void *irqs = prop(fdt, "/timer", "interrupts", &n);
	CHECK(irqs && n == 48 && cell(irqs, 0) == 1 && cell(irqs, 7) == ARM64_TIMER_PPI_VIRT);
	/* the console, and /chosen pointing at it */
	CHECK(prop_is(fdt, "/uart@9000000", "compatible", "ns16550a"));
	irqs = prop(fdt, "/uart@9000000", "interrupts", &n);
	CHECK(irqs && n == 12 && cell(irqs, 0) == 0 && cell(irqs, 1) == ARM64_UART_SPI);
	CHECK(prop_is(fdt, "/chosen", "stdout-path", "/uart@9000000"));
	CHECK(prop_is(fdt, "/chosen", "bootargs", "console=ttyS0 -- poweroff"));
	const void *ir = prop(fdt, "/chosen", "linux,initrd-start", &n);
	CHECK(ir && n == 8 && cell64(ir, 0) == 0x5f000000);
	ir = prop(fdt, "/chosen", "linux,initrd-end", &n);
	CHECK(ir && n == 8 && cell64(ir, 0) == 0x5f100000);
	/* virtio-mmio: a window and an edge-triggered SPI each */
	CHECK(prop_is(fdt, "/virtio_mmio@a000000", "compatible", "virtio,mmio"));
	irqs = prop(fdt, "/virtio_mmio@a001000", "interrupts", &n);
	CHECK(irqs && n == 12 && cell(irqs, 1) == 2 && cell(irqs, 2) == ARM64_IRQ_EDGE_RISING);
	reg = prop(fdt, "/virtio_mmio@a001000", "reg", &n);
	CHECK(reg && cell64(reg, 0) == ARM64_VIRTIO_MMIO_GPA + ARM64_VIRTIO_MMIO_STRIDE && cell64(reg, 1) == 0x200);
	CHECK(fdt_path_offset(fdt, "/virtio_mmio@a002000") < 0);
	free(fdt);

	/* No initrd: no initrd properties. */
	fdt = build(1, 0, false, false, &l, &len);
	if (fdt) {
		CHECK(prop(fdt, "/chosen", "linux,initrd-start", &n) == NULL);
		CHECK(fdt_path_offset(fdt, "/virtio_mmio@a000000") < 0);
		free(fdt);
	}
	char err[256] = "";
	void *blob;
	struct arm64_fdt_config bad = { .layout = &l, .nr_cpus = 0 };
	CHECK(arm64_fdt_build(&bad, &blob, &len, err, sizeof(err)) < 0);
}

/* virtio-pci: a generic ECAM host bridge for bus 0 whose MSIs go to the GIC's ITS, and no
 * virtio-mmio node. */
static void test_pci_tree(void)
{
	struct mem_layout l;
	size_t len;
	int n;
	void *fdt = build(2, 0, false, true, &l, &len);
	if (!fdt)
		return;
	const char *bridge = "/pcie@30000000", *its = "/intc@8000000/msi-controller@8080000";
	CHECK(prop_is(fdt, bridge, "compatible", "pci-host-ecam-generic"));
	CHECK(prop_is(fdt, bridge, "device_type", "pci"));
	const void *reg = prop(fdt, bridge, "reg", &n);
	CHECK(reg && n == 16 && cell64(reg, 0) == ARM64_PCI_ECAM_GPA && cell64(reg, 1) == 1 << 20);
	const void *bus = prop(fdt, bridge, "bus-range", &n);
	CHECK(bus && n == 8 && cell(bus, 0) == 0 && cell(bus, 1) == 0);
	/* One 32-bit memory range, PCI address = CPU address = the BAR window. */
	const void *ranges = prop(fdt, bridge, "ranges", &n);
	CHECK(ranges && n == 28 && cell(ranges, 0) == 0x02000000 && cell(ranges, 2) == ARM64_PCI_MMIO_GPA &&
	      cell(ranges, 4) == ARM64_PCI_MMIO_GPA && cell(ranges, 6) == ARM64_PCI_MMIO_SIZE);
	CHECK(prop_is(fdt, its, "compatible", "arm,gic-v3-its"));
	CHECK(prop(fdt, its, "msi-controller", &n) != NULL);
	reg = prop(fdt, its, "reg", &n);
	CHECK(reg && n == 16 && cell64(reg, 0) == ARM64_GIC_ITS_GPA && cell64(reg, 1) == ARM64_GIC_ITS_SIZE);
	/* Requester IDs 0-255 map to the ITS's device IDs 0-255. */
	int phlen;
	const void *map = prop(fdt, bridge, "msi-map", &n), *ph = prop(fdt, its, "phandle", &phlen);
	CHECK(map && ph && phlen == 4 && n == 16 && cell(map, 0) == 0 && cell(map, 1) == cell(ph, 0) && cell(map, 2) == 0 &&
	      cell(map, 3) == 256);
	CHECK(fdt_path_offset(fdt, "/virtio_mmio@a000000") < 0);
	free(fdt);
	/* Without PCI: neither bridge nor ITS. */
	fdt = build(2, 1, false, false, &l, &len);
	if (fdt) {
		CHECK(fdt_path_offset(fdt, bridge) < 0 && fdt_path_offset(fdt, its) < 0);
		free(fdt);
	}
}

static int run(char *const argv[], const char *out, const char *errf)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen(out, "w", stdout) || !freopen(errf, "w", stderr))
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static long file_size(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fclose(f);
	return n;
}

static void print_file(const char *path)
{
	char line[256];
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		fprintf(stderr, "dtc: %s", line);
	if (f)
		fclose(f);
}

static bool same_file(const char *a, const char *b)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
	return system(cmd) == 0;
}

/* dtb -> dts -> dtb -> dts: dtc reads the tree without a warning and the two sources match. */
static void test_dtc_round_trip(bool pci)
{
	struct mem_layout l;
	size_t len;
	void *fdt = build(2, pci ? 0 : 3, true, pci, &l, &len);
	if (!fdt)
		return;
	char dir[] = "/tmp/pagoda-fdt-XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		free(fdt);
		return;
	}
	char dtb[64], dts[64], dtb2[64], dts2[64], errs[64];
	snprintf(dtb, sizeof(dtb), "%s/a.dtb", dir);
	snprintf(dts, sizeof(dts), "%s/a.dts", dir);
	snprintf(dtb2, sizeof(dtb2), "%s/b.dtb", dir);
	snprintf(dts2, sizeof(dts2), "%s/b.dts", dir);
	snprintf(errs, sizeof(errs), "%s/err", dir);
	FILE *f = fopen(dtb, "w");
	CHECK(f && fwrite(fdt, 1, len, f) == len);
	if (f)
		fclose(f);
	char *a[] = { (char *)dtc, "-I", "dtb", "-O", "dts", dtb, NULL };
	CHECK_EQ(run(a, dts, errs), 0);
	print_file(errs);
	CHECK_EQ(file_size(errs), 0); /* no warnings: unit addresses, cells, phandles all agree */
	char *b[] = { (char *)dtc, "-I", "dts", "-O", "dtb", "-o", dtb2, dts, NULL };
	CHECK_EQ(run(b, "/dev/null", errs), 0);
	char *c[] = { (char *)dtc, "-I", "dtb", "-O", "dts", dtb2, NULL };
	CHECK_EQ(run(c, dts2, errs), 0);
	CHECK(same_file(dts, dts2));
	CHECK(file_size(dts) > 500);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ(system(cmd), 0);
	free(fdt);
}

static void header(uint8_t *img, uint64_t text_offset, uint64_t image_size, uint64_t flags)
{
	memset(img, 0, 64);
	memcpy(img + 8, &text_offset, 8);
	memcpy(img + 16, &image_size, 8);
	memcpy(img + 24, &flags, 8);
	uint32_t magic = ARM64_IMAGE_MAGIC;
	memcpy(img + 56, &magic, 4);
}

static void test_image_plan(void)
{
	static uint8_t img[4096];
	struct arm64_boot_plan p;
	char err[256];
	const uint64_t ram = ARM64_RAM_GPA, size = 256ULL << 20;
	header(img, 0, 0x100000, 0xa);
	CHECK_EQ(arm64_image_plan(img, sizeof(img), 0x10000, ram, size, &p, err, sizeof(err)), 0);
	CHECK_EQ(p.kernel_gpa, ram);
	CHECK_EQ(p.kernel_end, ram + 0x100000);
	CHECK_EQ(p.dtb_gpa, ram + size - ARM64_DTB_MAX); /* the last 2 MiB block */
	CHECK_EQ(p.initrd_end - p.initrd_gpa, 0x10000);
	CHECK(p.initrd_end <= p.dtb_gpa && p.initrd_gpa % 4096 == 0);
	/* a text offset moves the kernel, not the 2 MiB base */
	header(img, 0x80000, 0x100000, 0xa);
	CHECK_EQ(arm64_image_plan(img, sizeof(img), 0, ram, size, &p, err, sizeof(err)), 0);
	CHECK_EQ(p.entry, ram + 0x80000);
	CHECK_EQ(p.initrd_gpa, 0);
	/* image_size 0: an old kernel, text offset 0x80000 */
	header(img, 0, 0, 0xa);
	CHECK_EQ(arm64_image_plan(img, sizeof(img), 0, ram, size, &p, err, sizeof(err)), 0);
	CHECK_EQ(p.entry, ram + 0x80000);
	/* refused: no magic, big-endian, too short, too big for RAM, initrd that does not fit */
	header(img, 0, 0x100000, 0xa);
	img[56] = 'X';
	CHECK(arm64_image_plan(img, sizeof(img), 0, ram, size, &p, err, sizeof(err)) == -EINVAL);
	CHECK_MSG(err, "not an arm64 Image");
	header(img, 0, 0x100000, 0xb);
	CHECK(arm64_image_plan(img, sizeof(img), 0, ram, size, &p, err, sizeof(err)) == -EINVAL);
	CHECK_MSG(err, "big-endian");
	CHECK(arm64_image_plan(img, 40, 0, ram, size, &p, err, sizeof(err)) == -EINVAL);
	header(img, 0, size, 0xa);
	CHECK(arm64_image_plan(img, sizeof(img), 0, ram, size, &p, err, sizeof(err)) == -ENOMEM);
	CHECK_MSG(err, "-m");
	header(img, 0, 0x100000, 0xa);
	CHECK(arm64_image_plan(img, sizeof(img), size - 0x200000, ram, size, &p, err, sizeof(err)) == -ENOMEM);
	CHECK_MSG(err, "-m");
	header(img, 0x123, 0x100000, 0xa); /* a text offset off a page boundary (found by fuzzing) */
	CHECK(arm64_image_plan(img, sizeof(img), 0, ram, size, &p, err, sizeof(err)) == -EINVAL);
	header(img, 0, 1ULL << 62, 0xa);
	CHECK(arm64_image_plan(img, sizeof(img), 0, ram, size, &p, err, sizeof(err)) == -EINVAL);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		dtc = argv[1];
	test_tree();
	test_dtc_round_trip(false);
	test_pci_tree();
	test_dtc_round_trip(true);
	test_image_plan();
	return check_result("test_arm64_boot");
}
