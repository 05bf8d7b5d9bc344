/* The CMOS real-time clock Linux reads at boot (ports 0x70/0x71): the host's UTC time in
 * BCD, no alarms, no periodic interrupt. The other CMOS bytes are plain storage. */
#ifndef PAGODA_X86_RTC_H
#define PAGODA_X86_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define RTC_CMOS_BYTES 128

struct rtc {
	pthread_mutex_t lock;
	uint8_t index;             /* always < RTC_CMOS_BYTES: it indexes cmos[] */
	uint8_t cmos[RTC_CMOS_BYTES];
};

/* What snapshots and migration carry, byte for byte (the record format). */
struct rtc_state {
	uint8_t index;
	uint8_t cmos[RTC_CMOS_BYTES];
};

void rtc_init(struct rtc *r);
void rtc_destroy(struct rtc *r);
void rtc_io(void *rtc, uint64_t offset, void *data, uint32_t len, bool is_write);
void rtc_save(struct rtc *r, struct rtc_state *st);
/* A state from a file or a peer: an index past the CMOS is refused (-EINVAL), since
 * every later guest access would go through it. */
int rtc_restore(struct rtc *r, const struct rtc_state *st);

#endif
