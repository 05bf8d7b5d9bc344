/* The migration channel's sends (vmm/persist/mig_channel.h), over a unix socket pair and
 * TCP loopback: runs of guest pages long enough to skip the write buffer arrive whole and
 * in order between the buffered small sends around them. */
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../vmm/persist/mig_channel.h"
#include "check.h"

#define RAM_SIZE (4u << 20)
#define HDR 12

static uint8_t *ram;     /* the "guest RAM" sent from */
static uint8_t *expect;  /* what the stream must carry */
static size_t expect_len;

struct reader {
	int fd;
	uint8_t *got;
	size_t len;
	ssize_t n;
};

static void *read_all(void *arg)
{
	struct reader *r = arg;
	r->n = recv(r->fd, r->got, r->len, MSG_WAITALL);
	return NULL;
}

static int tcp_pair(int sv[2])
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sa, &len))
		return -1;
	sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&sa, sizeof(sa)))
		return -1;
	sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	return sv[1] < 0 ? -1 : 0;
}

/* A small send (buffered) and then n bytes of RAM at off (straight to the socket when
 * large: the buffer must be written out first). */
static void send_run(struct mig_chan *ch, const char *hdr, size_t off, size_t n)
{
	CHECK_EQ(mig_send(ch, hdr, HDR), 0);
	memcpy(expect + expect_len, hdr, HDR);
	expect_len += HDR;
	CHECK_EQ(mig_send(ch, ram + off, n), 0);
	memcpy(expect + expect_len, ram + off, n);
	expect_len += n;
}

static void stream(const char *what, int sv[2])
{
	static struct mig_chan ch; /* 64 KiB of write buffer */
	ch = (struct mig_chan){ .fd = sv[0] };
	CHECK_EQ(mig_tune_socket(sv[0]), 0);
	expect_len = 0;
	struct reader r = { .fd = sv[1], .len = RAM_SIZE + 4 * HDR };
	r.got = malloc(r.len);
	pthread_t t;
	CHECK(r.got && pthread_create(&t, NULL, read_all, &r) == 0);
	send_run(&ch, "header one..", 0, 1 << 20);                 /* a record's run */
	send_run(&ch, "header two..", 1 << 20, 4096);              /* one page: buffered */
	send_run(&ch, "header three", (1 << 20) + 4096, (3 << 20) - 4096);
	send_run(&ch, "header four.", 0, 0);
	CHECK_EQ(mig_flush(&ch), 0);
	pthread_join(t, NULL);
	CHECK_EQ(r.n, (ssize_t)expect_len);
	if (r.n == (ssize_t)expect_len && memcmp(r.got, expect, expect_len)) {
		fprintf(stderr, "%s: the stream's bytes are not what was sent\n", what);
		CHECK(0);
	}
	close(sv[0]);
	close(sv[1]);
	free(r.got);
}

int main(void)
{
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	expect = malloc(RAM_SIZE + 4 * HDR);
	CHECK(ram != MAP_FAILED && expect);
	for (size_t i = 0; i < RAM_SIZE; i += 8)
		*(uint64_t *)(ram + i) = i * 0x9e3779b97f4a7c15ULL;
	int sv[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	stream("unix", sv);
	CHECK_EQ(tcp_pair(sv), 0);
	stream("tcp", sv);
	munmap(ram, RAM_SIZE);
	free(expect);
	return check_result("mig_channel");
}
