/* An 8250/16550A UART: the boot console. Output goes to a file descriptor, input arrives
 * through serial_receive() from whoever owns the terminal; interrupts through irq_set. */
#ifndef PAGODA_DEVICES_SERIAL_H
#define PAGODA_DEVICES_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERIAL_RX_BUF 4096

struct irq_line {
	int (*set)(void *ctx, uint32_t gsi, int level);
	void *ctx;
	uint32_t gsi;
};

struct serial {
	pthread_mutex_t lock;
	int out_fd;
	struct irq_line irq;
	void (*rx_space)(void *ctx); /* called when a full receive buffer drains */
	void *rx_space_ctx;
	bool irq_level;
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thr_ipending;
	uint8_t rx[SERIAL_RX_BUF];
	size_t rx_head, rx_len;
	bool rx_was_full;
	struct serial_copy {     /* serial_keep_output: what went out, up to cap bytes */
		char *buf;
		size_t len, cap, dropped;
	} copy;
};

void serial_init(struct serial *s, int out_fd, struct irq_line irq);
void serial_destroy(struct serial *s);
/* Keeps a copy of the output from now on, its first cap bytes (the rest only counted):
 * 0 or -ENOMEM. Read it from s->copy once the vCPUs have stopped. */
int serial_keep_output(struct serial *s, size_t cap);
/* Port I/O on the 8 registers at the UART's base (a bus_io_fn). */
void serial_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write);
/* Queues input for the guest; returns how many bytes fit (the rest stays with the caller). */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);
size_t serial_rx_space(struct serial *s);

/* The registers and queued input, for snapshots and migration. */
struct serial_state {
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr, thr_ipending;
	uint32_t rx_len;
	uint8_t rx[SERIAL_RX_BUF];
};
void serial_save(struct serial *s, struct serial_state *st);
/* -EINVAL when st is not a state this UART can have. */
int serial_restore(struct serial *s, const struct serial_state *st);

#endif
