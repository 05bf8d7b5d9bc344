/* The smallest check: the guest runs, prints and powers off. */
#include "rt/rt.h"

int main(void)
{
	rt_printf("hello from a pagoda test guest\n");
	return 0;
}
