/* Where pagoda puts boot data in low guest memory on x86. Shared by the VMM and the
 * tiny test guests (which read the MP table and use the same ports). */
#ifndef PAGODA_X86_BOOT_LAYOUT_H
#define PAGODA_X86_BOOT_LAYOUT_H

#define BOOT_GDT_GPA         0x500ULL
#define BOOT_PML4_GPA        0x1000ULL
#define BOOT_PDPT_GPA        0x2000ULL
#define BOOT_PVH_INFO_GPA    0x6000ULL   /* hvm_start_info, modlist, memmap */
#define BOOT_PARAMS_GPA      0x7000ULL   /* Linux zero page */
#define BOOT_STACK_TOP       0x1fff0ULL
#define BOOT_CMDLINE_GPA     0x20000ULL
#define BOOT_CMDLINE_MAX     0x10000ULL
#define BOOT_PD_GPA          0x30000ULL  /* page directories of the identity map */
#define BOOT_PD_PAGES        96          /* 2 MiB pages: 96 GiB identity-mapped at most */
#define BOOT_EBDA_GPA        0x9fc00ULL
#define BOOT_BIOS_GPA        0xe0000ULL  /* reserved to the end of the first MiB */
#define BOOT_ACPI_GPA        0xe0000ULL
#define BOOT_MPTABLE_GPA     0xf0000ULL
#define BOOT_HIGH_GPA        0x100000ULL /* kernels and test guests load here */

/* virtio-mmio windows, one per STRIDE from the start of the MMIO hole (tiny guests scan
 * them for the magic value; Linux is told on its command line). */
#define VIRTIO_MMIO_GPA      0xc0000000ULL
#define VIRTIO_MMIO_STRIDE   0x1000ULL

/* PCI (--virtio-transport pci): BARs decode in a 256 MiB window, config space is ECAM
 * for bus 0 (reserved in the e820 map, so Linux trusts MCFG's word for it). */
#define PCI_MMIO_GPA         0xd0000000ULL
#define PCI_MMIO_SIZE        0x10000000ULL
#define PCI_ECAM_GPA         0xe0000000ULL

#define LAPIC_GPA            0xfee00000ULL
#define IOAPIC_GPA           0xfec00000ULL

/* Ports of pagoda's platform. */
#define PORT_DEBUG_EXIT      0x501       /* as QEMU's isa-debug-exit */
#define PORT_TEST_SYNC       0x520       /* test harnesses only: a guest's sync point */
#define PORT_ACPI_PM1_EVT    0x600       /* FADT PM1a_EVT_BLK: status, enable (2 + 2 bytes) */
#define PORT_ACPI_PM1_CNT    0x604       /* FADT PM1a_CNT_BLK (2 bytes) */
#define ACPI_PM1_CNT_SCI_EN  0x0001      /* reads as set: always in ACPI mode */
#define ACPI_PM1_CNT_SLP_EN  0x2000
#define ACPI_PM1_CNT_TYP_SHIFT 10
#define ACPI_SLEEP_TYP_S5    5
#define ACPI_SCI_IRQ         9

#endif
