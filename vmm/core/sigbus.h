/* If the memory behind guest RAM fails anyway (a tmpfs that filled up, a file truncated
 * under us, a hugetlb pool drained by someone else), the VMM's own access dies of SIGBUS:
 * say so in words, with the guest address, instead of a bare "Bus error". */
#ifndef PAGODA_VMM_SIGBUS_H
#define PAGODA_VMM_SIGBUS_H

#include "../../mem/guest_mem.h"

/* Installs the handler for guest memory m (one VM per process). */
int sigbus_report_install(const struct guest_mem *m);

#endif
