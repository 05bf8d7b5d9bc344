/* The CMOS real-time clock Linux reads at boot (ports 0x70/0x71): the host's UTC time in
 * BCD, no alarms, no periodic interrupt. The other CMOS bytes are plain storage. */
#ifndef PAGODA_X86_RTC_H
#define PAGODA_X86_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct rtc {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t cmos[128];
};

void rtc_init(struct rtc *r);
void rtc_destroy(struct rtc *r);
void rtc_io(void *rtc, uint64_t offset, void *data, uint32_t len, bool is_write);

#endif
