#include "rtc.h"

#include <errno.h>
#include <string.h>
#include <time.h>

enum {
	RTC_SEC = 0x00, RTC_MIN = 0x02, RTC_HOUR = 0x04, RTC_WDAY = 0x06, RTC_MDAY = 0x07,
	RTC_MON = 0x08, RTC_YEAR = 0x09, RTC_REG_A = 0x0a, RTC_REG_B = 0x0b, RTC_REG_C = 0x0c,
	RTC_REG_D = 0x0d, RTC_CENTURY = 0x32,
};
#define REG_B_24H 0x02
#define REG_D_VRT 0x80 /* valid RAM and time */

void rtc_init(struct rtc *r)
{
	/* glibc's first gmtime_r loads the time zone (opens /etc/localtime); later calls do
	 * not. Load it here, before the vCPU threads' sandbox, which forbids opening files:
	 * else the guest's first clock read stopped the VM. */
	tzset();
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->cmos[RTC_REG_A] = 0x26; /* 32.768 kHz base, 1024 Hz rate; UIP never set */
	r->cmos[RTC_REG_B] = REG_B_24H; /* BCD, 24-hour */
	r->cmos[RTC_REG_D] = REG_D_VRT;
}

void rtc_destroy(struct rtc *r)
{
	pthread_mutex_destroy(&r->lock);
}

static uint8_t bcd(int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static uint8_t time_reg(uint8_t idx)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	switch (idx) {
	case RTC_SEC: return bcd(tm.tm_sec);
	case RTC_MIN: return bcd(tm.tm_min);
	case RTC_HOUR: return bcd(tm.tm_hour);
	case RTC_WDAY: return bcd(tm.tm_wday + 1);
	case RTC_MDAY: return bcd(tm.tm_mday);
	case RTC_MON: return bcd(tm.tm_mon + 1);
	case RTC_YEAR: return bcd(tm.tm_year % 100);
	case RTC_CENTURY: return bcd((tm.tm_year + 1900) / 100);
	}
	return 0;
}

static bool is_time_reg(uint8_t idx)
{
	return idx <= RTC_YEAR || idx == RTC_CENTURY;
}

void rtc_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
	struct rtc *r = opaque;
	uint8_t *d = data;
	if (len != 1) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&r->lock);
	if (offset == 0) {
		if (is_write)
			r->index = d[0] & 0x7f; /* bit 7 masks NMIs: nothing to mask here */
		else
			d[0] = r->index;
	} else if (is_write) {
		if (r->index != RTC_REG_C && r->index != RTC_REG_D && !is_time_reg(r->index))
			r->cmos[r->index] = d[0];
	} else {
		d[0] = is_time_reg(r->index) ? time_reg(r->index) : r->cmos[r->index];
	}
	pthread_mutex_unlock(&r->lock);
}

void rtc_save(struct rtc *r, struct rtc_state *st)
{
	pthread_mutex_lock(&r->lock);
	st->index = r->index;
	memcpy(st->cmos, r->cmos, sizeof(st->cmos));
	pthread_mutex_unlock(&r->lock);
}

int rtc_restore(struct rtc *r, const struct rtc_state *st)
{
	if (st->index >= RTC_CMOS_BYTES)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	r->index = st->index;
	memcpy(r->cmos, st->cmos, sizeof(r->cmos));
	pthread_mutex_unlock(&r->lock);
	return 0;
}
