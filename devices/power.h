/* How a platform device ends the VM without knowing about struct vm. */
#ifndef PAGODA_DEVICES_POWER_H
#define PAGODA_DEVICES_POWER_H

struct power_sink {
	void (*end)(void *ctx, int exit_code, const char *why);
	void *ctx;
};

#endif
