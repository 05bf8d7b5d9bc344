/* Device io_uring rings are locked down: only the opcodes the device asked for go
 * through (anything else, such as opening a file in the kernel's io_uring workers where
 * no seccomp filter of pagoda's reaches, completes with -EACCES), no SQE flags, and no
 * io_uring_register after setup; what is allowed works and completions reach the
 * eventfd. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../../virtio/uring.h"
#include "check.h"

static int submit_one(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	if (io_uring_submit(ring) != 1 || io_uring_wait_cqe(ring, &cqe))
		return -9999;
	int res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

int main(void)
{
	static const uint8_t ops[] = { IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC };
	struct io_uring ring;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK_EQ(uring_open_restricted(&ring, 8, efd, ops, sizeof(ops)), 0);

	char path[] = "/tmp/pagoda-test-uring-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, "pagoda", 6) == 6);
	char buf[8] = { 0 };
	struct iovec iov = { buf, 6 };
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_readv(sqe, fd, &iov, 1, 0);
	CHECK_EQ(submit_one(&ring), 6);
	CHECK(!memcmp(buf, "pagoda", 6));
	uint64_t n = 0;
	CHECK(read(efd, &n, sizeof(n)) == sizeof(n) && n >= 1);

	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_openat(sqe, AT_FDCWD, path, O_RDONLY, 0);
	CHECK_EQ(submit_one(&ring), (uint64_t)-EACCES);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_readv(sqe, fd, &iov, 1, 0);
	io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
	CHECK_EQ(submit_one(&ring), (uint64_t)-EACCES);
	CHECK(io_uring_register_files(&ring, &fd, 1) < 0);

	close(fd);
	unlink(path);
	io_uring_queue_exit(&ring);
	close(efd);
	return check_result("uring");
}
