/* Per-thread seccomp filters (libseccomp), like Firecracker's: each kind of pagoda
 * thread allows only the system calls it makes, and ioctl only with the request numbers
 * it uses. A thread installs its own filter when it starts (threads it creates later
 * inherit it). A violation is reported with the system call's name and ends pagoda with
 * EXIT_SANDBOX, never a silent SIGSYS death; `log` mode lets it through and the kernel
 * logs it. */
#ifndef PAGODA_VMM_SANDBOX_H
#define PAGODA_VMM_SANDBOX_H

enum sandbox_mode { SANDBOX_ON, SANDBOX_LOG, SANDBOX_OFF };
/* SANDBOX_SETUP: the whole process, from before it reads a snapshot or a migration
 * stream (untrusted bytes) until its threads are running: everything any pagoda thread
 * may do, plus the KVM calls that set state. Each thread then stacks its own filter on
 * it, which can only take rights away. */
enum sandbox_thread { SANDBOX_VCPU, SANDBOX_IO, SANDBOX_MAIN, SANDBOX_SETUP };

/* Before sandbox_prepare, when the VM has a shared directory (--fs): device threads may
 * then work on files there (openat2 and the *at calls of a file server). */
void sandbox_allow_shared_files(void);
/* Before sandbox_prepare, when the VM may migrate over TCP (a control socket, or
 * --incoming tcp:): the main thread may then make IP sockets; else only unix ones. */
void sandbox_allow_ip_sockets(void);
/* Once, before any filter: the SIGSYS reporter and the table of syscall names it uses. */
int sandbox_prepare(enum sandbox_mode mode);
/* Installs the calling thread's filter. 0, or -errno. */
int sandbox_enter(enum sandbox_thread kind);
const char *sandbox_thread_name(enum sandbox_thread kind);

#endif
