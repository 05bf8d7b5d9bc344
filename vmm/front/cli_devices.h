/* The device options of `pagoda run` (vmm/front/cli.h): each value, split in place, into
 * the machine's configuration; -1 with a one-line message in err that names the value
 * and the fix. The caller checks the device count. */
#ifndef PAGODA_VMM_CLI_DEVICES_H
#define PAGODA_VMM_CLI_DEVICES_H

#include <stddef.h>

#include "../core/machine_config.h"

/* --disk PATH[,ro][,cache=none][,io=sync] */
int cli_parse_disk(char *arg, struct machine_config *m, char *err, size_t errlen);
/* --fs PATH[,tag=TAG][,ro][,proto=9p|virtiofs] */
int cli_parse_fs(char *arg, struct machine_config *m, char *err, size_t errlen);
/* --net tap=NAME[,mac=MAC] */
int cli_parse_net(char *arg, struct machine_config *m, char *err, size_t errlen);
/* --balloon [SIZE|auto][,stats=SECONDS][,report][,margin=SIZE] */
int cli_parse_balloon(char *arg, struct machine_config *m, char *err, size_t errlen);

#endif
