/*
 * cgroup.c - create the workload cgroups and answer questions about them.
 *
 * Properties are written with O_WRONLY|O_TRUNC and never created: a
 * controller that the parent has not enabled simply has no file, which is
 * skipped (as upstream does) rather than failing the whole manager.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cgroup.h"
#include "errtext.h"
#include "log.h"
#include "xalloc.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#define CGROUP_MIB ((uint64_t)1024 * 1024)
#define CGROUP_PROBE_MAX 64	/* path components checked by the probe */

struct cgroup_prop {
	const char *file;
	const char *value;	/* NULL: memoryMax */
};

static const char *const cgroup_names[CGROUP_NGROUPS] = {
	"user", "ptys", "socats",
};

/* Settings of firecracker.md §7, per group. */
static const struct cgroup_prop cgroup_props[CGROUP_NGROUPS][4] = {
	{ { "cpu.weight", "50" }, { "io.weight", "default 10" },
	  { "memory.high", NULL }, { "memory.max", NULL } },
	{ { "cpu.weight", "200" }, { "io.weight", "default 50" },
	  { "memory.high", NULL }, { "memory.max", NULL } },
	{ { "cpu.weight", "150" }, { "io.weight", "default 50" },
	  { "memory.min", "5242880" }, { "memory.low", "8388608" } },
};

static char *cgroup_rootdir;			/* NULL: no manager */
static char *cgroup_dirs[CGROUP_NGROUPS];
static int cgroup_fds[CGROUP_NGROUPS] = { -1, -1, -1 };
static int cgroup_barrier_up;

static int cgroup_write_file(const char *, const char *, const char *);
static int cgroup_read_small(const char *, const char *, char *, size_t);
static int cgroup_setup(enum cgroup_group, const char *);

uint64_t
cgroup_memory_max(uint64_t mem_total)
{
	uint64_t reserve = mem_total / 8;

	if (reserve > 128 * CGROUP_MIB)
		reserve = 128 * CGROUP_MIB;
	return mem_total - reserve;
}

