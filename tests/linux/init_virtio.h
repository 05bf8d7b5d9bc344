/* init's "virtio" action: checks every virtio device pagoda gave the guest. Returns the
 * number of checks that failed. */
#ifndef PAGODA_LINUX_INIT_VIRTIO_H
#define PAGODA_LINUX_INIT_VIRTIO_H

int virtio_checks(void);
/* init's "report" action: fills and frees memory for the free page reporting test. */
int report_check(void);
/* init's "load" action: idle, a growing load, idle again, for --balloon auto. */
int load_check(void);

#endif
