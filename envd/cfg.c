/*
 * cfg.c - command-line flags with Go flag package syntax.
 *
 * Only the syntax is Go's; the table below is the whole set of flags the
 * daemon knows. Unknown flags are a usage error (exit status 2 in main).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "xalloc.h"

enum cfg_kind {
	CFG_BOOL,
	CFG_INT,
	CFG_STRING,
};

struct cfg_flag {
	const char *name;
	enum cfg_kind kind;
	size_t offset;		/* of the field in struct envd_config */
	const char *usage;
	const char *defval;	/* shown in the usage text, or NULL */
};

#define CFG_FIELD(f) offsetof(struct envd_config, f)

static const struct cfg_flag cfg_flags[] = {
	{ "cgroup-root", CFG_STRING, CFG_FIELD(cgroup_root),
	  "cgroup root directory", "/sys/fs/cgroup" },
	{ "commit", CFG_BOOL, CFG_FIELD(commit),
	  "print envd source commit", NULL },
	{ "forward-addr", CFG_STRING, CFG_FIELD(forward_addr),
	  "comma-separated addresses to forward loopback listeners to "
	  "(default 169.254.0.21, with -isnotfc the interface addresses)",
	  NULL },
	{ "forward-scan-ms", CFG_INT, CFG_FIELD(forward_scan_ms),
	  "milliseconds between scans for loopback listeners", "1000" },
	{ "isnotfc", CFG_BOOL, CFG_FIELD(isnotfc),
	  "isNotFCmode prints all logs to stdout", NULL },
	{ "no-cgroups", CFG_BOOL, CFG_FIELD(no_cgroups),
	  "disable cgroups", NULL },
	{ "no-port-forward", CFG_BOOL, CFG_FIELD(no_port_forward),
	  "do not forward loopback listeners", NULL },
	{ "port", CFG_INT, CFG_FIELD(port),
	  "a port on which the daemon should run", "49983" },
	{ "resume-handover", CFG_BOOL, CFG_FIELD(resume_handover),
	  "internal: resume from a handover", NULL },
	{ "verbose", CFG_BOOL, CFG_FIELD(verbose),
	  "also log debug lines", NULL },
	{ "version", CFG_BOOL, CFG_FIELD(version),
	  "print envd version", NULL },
};

static const struct cfg_flag *cfg_find(const char *, size_t);
static int cfg_parse_bool(const char *, int *);
static int cfg_parse_int(const char *, int *);
static int cfg_set(struct envd_config *, const struct cfg_flag *,
    const char *, FILE *, const char *);

/* Look a flag up by name (name need not be NUL-terminated). */
static const struct cfg_flag *
cfg_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(cfg_flags) / sizeof(cfg_flags[0]); i++) {
		if (strlen(cfg_flags[i].name) == len &&
		    strncmp(cfg_flags[i].name, name, len) == 0)
			return &cfg_flags[i];
	}
	return NULL;
}

/* strconv.ParseBool. */
static int
cfg_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true",
	    "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false",
	    "False" };
	size_t i;

	for (i = 0; i < 6; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -EINVAL;
}

/* strconv.ParseInt(s, 0, 64) limited to int: decimal, 0x, 0o, 0 and 0b. */
static int
cfg_parse_int(const char *s, int *out)
{
	const char *p = s;
	int base = 10, neg = 0;
	char *end;
	uintmax_t v;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
		base = 2;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
		base = 8;
		p += 2;
	} else if (p[0] == '0' && p[1] != '\0') {
		base = 8;
		p++;
	}
	if (*p == '\0' || *p == '+' || *p == '-' || *p == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoumax(p, &end, base);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v > (uintmax_t)INT32_MAX + (neg ? 1 : 0))
		return -ERANGE;
	*out = neg ? (int)-(intmax_t)v : (int)v;
	return 0;
}

/* Store value into the field of flag f. */
static int
cfg_set(struct envd_config *cfg, const struct cfg_flag *f, const char *value,
    FILE *err, const char *argv0)
{
	void *field = (char *)cfg + f->offset;
	int r;

	switch (f->kind) {
	case CFG_BOOL:
		if (cfg_parse_bool(value, field) != 0) {
			fprintf(err, "invalid boolean value \"%s\" for -%s: "
			    "parse error\n", value, f->name);
			goto bad;
		}
		return 0;
	case CFG_INT:
		if ((r = cfg_parse_int(value, field)) != 0) {
			fprintf(err, "invalid value \"%s\" for flag -%s: %s\n",
			    value, f->name, r == -ERANGE ? "value out of range"
			    : "parse error");
			goto bad;
		}
		return 0;
	case CFG_STRING:
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	}
bad:
	cfg_usage(err, argv0);
	return -EINVAL;
}

int
cfg_parse(struct envd_config *cfg, int argc, char **argv, FILE *err)
{
	const struct cfg_flag *f;
	const char *arg, *name, *eq, *argv0;
	size_t len;
	int i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->port = CFG_DEFAULT_PORT;
	cfg->cgroup_root = xstrdup("/sys/fs/cgroup");
	cfg->forward_scan_ms = 1000;
	argv0 = argc > 0 ? argv[0] : "envd";

	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (arg[0] != '-' || arg[1] == '\0')
			break;		/* first non-flag argument */
		name = arg + 1;
		if (name[0] == '-') {
			name++;
			if (name[0] == '\0') {
				i++;	/* "--" ends the flags */
				break;
			}
		}
		if (name[0] == '-' || name[0] == '=') {
			fprintf(err, "bad flag syntax: %s\n", arg);
			cfg_usage(err, argv0);
			return -EINVAL;
		}
		eq = strchr(name, '=');
		len = eq != NULL ? (size_t)(eq - name) : strlen(name);
		if ((f = cfg_find(name, len)) == NULL) {
			if ((len == 1 && name[0] == 'h') ||
			    (len == 4 && strncmp(name, "help", 4) == 0)) {
				cfg->help = 1;
				cfg_usage(err, argv0);
				return 0;
			}
			fprintf(err, "flag provided but not defined: -%.*s\n",
			    (int)len, name);
			cfg_usage(err, argv0);
			return -EINVAL;
		}
		if (eq != NULL) {
			if (cfg_set(cfg, f, eq + 1, err, argv0) != 0)
				return -EINVAL;
		} else if (f->kind == CFG_BOOL) {
			*(int *)((char *)cfg + f->offset) = 1;
		} else {
			if (i + 1 >= argc) {
				fprintf(err, "flag needs an argument: -%s\n",
				    f->name);
				cfg_usage(err, argv0);
				return -EINVAL;
			}
			if (cfg_set(cfg, f, argv[++i], err, argv0) != 0)
				return -EINVAL;
		}
	}
	return 0;
}

void
cfg_usage(FILE *out, const char *argv0)
{
	size_t i;
	const struct cfg_flag *f;

	fprintf(out, "Usage of %s:\n", argv0);
	for (i = 0; i < sizeof(cfg_flags) / sizeof(cfg_flags[0]); i++) {
		f = &cfg_flags[i];
		fprintf(out, "  -%s%s\n    \t%s", f->name,
		    f->kind == CFG_INT ? " int" : f->kind == CFG_STRING ?
		    " string" : "", f->usage);
		if (f->defval != NULL)
			fprintf(out, f->kind == CFG_STRING ?
			    " (default \"%s\")" : " (default %s)", f->defval);
		fputc('\n', out);
	}
}

void
cfg_free(struct envd_config *cfg)
{
	free(cfg->cgroup_root);
	cfg->cgroup_root = NULL;
	free(cfg->forward_addr);
	cfg->forward_addr = NULL;
}
