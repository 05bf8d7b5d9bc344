/* init's "fs" and "fs-ro" actions: the shared directory pagoda gives the guest (--fs,
 * tag "pagoda"), mounted over virtio-9p and used as a program would. Return the number
 * of checks that failed. */
#ifndef PAGODA_LINUX_INIT_FS_H
#define PAGODA_LINUX_INIT_FS_H

int fs_checks(void);
int fs_ro_checks(void);

#endif
