/* The FUSE server (virtio-fs) under a hostile guest: the input is a run of requests
 * (each starting with its own length field, which the input may lie about), served one
 * after the other in a session the harness opened with FUSE_INIT, against
 * fuzz_share.h's directory, which the guest must not get out of. A request whose header
 * padding has its top bit set is answered into as many bytes as the rest of the padding
 * says (a driver's short reply buffers). */
#include <linux/fuse.h>
#include <stdint.h>
#include <string.h>

#include "../../virtio/fs/fuse_server.h"
#include "fuzz_share.h"

static struct fuse_server *srv;
static uint8_t rep[FUSE_SRV_MSG_MAX];

static void make_server(const char *share)
{
	char err[256];
	srv = fuse_server_create(share, false, err, sizeof(err));
	if (!srv)
		abort();
}

static void open_session(void)
{
	struct {
		struct fuse_in_header h;
		struct fuse_init_in in;
	} init = { { .len = sizeof(init), .opcode = FUSE_INIT, .unique = 1 },
		   { .major = FUSE_KERNEL_VERSION, .minor = 38, .max_readahead = 1 << 20, .flags = ~0u } };
	if (fuse_server_handle(srv, (const uint8_t *)&init, sizeof(init), rep, sizeof(rep)) == 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!srv)
		make_server(fuzz_share_world("fuse"));
	fuse_server_reset(srv);
	open_session();
	for (size_t off = 0; off + 4 <= size;) {
		uint32_t len;
		memcpy(&len, data + off, 4);
		size_t take = len < 4 || len > size - off ? size - off : len;
		size_t room = sizeof(rep);
		if (take >= sizeof(struct fuse_in_header)) {
			struct fuse_in_header h;
			memcpy(&h, data + off, sizeof(h));
			if (h.padding & 0x8000)
				room = h.padding & 0x7fff;
		}
		size_t n = fuse_server_handle(srv, data + off, take, rep, room);
		if (n > room)
			__builtin_trap();
		off += take;
	}
	fuzz_share_check_outside();
	return 0;
}