/* Write value to dir/file (which must exist). Returns 0 or -errno. */
static int
cgroup_write_file(const char *dir, const char *file, const char *value)
{
	char path[4096];
	size_t len = strlen(value);
	ssize_t n;
	int fd, r = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	if ((fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)) < 0)
		return -errno;
	do {
		n = write(fd, value, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		r = -errno;
	else if ((size_t)n != len)
		r = -EIO;
	close(fd);
	return r;
}

/* Read up to outsz - 1 bytes of dir/file into out (NUL-terminated). */
static int
cgroup_read_small(const char *dir, const char *file, char *out, size_t outsz)
{
	char path[4096];
	ssize_t n;
	int fd, r = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	do {
		n = read(fd, out, outsz - 1);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		r = -errno;
		n = 0;
	}
	out[n] = '\0';
	close(fd);
	return r;
}

int
cgroup_write_freeze(const char *dir, int on)
{
	return cgroup_write_file(dir, "cgroup.freeze", on ? "1" : "0");
}

int
cgroup_read_freeze(const char *dir)
{
	char v[16];
	int r;

	if ((r = cgroup_read_small(dir, "cgroup.freeze", v, sizeof(v))) < 0)
		return r;
	return v[0] == '1';
}

int
cgroup_read_frozen(const char *dir)
{
	char v[512], *p;
	int r;

	if ((r = cgroup_read_small(dir, "cgroup.events", v, sizeof(v))) < 0)
		return r;
	for (p = v; p != NULL && *p != '\0'; p = strchr(p, '\n'),
	    p = p != NULL ? p + 1 : NULL)
		if (strncmp(p, "frozen ", 7) == 0)
			return p[7] == '1';
	return -ENODATA;
}

/* mkdir the group, write its properties, keep the directory open. */
static int
cgroup_setup(enum cgroup_group g, const char *mem_max)
{
	const struct cgroup_prop *p;
	char *dir;
	int i, r;

	dir = xasprintf("%s/%s", cgroup_rootdir, cgroup_names[g]);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		r = -errno;
		log_error("cgroup %s: mkdir: %s", dir, errtext(-r));
		goto fail;
	}
	for (i = 0; i < 4; i++) {
		p = &cgroup_props[g][i];
		r = cgroup_write_file(dir, p->file,
		    p->value != NULL ? p->value : mem_max);
		if (r == -ENOENT || r == -EACCES || r == -EPERM) {
			log_debug("cgroup %s: %s skipped: %s", dir, p->file,
			    errtext(-r));
			continue;
		}
		if (r != 0) {
			log_error("cgroup %s: %s: %s", dir, p->file,
			    errtext(-r));
			goto fail;
		}
	}
	if ((cgroup_fds[g] = open(dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0) {
		r = -errno;
		log_error("cgroup %s: open: %s", dir, errtext(-r));
		goto fail;
	}
	if (cgroup_fds[g] <= 2) {
		/* spawn.h takes 0 for "no cgroup": keep clear of stdio. */
		int nfd = fcntl(cgroup_fds[g], F_DUPFD_CLOEXEC, 3);

		close(cgroup_fds[g]);
		if ((cgroup_fds[g] = nfd) < 0) {
			r = -errno;
			goto fail;
		}
	}
	cgroup_dirs[g] = dir;
	return 0;
fail:
	free(dir);
	return r;
}

int
cgroup_init(const char *root, int disabled)
{
	struct sysinfo si;
	struct statfs sf;
	char mem_max[32];
	uint64_t total;
	int g;

	cgroup_free();
	if (disabled)
		return 0;
	if (statfs(root, &sf) != 0 || sf.f_type != CGROUP2_SUPER_MAGIC) {
		log_warn("%s is not a cgroup2 mount: falling back to no-op "
		    "cgroup manager", root);
		return 0;
	}
	if (sysinfo(&si) != 0)
		total = 0;
	else
		total = (uint64_t)si.totalram * si.mem_unit;
	snprintf(mem_max, sizeof(mem_max), "%" PRIu64,
	    cgroup_memory_max(total));
	cgroup_rootdir = xstrdup(root);
	for (g = 0; g < CGROUP_NGROUPS; g++) {
		if (cgroup_setup((enum cgroup_group)g, mem_max) != 0) {
			log_warn("falling back to no-op cgroup manager");
			cgroup_free();
			return 0;
		}
	}
	log_debug("cgroups under %s", root);
	return 1;
}

void
cgroup_free(void)
{
	int g;

	for (g = 0; g < CGROUP_NGROUPS; g++) {
		if (cgroup_fds[g] >= 0)
			close(cgroup_fds[g]);
		cgroup_fds[g] = -1;
		free(cgroup_dirs[g]);
		cgroup_dirs[g] = NULL;
	}
	free(cgroup_rootdir);
	cgroup_rootdir = NULL;
	cgroup_barrier_up = 0;
}

int
cgroup_enabled(void)
{
	return cgroup_rootdir != NULL;
}

const char *
cgroup_root(void)
{
	return cgroup_rootdir;
}

int
cgroup_fd(enum cgroup_group g)
{
	if (g < 0 || g >= CGROUP_NGROUPS)
		return -1;
	return cgroup_fds[g];
}

const char *
cgroup_path(enum cgroup_group g)
{
	if (g < 0 || g >= CGROUP_NGROUPS)
		return NULL;
	return cgroup_dirs[g];
}

const char *
cgroup_name(enum cgroup_group g)
{
	if (g < 0 || g >= CGROUP_NGROUPS)
		return "";
	return cgroup_names[g];
}

void
cgroup_set_barrier(int raised)
{
	cgroup_barrier_up = raised;
}

int
cgroup_barrier(void)
{
	return cgroup_barrier_up;
}

int
cgroup_admit(enum cgroup_group g, char **why)
{
	const char *dir;
	char *path = NULL, *slash;
	size_t rootlen;
	int r = 0, n;

	*why = NULL;
	if ((dir = cgroup_path(g)) == NULL)
		goto out;
	if (g != CGROUP_SOCATS && cgroup_barrier_up) {
		*why = xstrdup("the target cgroup is frozen");
		r = -EAGAIN;
		goto out;
	}
	if (cgroup_read_frozen(dir) == 1) {
		*why = xasprintf("the target cgroup is frozen: %s reads frozen",
		    dir);
		r = -EAGAIN;
		goto out;
	}
	/* Root first, then each directory down to the target. */
	path = xstrdup(dir);
	rootlen = strlen(cgroup_rootdir);
	slash = path + rootlen;
	for (n = 0; n < CGROUP_PROBE_MAX; n++) {
		char save = *slash;

		*slash = '\0';
		if (cgroup_read_freeze(path) == 1) {
			*why = xasprintf("the target cgroup is frozen: %s has "
			    "a freeze requested", path);
			r = -EAGAIN;
			goto out;
		}
		*slash = save;
		if (save == '\0')
			break;
		if ((slash = strchr(slash + 1, '/')) == NULL)
			slash = path + strlen(path);
	}
out:
	free(path);
	return r;
}

int
cgroup_walk(const char *dir, int max, int (*fn)(const char *, void *),
    void *arg)
{
	char **queue;
	struct dirent *de;
	DIR *d;
	int head = 0, tail = 0, visited = 0, r = 0, i;

	if (max <= 0)
		return -E2BIG;
	queue = xcalloc((size_t)max, sizeof(*queue));
	queue[tail++] = xstrdup(dir);
	while (head < tail) {
		char *cur = queue[head++];

		visited++;
		if (fn(cur, arg) != 0)
			goto out;
		if ((d = opendir(cur)) == NULL)
			continue;	/* gone meanwhile: not an error */
		while ((de = readdir(d)) != NULL) {
			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			if (tail == max) {
				r = -E2BIG;
				break;
			}
			queue[tail++] = xasprintf("%s/%s", cur, de->d_name);
		}
		closedir(d);
		if (r != 0) {
			/* Visit what was queued, then stop. */
			while (head < tail) {
				visited++;
				if (fn(queue[head++], arg) != 0)
					break;
			}
			goto out;
		}
	}
out:
	for (i = 0; i < tail; i++)
		free(queue[i]);
	free(queue);
	return r != 0 ? r : visited;
}

static int
cgroup_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
cgroup_children(const char *dir, char ***out, size_t *n)
{
	struct dirent *de;
	char **list = NULL;
	size_t len = 0;
	DIR *d;

	*out = NULL;
	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return -errno;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		list = xreallocarray(list, len + 1, sizeof(*list));
		list[len++] = xasprintf("%s/%s", dir, de->d_name);
	}
	closedir(d);
	if (len > 1)
		qsort(list, len, sizeof(*list), cgroup_cmp_names);
	*out = list;
	*n = len;
	return 0;
}

void
cgroup_free_list(char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* Strip trailing slashes (not the first character). */
static void
cgroup_trim(char *p)
{
	size_t len = strlen(p);

	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
}

char *
cgroup_self_path(void)
{
	const char *file = getenv("ENVD_PROC_SELF_CGROUP");
	char line[4096], rel[4096] = "", best_mnt[4096] = "", best_root[4096];
	char mnt[4096], mroot[4096], fstype[64], *p, *out;
	size_t blen = 0, mlen;
	int found = 0;
	FILE *f;

	if (cgroup_rootdir == NULL)
		return NULL;
	if ((f = fopen(file != NULL ? file : "/proc/self/cgroup", "re")) ==
	    NULL)
		return NULL;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(rel, sizeof(rel), "%s", line + 3);
		found = 1;
		break;
	}
	fclose(f);
	if (!found)
		return NULL;
	/* The cgroup2 mount whose mount point is the longest prefix of the
	 * root: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS... - FSTYPE ...". */
	best_root[0] = '\0';
	if ((f = fopen("/proc/self/mountinfo", "re")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			if (sscanf(line, "%*s %*s %*s %4095s %4095s", mroot,
			    mnt) != 2 || (p = strstr(line, " - ")) == NULL ||
			    sscanf(p + 3, "%63s", fstype) != 1 ||
			    strcmp(fstype, "cgroup2") != 0)
				continue;
			mlen = strlen(mnt);
			if (strncmp(cgroup_rootdir, mnt, mlen) != 0 ||
			    (cgroup_rootdir[mlen] != '/' &&
			    cgroup_rootdir[mlen] != '\0' &&
			    strcmp(mnt, "/") != 0) || mlen < blen)
				continue;
			blen = mlen;
			snprintf(best_mnt, sizeof(best_mnt), "%s", mnt);
			snprintf(best_root, sizeof(best_root), "%s", mroot);
		}
		fclose(f);
	}
	if (best_mnt[0] == '\0') {
		/* Upstream's reading: the root is the mount. */
		out = xasprintf("%s%s", cgroup_rootdir, rel);
	} else {
		mlen = strlen(best_root);
		/* The path in /proc/self/cgroup is relative to the cgroup
		 * namespace root, the mount's root for a mount made there. */
		if (strcmp(best_root, "/") != 0 &&
		    strncmp(rel, best_root, mlen) == 0 &&
		    (rel[mlen] == '/' || rel[mlen] == '\0'))
			memmove(rel, rel + mlen, strlen(rel + mlen) + 1);
		out = xasprintf("%s%s", strcmp(best_mnt, "/") == 0 ? "" :
		    best_mnt, rel);
	}
	cgroup_trim(out);
	return out;
}
