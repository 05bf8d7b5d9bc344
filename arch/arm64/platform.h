/* pagoda's arm64 platform: where devices sit below RAM. Shared by the VMM and the tiny
 * arm64 test guests. Everything below 1 GiB is MMIO; RAM starts at 1 GiB so that stage 2
 * can map it with 1 GiB blocks from its first byte. */
#ifndef PAGODA_ARM64_PLATFORM_H
#define PAGODA_ARM64_PLATFORM_H

#define ARM64_RAM_GPA             0x40000000ULL
#define ARM64_MMIO_END            ARM64_RAM_GPA

#define ARM64_GIC_DIST_GPA        0x08000000ULL
#define ARM64_GIC_DIST_SIZE       0x10000ULL
#define ARM64_GIC_ITS_GPA         0x08080000ULL /* with --virtio-transport pci: MSI-X */
#define ARM64_GIC_ITS_SIZE        0x20000ULL    /* control and translation frames */
#define ARM64_GIC_REDIST_GPA      0x080a0000ULL
#define ARM64_GIC_REDIST_STRIDE   0x20000ULL  /* one redistributor (RD + SGI frames) per vCPU */
#define ARM64_MAX_CPUS            123         /* redistributors up to the UART */

#define ARM64_UART_GPA            0x09000000ULL /* a 16550A, byte registers */
#define ARM64_UART_SIZE           0x1000ULL
#define ARM64_UART_SPI            0             /* INTID 32 */
#define ARM64_UART_CLOCK          1843200

/* Test guests only (not in the device tree): the debug-exit register (a 32-bit write of v
 * ends the VM with (v << 1) | 1) and the harnesses' sync register. */
#define ARM64_DEBUG_EXIT_GPA      0x09010000ULL
#define ARM64_TEST_SYNC_GPA       0x09020000ULL

#define ARM64_VIRTIO_MMIO_GPA     0x0a000000ULL
#define ARM64_VIRTIO_MMIO_STRIDE  0x1000ULL
/* --virtio-transport pci: ECAM of bus 0 and the window BARs decode in (32-bit memory). */
#define ARM64_PCI_ECAM_GPA        0x30000000ULL
#define ARM64_PCI_ECAM_SIZE       0x100000ULL   /* bus 0 */
#define ARM64_PCI_MMIO_GPA        0x10000000ULL
#define ARM64_PCI_MMIO_SIZE       0x10000000ULL

/* GIC interrupt numbers as the device tree gives them. */
#define ARM64_GIC_SPI             0
#define ARM64_GIC_PPI             1
#define ARM64_IRQ_EDGE_RISING     1
#define ARM64_IRQ_LEVEL_HIGH      4
#define ARM64_IRQ_LEVEL_LOW       8
/* The architected timer's PPIs: secure, non-secure physical, virtual, hypervisor. */
#define ARM64_TIMER_PPI_SEC       13
#define ARM64_TIMER_PPI_PHYS      14
#define ARM64_TIMER_PPI_VIRT      11
#define ARM64_TIMER_PPI_HYP       10

#endif
