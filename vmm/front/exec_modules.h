/* The kernel modules pagoda exec puts in its initramfs for a modular kernel (a
 * distribution's: Debian's cloud kernel builds virtio_pci, virtiofs and overlay as
 * modules), the way virtme-ng does: from the kernel's module tree, the ones exec needs
 * that the kernel does not have built in, each after what it depends on. exec's init
 * loads them in their order before it mounts the root. */
#ifndef PAGODA_VMM_EXEC_MODULES_H
#define PAGODA_VMM_EXEC_MODULES_H

#include <stddef.h>

#include "../../util/cpio.h"

#define EXEC_MODULES_DIR "lib/pagoda-modules" /* in the initramfs: NN-name.ko... */

/* Adds the modules of tree dir (/lib/modules/VERSION: its modules.dep names them) that
 * exec needs: virtio's PCI and MMIO transports, virtio-fs, 9P over virtio, overlayfs.
 * Those the tree does not have are built in or absent; the guest's init says which
 * mount failed. The number added, or -errno with a one-line message in err. */
int exec_add_modules(struct cpio *c, const char *dir, char *err, size_t errlen);

/* The module tree of a kernel installed as .../vmlinuz-VERSION: /lib/modules/VERSION,
 * when it exists; else NULL. */
const char *exec_guess_modules(const char *kernel, char *buf, size_t len);

#endif
