/* --balloon auto's arithmetic (vmm/core/balloon_auto.h): the size it aims at, and how it
 * gets there (down at once, up by steps). The policy with a real guest runs in the lab
 * (tests/linux/balloon-auto-lab.sh). */
#include "../../vmm/core/balloon_auto.h"
#include "check.h"

#define MiB (1ULL << 20)

int main(void)
{
	CHECK_EQ(balloon_auto_want(512 * MiB, 40 * MiB, 64 * MiB), 408 * MiB);
	CHECK_EQ(balloon_auto_want(512 * MiB, 480 * MiB, 64 * MiB), 0);     /* all of it in use */
	CHECK_EQ(balloon_auto_want(512 * MiB, 448 * MiB, 64 * MiB), 0);     /* exactly all */
	CHECK_EQ(balloon_auto_want(512 * MiB, 40 * MiB + 123, 64 * MiB) % 4096, 0); /* whole pages */
	CHECK_EQ(balloon_auto_want(512 * MiB, UINT64_MAX - 10, 64 * MiB), 0);       /* no wrap */
	CHECK_EQ(balloon_auto_next(400 * MiB, 100 * MiB, 32 * MiB), 100 * MiB); /* deflates at once */
	CHECK_EQ(balloon_auto_next(100 * MiB, 400 * MiB, 32 * MiB), 132 * MiB); /* inflates by a step */
	CHECK_EQ(balloon_auto_next(390 * MiB, 400 * MiB, 32 * MiB), 400 * MiB); /* the last step is short */
	CHECK_EQ(balloon_auto_next(400 * MiB, 400 * MiB, 32 * MiB), 400 * MiB);
	return check_result("balloon_auto");
}
