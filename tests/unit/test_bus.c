#include "../../vmm/core/bus.h"
#include "check.h"

struct dev {
	uint64_t last_offset;
	uint32_t last_len;
	int writes, reads;
	uint8_t value;
};

static void dev_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
	struct dev *d = opaque;
	d->last_offset = offset;
	d->last_len = len;
	if (is_write) {
		d->writes++;
		d->value = *(uint8_t *)data;
	} else {
		d->reads++;
		memset(data, d->value, len);
	}
}

int main(void)
{
	struct bus b;
	struct dev a = { 0 }, c = { 0 }, z = { 0 };
	bus_init(&b);
	CHECK_EQ(bus_register(&b, 0x3f8, 8, dev_io, &a, "a"), 0);
	CHECK_EQ(bus_register(&b, 0x70, 2, dev_io, &c, "c"), 0);
	CHECK_EQ(bus_register(&b, 0x3f0, 8, dev_io, &z, "z"), 0);   /* touches a, no overlap */
	CHECK_EQ(bus_register(&b, 0x3ff, 1, dev_io, &z, "z"), -EEXIST);
	CHECK_EQ(bus_register(&b, 0x3f7, 2, dev_io, &z, "z"), -EEXIST);
	CHECK_EQ(bus_register(&b, 0x0, 0x1000, dev_io, &z, "z"), -EEXIST);
	CHECK_EQ(bus_register(&b, 0x500, 0, dev_io, &z, "z"), -EINVAL);
	CHECK_EQ(bus_register(&b, UINT64_MAX, 2, dev_io, &z, "z"), -EINVAL);

	uint8_t v = 0x41;
	CHECK(bus_access(&b, 0x3fb, &v, 1, true));
	CHECK_EQ(a.writes, 1);
	CHECK_EQ(a.last_offset, 3);
	uint32_t w = 0;
	CHECK(bus_access(&b, 0x71, &w, 1, false));
	CHECK_EQ(c.reads, 1);
	CHECK_EQ(c.last_offset, 1);
	/* nothing there: reads float high, writes vanish */
	w = 0;
	CHECK(!bus_access(&b, 0x80, &w, 4, false));
	CHECK_EQ(w, 0xffffffff);
	CHECK(!bus_access(&b, 0x80, &w, 4, true));
	/* an access running past its device's end is not delivered */
	w = 0;
	CHECK(!bus_access(&b, 0x71, &w, 2, false));
	CHECK_EQ(w & 0xffff, 0xffff);
	CHECK_EQ(c.reads, 1);
	CHECK(bus_find(&b, 0x3f0) && bus_find(&b, 0x3f0)->opaque == &z);
	CHECK(bus_find(&b, 0x3f8) && bus_find(&b, 0x3f8)->opaque == &a);
	CHECK(bus_find(&b, 0x400) == NULL);
	bus_destroy(&b);
	return check_result("bus");
}
