#include "cli_devices.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "../../util/err.h"
#include "../../util/sizes.h"
#include "../../virtio/virtiofs.h"

int cli_parse_disk(char *arg, struct machine_config *m, char *err, size_t errlen)
{
	struct blk_options *d = &m->disks[m->nr_disks];
	*d = (struct blk_options){ .path = arg };
	char *opt = arg;
	strsep(&opt, ","); /* arg: the path alone; opt: the options after it, or NULL */
	if (!*arg)
		return err_set(err, errlen, -1, "--disk needs an image path: --disk PATH[,ro][,cache=none][,io=sync]");
	for (char *o; (o = strsep(&opt, ",")) && *o;) {
		if (!strcmp(o, "ro"))
			d->read_only = true;
		else if (!strcmp(o, "cache=none"))
			d->direct = true;
		else if (!strcmp(o, "io=sync"))
			d->sync_io = true;
		else if (strcmp(o, "cache=writeback") && strcmp(o, "io=uring"))
			return err_set(err, errlen, -1, "--disk %s: unknown option '%s': use ro, cache=none or io=sync", arg, o);
	}
	m->nr_disks++;
	return 0;
}

int cli_parse_fs(char *arg, struct machine_config *m, char *err, size_t errlen)
{
	struct fs_options *f = &m->fs[m->nr_fs];
	*f = (struct fs_options){ .path = arg, .tag = "pagoda" };
	char *opt = arg;
	strsep(&opt, ","); /* arg: the path alone; opt: the options after it, or NULL */
	if (!*arg)
		return err_set(err, errlen, -1, "--fs needs a directory: --fs PATH[,tag=TAG][,ro][,proto=9p|virtiofs]");
	for (char *o; (o = strsep(&opt, ",")) && *o;) {
		if (!strcmp(o, "ro"))
			f->read_only = true;
		else if (!strncmp(o, "tag=", 4) && o[4] && strlen(o + 4) < P9_TAG_MAX)
			f->tag = o + 4;
		else if (!strcmp(o, "proto=9p") || !strcmp(o, "proto=virtiofs"))
			f->proto = o[6] == '9' ? FS_9P : FS_VIRTIOFS;
		else
			return err_set(err, errlen, -1,
				       "--fs %s: bad option '%s': use tag=TAG (1 to %d bytes), ro or proto=9p|virtiofs", arg,
				       o, P9_TAG_MAX - 1);
	}
	if (f->proto == FS_VIRTIOFS && strlen(f->tag) > VIRTIOFS_TAG_MAX)
		return err_set(err, errlen, -1, "--fs %s: tag '%s' is longer than virtio-fs's %d bytes: give a shorter tag=", arg,
			       f->tag, VIRTIOFS_TAG_MAX);
	for (unsigned int i = 0; i < m->nr_fs; i++)
		if (m->fs[i].proto == f->proto && !strcmp(m->fs[i].tag, f->tag))
			return err_set(err, errlen, -1, "--fs %s: tag '%s' is taken by --fs %s: give tag=OTHER", arg, f->tag,
				       m->fs[i].path);
	m->nr_fs++;
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6 ||
	    strlen(s) != 17 || (b[0] & 1))
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

int cli_parse_net(char *arg, struct machine_config *m, char *err, size_t errlen)
{
	if (m->net_tap)
		return err_set(err, errlen, -1, "--net given twice: pagoda has one network device");
	char *mac = strstr(arg, ",mac=");
	if (mac) {
		*mac = 0;
		mac += 5;
		if (parse_mac(mac, m->net_mac))
			return err_set(err, errlen, -1, "--net mac=%s is not a unicast MAC address: use six hex bytes, e.g. mac=52:54:00:12:34:56", mac);
		m->net_mac_set = true;
	}
	if (strncmp(arg, "tap=", 4) || !arg[4] || strlen(arg + 4) >= 16 || strchr(arg + 4, ','))
		return err_set(err, errlen, -1, "--net '%s' is not a tap device: use --net tap=NAME[,mac=...] (NAME: up to 15 characters)", arg);
	m->net_tap = arg + 4;
	return 0;
}

/* SIZE or auto first (optional), then stats=SECONDS, report and (auto) margin=SIZE in any
 * order. */
int cli_parse_balloon(char *arg, struct machine_config *m, char *err, size_t errlen)
{
	m->balloon = true;
	char *rest = arg;
	for (char *tok; (tok = strsep(&rest, ",")) && *tok;) {
		if (tok == arg && !strcmp(tok, "auto")) {
			m->balloon_auto = true;
		} else if (!strncmp(tok, "margin=", 7)) {
			if (!m->balloon_auto || size_parse(tok + 7, &m->balloon_auto_margin) ||
			    !m->balloon_auto_margin || m->balloon_auto_margin % 4096)
				return err_set(err, errlen, -1, "--balloon %s: margin= goes with auto and is a size, e.g. --balloon=auto,margin=128M", tok);
		} else if (!strncmp(tok, "stats=", 6)) {
			if (cli_parse_seconds(tok + 6, &m->balloon_stats_s))
				return err_set(err, errlen, -1, "--balloon stats=%s is not an interval: give seconds greater than 0, e.g. stats=1", tok + 6);
		} else if (!strcmp(tok, "report")) {
			m->balloon_report = true;
		} else if (tok != arg || size_parse(tok, &m->balloon_size) || m->balloon_size % 4096) {
			return err_set(err, errlen, -1, "--balloon: '%s' is not a size, auto, stats=SECONDS or report: e.g. --balloon=64M,stats=1,report", tok);
		}
	}
	return 0;
}
