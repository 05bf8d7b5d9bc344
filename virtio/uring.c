#include "uring.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_OPS 8

/* Debian's liburing 2.3 declares io_uring_register_restrictions and
 * io_uring_enable_rings but its library does not export them: the system call itself. */
static int ring_register(struct io_uring *ring, unsigned int op, const void *arg, unsigned int nr)
{
	return syscall(__NR_io_uring_register, ring->ring_fd, op, arg, nr) < 0 ? -errno : 0;
}

int uring_open_restricted(struct io_uring *ring, unsigned int entries, int eventfd,
			  const uint8_t *ops, size_t nr_ops)
{
	if (nr_ops > MAX_OPS)
		return -EINVAL;
	struct io_uring_params p = { .flags = IORING_SETUP_R_DISABLED };
	int e = io_uring_queue_init_params(entries, ring, &p);
	if (e < 0)
		return e;
	struct io_uring_restriction r[MAX_OPS + 1] = { 0 };
	for (size_t i = 0; i < nr_ops; i++)
		r[i] = (struct io_uring_restriction){ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = ops[i] };
	r[nr_ops] = (struct io_uring_restriction){ .opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED, .sqe_flags = 0 };
	e = eventfd >= 0 ? io_uring_register_eventfd(ring, eventfd) : 0;
	if (!e)
		e = ring_register(ring, IORING_REGISTER_RESTRICTIONS, r, (unsigned int)nr_ops + 1);
	if (!e)
		e = ring_register(ring, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (e < 0)
		io_uring_queue_exit(ring);
	return e < 0 ? e : 0;
}
