/* The migration receiver: any bytes from the sender are a migration or are refused,
 * page records never write outside guest RAM. The machine is memory and platform devices
 * without KVM (its vCPU fd is closed: restoring registers fails, parsing is tested). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../vmm/persist/postcopy.h"
#include "fuzz_machine.h"

struct feed {
	int fd;
	const uint8_t *data;
	size_t size;
};

static void *writer(void *arg)
{
	struct feed *f = arg;
	for (size_t off = 0; off < f->size;) {
		ssize_t k = send(f->fd, f->data + off, f->size - off, MSG_NOSIGNAL);
		if (k <= 0)
			break;
		off += (size_t)k;
	}
	shutdown(f->fd, SHUT_WR);
	char sink[512];
	while (recv(f->fd, sink, sizeof(sink), 0) > 0) {
		/* the receiver's replies */
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return 0;
	struct feed f = { sv[1], data, size };
	pthread_t t;
	pthread_create(&t, NULL, writer, &f);
	char err[256];
	struct postcopy_dst *pc;
	migration_receive_fd(fake_machine(), sv[0], -1, &pc, err, sizeof(err));
	postcopy_dst_abort(pc);
	postcopy_dst_finish(pc);
	shutdown(sv[0], SHUT_RDWR);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
