/* The Linux boot suite's /init: proves userspace was reached, says what it sees, then does
 * what its arguments (the kernel command line after "--") ask:
 *   poweroff (default)  ACPI S5 through reboot(2): pagoda must exit 0
 *   reboot              i8042/ACPI reset: pagoda must exit 0
 *   hold                stay up (migration and snapshot tests), printing a tick each second
 *                       (each after reading /dev/hwrng when there is one)
 *   virtio              check the virtio devices (init_virtio.c), then power off
 *   report              fill and free memory (free page reporting test), then power off
 *   fs, fs-ro           use the shared directory (init_fs.c), then power off
 * Kernel modules the initramfs carries in /modules (listed in /modules/order) are loaded
 * first: Debian's arm64 kernel builds virtio-mmio and the virtio drivers as modules.
 * init must never return: the kernel would panic. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "init_fs.h"
#include "init_virtio.h"

static void print_file(const char *label, const char *path)
{
	char buf[256] = "";
	FILE *f = fopen(path, "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
	printf("%s: %s\n", label, buf);
}

static void load_modules(void)
{
	FILE *order = fopen("/modules/order", "r");
	char name[128], path[160];
	while (order && fgets(name, sizeof(name), order)) {
		name[strcspn(name, "\n")] = 0;
		snprintf(path, sizeof(path), "/modules/%s", name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) != 0)
			printf("module %s: %s\n", name, strerror(errno));
		else
			printf("module %s loaded\n", name);
		if (fd >= 0)
			close(fd);
	}
	if (order)
		fclose(order);
}

/* A tick a second. With a virtio-rng each tick first waits for 256 of its bytes (more than
 * the driver keeps ahead, so each tick is requests to the device): a device whose
 * interrupts did not survive a move (an MSI route, the ITS's tables) stops the ticks. */
static void hold(void)
{
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	int rng = open("/dev/hwrng", O_RDONLY | O_CLOEXEC);
	if (rng >= 0)
		printf("hold: each tick reads /dev/hwrng\n");
	for (unsigned long t = 0;; t++) {
		unsigned char bytes[256];
		if (rng >= 0 && read(rng, bytes, sizeof(bytes)) <= 0)
			printf("hold: /dev/hwrng: %s\n", strerror(errno));
		printf("tick %lu\n", t);
		fflush(stdout);
		sleep(1);
	}
}

int main(int argc, char **argv)
{
	const char *action = argc > 1 ? argv[1] : "poweroff";
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	printf("PAGODA-INIT-OK\n");
	load_modules();
	print_file("uptime", "/proc/uptime");
	printf("cpus online: %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
	print_file("kernel", "/proc/version");
	print_file("cmdline", "/proc/cmdline");
	fflush(stdout);
	if (!strcmp(action, "hold"))
		hold();
	if (!strcmp(action, "virtio"))
		virtio_checks();
	if (!strcmp(action, "report"))
		report_check();
	if (!strcmp(action, "load"))
		load_check();
	if (!strcmp(action, "fs"))
		fs_checks();
	if (!strcmp(action, "fs-ro"))
		fs_ro_checks();
	/* write() only queues for the UART; without draining, power-off wins the race and
	 * the lines above never reach the console. */
	tcdrain(STDOUT_FILENO);
	sync();
	reboot(!strcmp(action, "reboot") ? RB_AUTOBOOT : RB_POWER_OFF);
	printf("PAGODA-INIT: reboot(2) returned\n");
	for (;;)
		pause();
}
