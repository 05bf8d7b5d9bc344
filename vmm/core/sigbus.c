#include "sigbus.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "terminal.h"

static const struct guest_mem *watched;

static void put(const char *s)
{
	ssize_t r = write(STDERR_FILENO, s, strlen(s));
	(void)r;
}

static void put_hex(uint64_t v)
{
	char buf[19] = "0x";
	for (int i = 0; i < 16; i++)
		buf[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
	buf[18] = 0;
	put(buf);
}

/* Async-signal-safe: only write(2), tcsetattr and arithmetic on data set up before. */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	const struct guest_mem *m = watched;
	uint64_t a = (uint64_t)(uintptr_t)si->si_addr;
	uint64_t base = m ? (uint64_t)(uintptr_t)m->base : 0;
	terminal_restore();
	if (m && a >= base && a - base < layout_ram_end(&m->layout)) {
		put("pagoda: SIGBUS: the backing of guest RAM could not supply the page at guest address ");
		put_hex(a - base);
		put(" (");
		put(m->backend.desc);
		put("): a full tmpfs, a truncated file or an exhausted hugetlb pool; exiting\n");
	} else {
		put("pagoda: SIGBUS at host address ");
		put_hex(a);
		put(", outside guest RAM\n");
	}
	raise(sig); /* SA_RESETHAND: the default action now, with no sigaction the filters forbid */
}

int sigbus_report_install(const struct guest_mem *m)
{
	watched = m;
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER };
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) ? -errno : 0;
}
