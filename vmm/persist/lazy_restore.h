/* --restore-memory lazy: the restored guest runs at once; a page of its memory is read
 * from the snapshot when something first touches it (mem/uffd_fill.h), while a thread
 * reads the rest in order. Works for a diff chain (each page from the newest snapshot
 * that holds it) and for every backing userfaultfd can fill, hugetlb included. Unlike
 * map, the guest's memory ends in its own backing and the snapshot can go once
 * "all memory in place" is printed.
 *
 * The snapshot's files are checked before the guest runs (sizes, the diffs' page maps);
 * a read that fails later (the file cut under us) ends the VM with EXIT_MEMORY_LOST. */
#ifndef PAGODA_VMM_LAZY_RESTORE_H
#define PAGODA_VMM_LAZY_RESTORE_H

#include "../core/machine.h"

struct lazy_restore;

/* Before the state is restored (restoring may touch memory): opens the chain, registers
 * guest RAM and starts both threads. */
int lazy_restore_begin(struct lazy_restore **out, struct machine *m, const char *dir, char *err, size_t errlen);
/* Stops the threads if memory is still coming (the VM ends), prints what was read, frees.
 * Safe with NULL. */
void lazy_restore_finish(struct lazy_restore *l);

#endif
