/* The tiny guests' runtime parts that are the same on every architecture: printf on
 * rt_putc, the command line's parameters, a spin lock and the way a test ends. */
#include "common.h"

#include <stdarg.h>

static struct rt_lock print_lock;

static void put_str(const char *s)
{
	while (*s)
		rt_putc(*s++);
}

static void put_num(uint64_t v, unsigned int base, int width, char pad, bool neg)
{
	char buf[24];
	int n = 0;
	do {
		buf[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		buf[n++] = '-';
	for (int i = n; i < width; i++)
		rt_putc(pad);
	while (n)
		rt_putc(buf[--n]);
}

static void vprint(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			rt_putc(*fmt);
			continue;
		}
		char pad = ' ';
		int width = 0, longs = 0;
		if (*++fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z')
			longs++, fmt++;
		uint64_t u;
		int64_t s;
		switch (*fmt) {
		case 'd':
			s = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			put_num(s < 0 ? (uint64_t)-s : (uint64_t)s, 10, width, pad, s < 0);
			break;
		case 'u':
		case 'x':
			u = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
			put_num(u, *fmt == 'x' ? 16 : 10, width, pad, false);
			break;
		case 'p':
			put_str("0x");
			put_num((uint64_t)va_arg(ap, void *), 16, width, pad, false);
			break;
		case 's': put_str(va_arg(ap, const char *)); break;
		case 'c': rt_putc((char)va_arg(ap, int)); break;
		case '%': rt_putc('%'); break;
		default: rt_putc('?'); break;
		}
	}
}

void rt_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_lock(&print_lock);
	vprint(fmt, ap);
	rt_unlock(&print_lock);
	va_end(ap);
}

void rt_finish(int status)
{
	if (status == 0)
		rt_poweroff();
	rt_printf("FAIL: status %d\n", status);
	rt_exit((unsigned int)status);
}

const char *rt_param(const char *name)
{
	const char *p = rt_cmdline();
	while (*p) {
		while (*p == ' ')
			p++;
		const char *n = name, *q = p;
		while (*n && *q == *n)
			n++, q++;
		if (!*n && *q == '=')
			return q + 1;
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

uint64_t rt_param_u64(const char *name, uint64_t fallback)
{
	const char *v = rt_param(name);
	if (!v || *v < '0' || *v > '9')
		return fallback;
	uint64_t r = 0;
	while (*v >= '0' && *v <= '9')
		r = r * 10 + (uint64_t)(*v++ - '0');
	return r;
}

void rt_lock(struct rt_lock *l)
{
	while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
		while (l->v)
			cpu_relax();
}

void rt_unlock(struct rt_lock *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}
