/* The migration receiver: any bytes from the sender are a migration or are refused,
 * page records never write outside guest RAM. The machine is memory and platform devices
 * without KVM (its vCPU fd is closed: restoring registers fails, parsing is tested). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../vmm/persist/migration.h"
#include "../../vmm/persist/postcopy.h"
#include "fuzz_common.h"

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

static struct machine *fake_machine(void)
{
	static struct machine m;
	static struct vcpu vcpu = { .fd = -1 };
	static int made;
	if (!made) {
		m.vm.mem = *fuzz_mem();
		m.vm.nr_vcpus = 1;
		m.vm.vcpus = &vcpu;
		m.vm.vm_fd = m.vm.kvm_fd = -1;
		m.cfg.cpu = CPU_MODEL_BASELINE;
		serial_init(&m.serial, -1, (struct irq_line){ 0 });
		rtc_init(&m.arch.rtc);
		made = 1;
	}
	return &m;
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
