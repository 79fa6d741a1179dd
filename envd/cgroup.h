/*
 * cgroup.h - the workload cgroups (spec/firecracker.md §7).
 *
 * At start the daemon creates three cgroup v2 groups under the root given
 * by -cgroup-root: "user" (commands without a PTY), "ptys" (commands with
 * one) and "socats" (port-forward helpers), writes their limits, and keeps
 * each directory open. Children are created directly inside their group
 * (spawn.c, clone3 with CLONE_INTO_CGROUP). With -no-cgroups, or when the
 * root is not a cgroup2 mount, or a group cannot be set up, there is no
 * manager: every call below reports "none" and children stay in the
 * daemon's own cgroup.
 *
 * Freezing is driven by control.c; this module only offers the primitives
 * and the admission check of upstream-0.9.md §6.4: a workload spawn is
 * refused while a freeze of ours is in effect (the barrier) or while the
 * target group, or any group from the root down to it, is frozen.
 *
 * All state is process-wide and touched from the loop thread only.
 */
#ifndef ENVD_CGROUP_H
#define ENVD_CGROUP_H

#include <stdint.h>

enum cgroup_group {
	CGROUP_NONE = -1,	/* stay in the daemon's cgroup (_system) */
	CGROUP_USER = 0,
	CGROUP_PTYS,
	CGROUP_SOCATS,
	CGROUP_NGROUPS,
};

/*
 * Set up the manager under root (not kept; copied). disabled (-no-cgroups)
 * gives no manager. Failures are not fatal: they are logged once and leave
 * no manager. Returns 1 with a manager, 0 without.
 */
int cgroup_init(const char *root, int disabled);

/* Close the kept directories. Safe without cgroup_init(). */
void cgroup_free(void);

/* 1 when a manager exists. */
int cgroup_enabled(void);

/* The root path (borrowed), or NULL without a manager. */
const char *cgroup_root(void);

/* The group's directory fd for CLONE_INTO_CGROUP, or -1 (no manager or
 * CGROUP_NONE). Owned by this module. */
int cgroup_fd(enum cgroup_group g);

/* The group's absolute path (borrowed), or NULL. */
const char *cgroup_path(enum cgroup_group g);

/* The group's name ("user", "ptys", "socats"). */
const char *cgroup_name(enum cgroup_group g);

/*
 * May a child be forked into g now? Returns 0 (yes, also for CGROUP_NONE
 * and without a manager), or -EAGAIN with *why (caller frees) set to
 * upstream's reason: "the target cgroup is frozen" (barrier, not for
 * socats), "...: <path> reads frozen" or "...: <path> has a freeze
 * requested". Unreadable files do not refuse.
 */
int cgroup_admit(enum cgroup_group g, char **why);

/* Raise (1) or lower (0) the spawn barrier. */
void cgroup_set_barrier(int raised);
int cgroup_barrier(void);

/*
 * Write "1" or "0" to <dir>/cgroup.freeze. dir is an absolute path.
 * Returns 0 or -errno.
 */
int cgroup_write_freeze(const char *dir, int on);

/* Read <dir>/cgroup.freeze: 1, 0, or -errno. */
int cgroup_read_freeze(const char *dir);

/* Read the "frozen" key of <dir>/cgroup.events: 1, 0, or -errno. */
int cgroup_read_frozen(const char *dir);

/*
 * Breadth-first walk of the cgroup tree below (and including) dir, at most
 * max directories. fn(path, arg) is called for each; returning non-zero
 * stops the walk. Returns the number visited, or -E2BIG when max was hit
 * (truncated) with the walk stopped there.
 */
int cgroup_walk(const char *dir, int max, int (*fn)(const char *path,
    void *arg), void *arg);

/*
 * The child cgroups of dir, sorted by name as Go's os.ReadDir returns
 * them: *out is an allocated array of *n allocated absolute paths (free
 * with cgroup_free_list). Returns 0 or -errno (-ENOENT: dir is gone).
 */
int cgroup_children(const char *dir, char ***out, size_t *n);
void cgroup_free_list(char **list, size_t n);

/*
 * The daemon's own cgroup as an absolute path: the "0::" line of
 * /proc/self/cgroup ($ENVD_PROC_SELF_CGROUP overrides the file, for
 * tests) placed under the cgroup2 mount that holds the root, as
 * /proc/self/mountinfo names it (the root itself when it is that
 * mount). Allocated; NULL when there is no 0:: line or no manager.
 */
char *cgroup_self_path(void);

/* memory.max for the workload groups: MemTotal - min(MemTotal / 8,
 * 128 MiB), in bytes. */
uint64_t cgroup_memory_max(uint64_t mem_total);

#endif
