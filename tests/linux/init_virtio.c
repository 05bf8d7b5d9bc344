/* The Linux guest's side of the virtio boot test (init's "virtio" action). Each check
 * prints one line the host side looks for:
 *   blk      1 MiB of records written with O_DIRECT, flushed, read back; [1M, 2M) discarded
 *   rng      bytes from /dev/hwrng, and which rng the kernel uses
 *   net      eth0 = 10.0.2.15/24, ICMP echo to 10.0.2.1 (the host's tap) answered
 *   balloon  unbinds the driver (deflate), fills free memory, frees it, rebinds (inflate to
 *            the host's target); markers let the host read its RSS at each step */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "init_virtio.h"

#define MIB (1 << 20)

static void print_first_line(const char *label, const char *path)
{
	char buf[128] = "";
	FILE *f = fopen(path, "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
	printf("%s: %s\n", label, buf);
}

static int check_blk(void)
{
	char *buf;
	if (posix_memalign((void **)&buf, 4096, MIB))
		return 1;
	for (int i = 0; i < MIB / 16; i++)
		snprintf(buf + i * 16, 17, "pagodablk %05x\n", i);
	int fd = open("/dev/vda", O_RDWR | O_DIRECT);
	if (fd < 0 || pwrite(fd, buf, MIB, 0) != MIB || fsync(fd)) {
		printf("blk: FAIL writing /dev/vda: %s\n", strerror(errno));
		return 1;
	}
	memset(buf, 0, MIB);
	if (pread(fd, buf, MIB, 0) != MIB || strncmp(buf + 16 * 0x1234, "pagodablk 01234\n", 16)) {
		printf("blk: FAIL reading back\n");
		return 1;
	}
	uint64_t range[2] = { MIB, MIB };
	if (ioctl(fd, BLKDISCARD, range)) {
		printf("blk: FAIL discard: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	free(buf);
	print_first_line("blk serial", "/sys/block/vda/serial");
	printf("blk: wrote, flushed and read back 1 MiB; discarded [1M, 2M)\n");
	return 0;
}

static int check_rng(void)
{
	unsigned char b[32];
	int fd = open("/dev/hwrng", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, b, sizeof(b));
	if (n <= 0) {
		printf("rng: FAIL reading /dev/hwrng: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	print_first_line("rng current", "/sys/class/misc/hw_random/rng_current");
	printf("rng: read %zd bytes: %02x%02x%02x%02x...\n", n, b[0], b[1], b[2], b[3]);
	return 0;
}

static int set_addr(int s, unsigned long req, const char *ifname, const char *addr)
{
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, addr, &sin->sin_addr);
	return ioctl(s, req, &ifr);
}

static int bring_up(const char *ifname)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	int r = s < 0 || set_addr(s, SIOCSIFADDR, ifname, "10.0.2.15") ||
		set_addr(s, SIOCSIFNETMASK, ifname, "255.255.255.0") || ioctl(s, SIOCGIFFLAGS, &ifr);
	if (!r) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		r = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	if (s >= 0)
		close(s);
	return r;
}

static uint16_t csum(const void *p, size_t len)
{
	const uint16_t *w = p;
	uint32_t sum = 0;
	for (; len > 1; len -= 2)
		sum += *w++;
	if (len)
		sum += *(const uint8_t *)w;
	sum = (sum >> 16) + (sum & 0xffff);
	return (uint16_t)~(sum + (sum >> 16));
}

/* One echo request; 1 when the reply came within a second. */
static int ping_once(int s, const struct sockaddr_in *to, uint16_t seq)
{
	struct icmphdr req = { .type = ICMP_ECHO, .un.echo = { .id = htons(0x7067), .sequence = htons(seq) } };
	req.checksum = csum(&req, sizeof(req));
	if (sendto(s, &req, sizeof(req), 0, (const struct sockaddr *)to, sizeof(*to)) < 0)
		return 0;
	struct pollfd p = { .fd = s, .events = POLLIN };
	while (poll(&p, 1, 1000) > 0) {
		char buf[256];
		ssize_t n = recv(s, buf, sizeof(buf), 0);
		struct iphdr *ip = (struct iphdr *)buf;
		if (n < (ssize_t)sizeof(*ip) || n < ip->ihl * 4 + (ssize_t)sizeof(struct icmphdr))
			continue;
		struct icmphdr *rep = (struct icmphdr *)(buf + ip->ihl * 4);
		if (rep->type == ICMP_ECHOREPLY && rep->un.echo.id == htons(0x7067))
			return 1;
	}
	return 0;
}

static int check_net(void)
{
	if (bring_up("eth0")) {
		printf("net: FAIL configuring eth0: %s\n", strerror(errno));
		return 1;
	}
	int s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	struct sockaddr_in to = { .sin_family = AF_INET };
	inet_pton(AF_INET, "10.0.2.1", &to.sin_addr);
	for (uint16_t seq = 1; s >= 0 && seq <= 20; seq++) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (ping_once(s, &to, seq)) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			long us = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
			printf("net: eth0 10.0.2.15 ping 10.0.2.1: reply to echo %u in %ld us\n", seq, us);
			close(s);
			return 0;
		}
	}
	printf("net: FAIL no reply from 10.0.2.1\n");
	return 1;
}

static long meminfo_kb(const char *key)
{
	char line[128];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = atol(line + strlen(key) + 1);
	if (f)
		fclose(f);
	return v;
}

/* Touches all free memory but keep_mib: the host then backs nearly every free page, so
 * whichever pages the balloon takes were resident. Returns the mapping's length. */
static size_t fill_free_memory(char **out, long keep_mib)
{
	size_t len = (size_t)(meminfo_kb("MemFree:") - keep_mib * 1024) * 1024;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	for (size_t i = 0; i < len; i += 4096)
		p[i] = 1;
	*out = p;
	return len;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	int r = fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s);
	if (fd >= 0)
		close(fd);
	return r;
}

