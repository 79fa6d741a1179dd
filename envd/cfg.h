/*
 * cfg.h - command-line flags into struct envd_config.
 *
 * Flags follow Go's flag package, which upstream envd uses: "-name" and
 * "--name" are the same, values come as "-name=value" or "-name value",
 * booleans may be bare or "-name=true|false", and parsing stops at the first
 * non-flag argument or at "--". The config is read-only once the daemon runs.
 */
#ifndef ENVD_CFG_H
#define ENVD_CFG_H

#include <stdio.h>

#define CFG_DEFAULT_PORT 49983

struct envd_config {
	int port;		/* TCP port to listen on */
	int isnotfc;		/* not running in Firecracker: no MMDS */
	int version;		/* print the version and exit */
	int commit;		/* print the build commit and exit */
	int verbose;		/* debug logging */
	int help;		/* -h / -help was given */
	int no_cgroups;		/* accepted for compatibility */
	int resume_handover;	/* accepted for compatibility */
	char *cgroup_root;	/* accepted for compatibility; owned */
	char *forward_addr;	/* comma-separated forward addresses; owned */
	int no_port_forward;	/* do not forward loopback listeners */
	int forward_scan_ms;	/* loopback listener scan period */
};

/*
 * Parse argv into cfg (which is first set to the defaults). Returns 0 on
 * success. On a bad command line returns -EINVAL and writes Go's error text
 * and the usage to err. cfg owns its strings: release with cfg_free().
 */
int cfg_parse(struct envd_config *cfg, int argc, char **argv, FILE *err);

/* Print the usage text (Go's flag.PrintDefaults layout). */
void cfg_usage(FILE *out, const char *argv0);

void cfg_free(struct envd_config *cfg);

#endif
