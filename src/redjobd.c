/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redjobd: the job daemon. "redjobd -c FILE" runs in the foreground
 * (systemd style); "redjobd -t -c FILE" only validates FILE.
 */
#include "autoconf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "proctitle.h"
#include "supervisor.h"

#define REDJOBD_DEFAULT_CONFIG SYSCONFDIR "/redjob/redjob.yml"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: redjobd [-t] [-d] [-c FILE] [--allow-root]\n"
	    "  -c FILE   the configuration (default %s)\n"
	    "  -t        only check the configuration: exit 0 if valid, else\n"
	    "            print FILE:LINE:COL: message lines and exit 1\n"
	    "  -d        log at debug level\n"
	    "  -V        print the version\n"
	    "  --allow-root  run as root all the same (handlers too)\n"
	    "Signals: TERM/INT stop gracefully, HUP reloads FILE.\n"
	    "See redjobd(8) and redjob.yml(5).\n", REDJOBD_DEFAULT_CONFIG);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "debug", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "allow-root", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = REDJOBD_DEFAULT_CONFIG;
	struct diags d = { NULL, 0 };
	struct config *cfg;
	int ch, test = 0, debug = 0, allow_root = 0;

	proctitle_init(argc, argv);
	while ((ch = getopt_long(argc, argv, "c:tdVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'd':
			debug = 1;
			break;
		case 'V':
			printf("redjobd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'R':
			allow_root = 1;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("redjobd");
	cfg = config_load(path, &d);
	if (cfg == NULL || test) {
		diags_print(&d, stderr);
		diags_free(&d);
		if (cfg == NULL)
			return 1;
		fprintf(stderr, "%s: configuration is valid\n", path);
		config_free(cfg);
		return 0;
	}
	/*
	 * Every handler would run as root too, and a job's payload comes
	 * from whoever may enqueue. Checked after -t, which starts nothing.
	 */
	if (geteuid() == 0 && !allow_root) {
		diags_free(&d);
		config_free(cfg);
		fprintf(stderr, "redjobd: refusing to run as root: every job "
		    "handler would run as root too. Run it as an unprivileged "
		    "user: User=redjob in its systemd unit (the shipped "
		    "redjobd.service does this), or a dedicated user "
		    "(useradd --system redjob; runuser -u redjob -- redjobd "
		    "-c FILE). --allow-root runs it as root all the same.\n");
		return 1;
	}
	diags_print(&d, stderr);	/* warnings */
	diags_free(&d);
	log_set_level(debug ? LOG_LEVEL_DEBUG : cfg->log_level);
	return supervisor_main(path, cfg, debug);
}
