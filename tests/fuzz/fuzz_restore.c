/* The whole restore path on a real KVM VM (2 vCPUs, 16M, virtio-rng and a balloon):
 * the input is the records of a state stream; the harness puts this machine's header
 * before them and a correct CRC after them (which a fuzzer could not find itself), so
 * every record reaches machine_state_restore and the KVM ioctls and device restores
 * behind it. An input whose first byte is 0xff goes in as it is, header and CRC its own.
 * Whatever the bytes, restoring either fails with a message or leaves a machine whose
 * device registers and CMOS can be used without reaching outside its state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../vmm/core/machine.h"
#include "../../vmm/persist/machine_state.h"

static struct machine *real_machine(void)
{
	static struct machine m;
	static int made;
	if (!made) {
		struct machine_config cfg;
		machine_config_defaults(&cfg);
		cfg.mem_size = 16 << 20;
		cfg.cpus = 2;
		cfg.rng = cfg.balloon = true;
		cfg.from_state = true; /* no guest to load: the state brings it */
		if (machine_setup(&m, &cfg, -1)) {
			fprintf(stderr, "fuzz_restore: %s\n", m.err);
			abort();
		}
		made = 1;
	}
	return &m;
}

static void framed(struct machine *m, const uint8_t *data, size_t size, struct state_buf *b)
{
	state_buf_init(b);
	machine_state_put_header(m, b);
	size_t head = b->len;
	uint8_t *d = malloc(head + size + 12);
	memcpy(d, b->data, head);
	memcpy(d + head, data, size);
	uint32_t end[3] = { REC_END, 4, state_crc32(d, head + size, 0) };
	memcpy(d + head + size, end, sizeof(end));
	state_buf_free(b);
	*b = (struct state_buf){ .data = d, .len = head + size + 12, .cap = head + size + 12 };
}

/* After a restore that was accepted, the guest can touch what was restored. */
static void use_devices(struct machine *m)
{
	uint8_t v = 0;
	for (unsigned int port = 0x70; port <= 0x71; port++)
		bus_access(&m->vm.pio, port, &v, 1, false);
	for (unsigned int i = 0; i < m->virtio.nr; i++) {
		struct virtio_dev *d = m->virtio.slots[i].dev;
		pthread_mutex_lock(&d->lock);
		for (unsigned int q = 0; q < d->ops->nr_queues; q++)
			if (d->vqs[q].ready && virtio_dev_live(d))
				d->ops->queue_notify(d, q);
		if (d->ops->quiesce)
			d->ops->quiesce(d);
		pthread_mutex_unlock(&d->lock);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct machine *m = real_machine();
	struct state_buf b;
	if (size && data[0] == 0xff) {
		b = (struct state_buf){ .data = malloc(size), .len = size - 1, .cap = size };
		memcpy(b.data, data + 1, size - 1);
	} else {
		framed(m, data, size, &b);
	}
	char err[256];
	if (machine_state_restore(m, &b, err, sizeof(err)) == 0)
		use_devices(m);
	state_buf_free(&b);
	return 0;
}