static int balloon_device(char *name, size_t len)
{
	DIR *d = opendir("/sys/bus/virtio/drivers/virtio_balloon");
	struct dirent *e;
	int r = 1;
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "virtio", 6)) {
			snprintf(name, len, "%s", e->d_name);
			r = 0;
		}
	if (d)
		closedir(d);
	return r;
}

/* The driver inflates from a workqueue, 1 MiB per round trip, slowly where the CPU is
 * emulated (the lab): waits until MemFree has fallen by more than min_drop_kb and then
 * held for 2 s, 60 s at most. Returns MemFree at the start. */
static long wait_inflated(long min_drop_kb)
{
	long before = meminfo_kb("MemFree:"), last = before;
	for (int i = 0, still = 0; i < 300 && still < 10; i++) {
		usleep(200000);
		long now = meminfo_kb("MemFree:");
		still = now <= before - min_drop_kb && now >= last ? still + 1 : 0;
		last = now;
	}
	return before;
}

static int check_balloon(void)
{
	char dev[256];
	if (balloon_device(dev, sizeof(dev))) {
		printf("balloon: FAIL no device bound to virtio_balloon\n");
		return 1;
	}
	/* The first inflation, begun at the driver's probe, must end before the unbind, or
	 * the host's totals count only part of it (CI saw 62 of 64 MiB). */
	wait_inflated(0);
	/* Unbinding deflates the balloon: its pages are the guest's again. */
	if (write_str("/sys/bus/virtio/drivers/virtio_balloon/unbind", dev)) {
		printf("balloon: FAIL unbind %s: %s\n", dev, strerror(errno));
		return 1;
	}
	char *p;
	size_t len = fill_free_memory(&p, 16);
	if (!len)
		return 1;
	munmap(p, len);
	printf("BALLOON-TOUCHED %zu MiB touched and freed\n", len >> 20);
	fflush(stdout);
	sleep(3);
	if (write_str("/sys/bus/virtio/drivers/virtio_balloon/bind", dev)) {
		printf("balloon: FAIL bind %s: %s\n", dev, strerror(errno));
		return 1;
	}
	long before = wait_inflated(4096);
	printf("BALLOON-INFLATED guest MemFree went from %ld to %ld kB\n", before, meminfo_kb("MemFree:"));
	fflush(stdout);
	sleep(3);
	return 0;
}

/* Free page reporting: hold most free memory (touched), then free it; the host reads its
 * RSS at both markers. */
int report_check(void)
{
	char *p;
	size_t len = fill_free_memory(&p, 48);
	if (!len)
		return 1;
	printf("REPORT-HOLDING %zu MiB touched\n", len >> 20);
	fflush(stdout);
	sleep(3);
	munmap(p, len);
	sleep(8); /* the kernel reports free blocks about 2 s after they appear */
	printf("REPORT-FREED\n");
	fflush(stdout);
	sleep(3);
	return 0;
}

/* --balloon auto: idle, then a load that grows to 192 MiB (16 MiB every half second, all
 * of it touched again each step) and keeps touching it, then frees it; markers let the
 * host read the balloon and its RSS at each stage. The kernel's OOM notifier takes pages
 * back from the balloon if the load outruns the host's deflation. */
int load_check(void)
{
	const size_t step = 16u << 20, len = 12 * step;
	printf("LOAD-IDLE\n");
	fflush(stdout);
	sleep(25);
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		printf("LOAD FAIL mmap: %s\n", strerror(errno));
		return 1;
	}
	for (size_t have = step; have <= len; have += step) {
		for (size_t i = 0; i < have; i += 4096)
			p[i]++;
		usleep(500 * 1000);
	}
	printf("LOAD-BUSY %zu MiB touched\n", len >> 20);
	fflush(stdout);
	time_t end = time(NULL) + 20;
	while (time(NULL) < end) {
		for (size_t i = 0; i < len; i += 4096)
			p[i]++;
		usleep(200 * 1000);
	}
	munmap(p, len);
	printf("LOAD-FREED\n");
	fflush(stdout);
	sleep(30);
	printf("LOAD-DONE\n");
	fflush(stdout);
	return 0;
}

int virtio_checks(void)
{
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL); /* /dev/vda, /dev/hwrng */
	int bad = check_blk() + check_rng() + check_net() + check_balloon();
	printf("virtio checks: %s\n", bad ? "FAILED" : "all passed");
	return bad;
}
