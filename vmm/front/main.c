#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "exec.h"
#include "run.h"
#include "../core/vm.h"

static const char usage[] =
	"usage: pagoda COMMAND [options]\n"
	"\n"
	"commands:\n"
	"  run       boot a VM (pagoda run --help)\n"
	"  exec      run one command in a VM booted on a host directory (pagoda exec --help)\n"
	"  restore   resume a snapshot: pagoda restore DIR [run options]\n"
	"  ctl       talk to a running VM's control socket (pagoda ctl --help)\n"
	"  version   print the version\n"
	"  help      this text\n";

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_SETUP : 0;
	}
	if (!strcmp(argv[1], "run"))
		return run_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "exec"))
		return exec_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "restore"))
		return restore_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ctl"))
		return ctl_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("pagoda %s\n", PAGODA_VERSION);
		return 0;
	}
	fprintf(stderr, "pagoda: unknown command '%s': see pagoda help\n", argv[1]);
	return EXIT_SETUP;
}
