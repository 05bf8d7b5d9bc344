#include "serial.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	REG_RBR_THR = 0, REG_IER = 1, REG_IIR_FCR = 2, REG_LCR = 3,
	REG_MCR = 4, REG_LSR = 5, REG_MSR = 6, REG_SCR = 7,
};
#define LCR_DLAB 0x80
#define IER_RDI  0x01 /* received data available */
#define IER_THRI 0x02 /* transmitter holding register empty */
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI  0x04
#define IIR_FIFO 0xc0
#define LSR_DR   0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_LOOP 0x10
#define MSR_DCD_DSR_CTS 0xb0

void serial_init(struct serial *s, int out_fd, struct irq_line irq)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->out_fd = out_fd;
	s->irq = irq;
	s->thr_ipending = true;
}

void serial_destroy(struct serial *s)
{
	pthread_mutex_destroy(&s->lock);
	free(s->copy.buf);
	s->copy = (struct serial_copy){ 0 };
}

int serial_keep_output(struct serial *s, size_t cap)
{
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	free(s->copy.buf);
	s->copy = (struct serial_copy){ .buf = buf, .cap = cap };
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static uint8_t iir_locked(const struct serial *s)
{
	uint8_t fifo = (s->fcr & 1) ? IIR_FIFO : 0;
	if ((s->ier & IER_RDI) && s->rx_len)
		return IIR_RDI | fifo;
	if ((s->ier & IER_THRI) && s->thr_ipending)
		return IIR_THRI | fifo;
	return IIR_NONE | fifo;
}

static void update_irq_locked(struct serial *s)
{
	bool level = !(iir_locked(s) & IIR_NONE);
	if (level != s->irq_level) {
		s->irq_level = level;
		s->irq.set(s->irq.ctx, s->irq.gsi, level);
	}
}

static void write_out(struct serial *s, uint8_t c)
{
	if (s->copy.len < s->copy.cap)
		s->copy.buf[s->copy.len++] = (char)c;
	else if (s->copy.buf)
		s->copy.dropped++;
	/* A console whose reader went away must not stop the guest: drop the byte. */
	while (write(s->out_fd, &c, 1) < 0 && errno == EINTR)
		;
}

static uint8_t read_rbr_locked(struct serial *s, bool *drained)
{
	if (!s->rx_len)
		return 0;
	uint8_t c = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_RX_BUF;
	s->rx_len--;
	if (s->rx_was_full && s->rx_len == 0) {
		s->rx_was_full = false;
		*drained = true;
	}
	return c;
}

static void reg_write_locked(struct serial *s, unsigned int reg, uint8_t v)
{
	switch (reg) {
	case REG_RBR_THR:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
		} else {
			if (!(s->mcr & MCR_LOOP))
				write_out(s, v);
			s->thr_ipending = true; /* transmission is instant */
		}
		break;
	case REG_IER:
		if (s->lcr & LCR_DLAB)
			s->dlm = v;
		else {
			/* Enabling THRI with an empty THR raises the interrupt at once, which
			 * Linux's 8250 driver relies on to start transmitting. */
			if ((v & IER_THRI) && !(s->ier & IER_THRI))
				s->thr_ipending = true;
			s->ier = v & 0x0f;
		}
		break;
	case REG_IIR_FCR: s->fcr = v; break;
	case REG_LCR: s->lcr = v; break;
	case REG_MCR: s->mcr = v; break;
	case REG_SCR: s->scr = v; break;
	}
}

static uint8_t reg_read_locked(struct serial *s, unsigned int reg, bool *drained)
{
	switch (reg) {
	case REG_RBR_THR:
		return (s->lcr & LCR_DLAB) ? s->dll : read_rbr_locked(s, drained);
	case REG_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case REG_IIR_FCR: {
		uint8_t iir = iir_locked(s);
		if ((iir & 0x0f) == IIR_THRI)
			s->thr_ipending = false; /* reading IIR acknowledges THRI */
		return iir;
	}
	case REG_LCR: return s->lcr;
	case REG_MCR: return s->mcr;
	case REG_LSR: return LSR_THRE | LSR_TEMT | (s->rx_len ? LSR_DR : 0);
	case REG_MSR: return MSR_DCD_DSR_CTS;
	case REG_SCR: return s->scr;
	}
	return 0xff;
}

void serial_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
	struct serial *s = opaque;
	uint8_t *d = data;
	bool drained = false;
	if (len != 1 || offset > REG_SCR) { /* the UART has byte registers only */
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (is_write)
		reg_write_locked(s, (unsigned int)offset, d[0]);
	else
		d[0] = reg_read_locked(s, (unsigned int)offset, &drained);
	update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
	if (drained && s->rx_space)
		s->rx_space(s->rx_space_ctx);
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&s->lock);
	size_t n = 0;
	while (n < len && s->rx_len < SERIAL_RX_BUF) {
		s->rx[(s->rx_head + s->rx_len) % SERIAL_RX_BUF] = buf[n++];
		s->rx_len++;
	}
	if (s->rx_len == SERIAL_RX_BUF)
		s->rx_was_full = true;
	update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial_rx_space(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = SERIAL_RX_BUF - s->rx_len;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial_save(struct serial *s, struct serial_state *st)
{
	pthread_mutex_lock(&s->lock);
	*st = (struct serial_state){ s->ier, s->lcr, s->mcr, s->scr, s->dll, s->dlm, s->fcr, s->thr_ipending,
				     (uint32_t)s->rx_len, { 0 } };
	for (size_t i = 0; i < s->rx_len; i++)
		st->rx[i] = s->rx[(s->rx_head + i) % SERIAL_RX_BUF];
	pthread_mutex_unlock(&s->lock);
}

int serial_restore(struct serial *s, const struct serial_state *st)
{
	if (st->rx_len > SERIAL_RX_BUF)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	s->ier = st->ier;
	s->lcr = st->lcr;
	s->mcr = st->mcr;
	s->scr = st->scr;
	s->dll = st->dll;
	s->dlm = st->dlm;
	s->fcr = st->fcr;
	s->thr_ipending = st->thr_ipending;
	memcpy(s->rx, st->rx, st->rx_len);
	s->rx_head = 0;
	s->rx_len = st->rx_len;
	pthread_mutex_unlock(&s->lock);
	return 0;
}
