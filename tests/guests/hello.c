/* The smallest check: the guest runs, prints and powers off. */
#include "rt.h" /* the architecture's runtime (rt/ or arm64/) */

int main(void)
{
	rt_printf("hello from a pagoda test guest\n");
	return 0;
}
