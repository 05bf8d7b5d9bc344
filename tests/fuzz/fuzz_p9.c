/* The 9P2000.L server under a hostile guest: the input is a run of messages (each
 * starting with its own size field, which the input may lie about), served one after
 * the other against fuzz_share.h's directory, which the guest must not get out of. */
#include <stdint.h>
#include <string.h>

#include "../../virtio/fs/p9_server.h"
#include "fuzz_share.h"

static struct p9_server *srv;
static uint8_t rep[P9_MSIZE_MAX];

static void make_server(const char *share)
{
	char err[256];
	srv = p9_server_create(share, false, err, sizeof(err));
	if (!srv)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!srv)
		make_server(fuzz_share_world("p9"));
	p9_server_reset(srv);
	for (size_t off = 0; off + 7 <= size;) {
		uint32_t len;
		memcpy(&len, data + off, 4);
		size_t take = len < 7 || len > size - off ? size - off : len;
		size_t n = p9_server_handle(srv, data + off, take, rep, sizeof(rep));
		if (n > sizeof(rep))
			__builtin_trap();
		off += take;
	}
	fuzz_share_check_outside();
	return 0;
}
