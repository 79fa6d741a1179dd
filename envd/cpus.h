/*
 * cpus.h - the CPU target of POST /init cpuCount and CPU hot-plug
 * (spec/upstream-0.9.md §3.6).
 *
 * In Firecracker mode a target 1..count(possible) is persisted to
 * <run dir>/cpu-target and a worker brings the online count to it one CPU
 * at a time: the lowest offline possible CPU up, the highest online CPU
 * down, never CPU0. Each "1"/"0" write to <sysfs>/cpu<N>/online runs on
 * the libuv thread pool, so a write the kernel never finishes blocks no
 * loop callback; after it the CPU's bit in the online mask must have
 * changed. A run (steps until the count matches or a step fails) that
 * failed is retried after 1 s, doubling up to 30 s; a run that changed a
 * CPU resets that back-off, and after 10 failed runs in a row that changed
 * nothing the worker waits for a new target.
 *
 * $ENVD_SYSFS_CPU (default /sys/devices/system/cpu) and $ENVD_RUN_DIR
 * (default /run/e2b) name the trees, for tests.
 *
 * Outside Firecracker every count is accepted and nothing is done; the
 * header then reports zeros. State lives on the loop thread.
 */
#ifndef ENVD_CPUS_H
#define ENVD_CPUS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* Highest CPU number + 1 a cpulist may name. */
#define CPUS_MAX 8192

/* A set of CPU numbers. */
struct cpus_set {
	uint64_t bits[CPUS_MAX / 64];
};

/*
 * Parse a kernel cpulist ("0-3,5\n"): ascending, non-overlapping ranges
 * of numbers below CPUS_MAX, an optional trailing newline; "" or "\n" is
 * the empty set. Returns 0 and fills *set, or -EINVAL.
 */
int cpus_parse_list(const char *s, size_t len, struct cpus_set *set);

/* Number of CPUs in set. */
unsigned int cpus_count(const struct cpus_set *set);

/* 1 when cpu is in set. */
int cpus_has(const struct cpus_set *set, unsigned int cpu);

/* Remember the loop and mode; in Firecracker mode re-apply a persisted
 * target. */
void cpus_setup(uv_loop_t *loop, int isnotfc);

/*
 * Accept n as the target. Returns 0, or a negative errno with *why set to
 * an allocated reason (caller frees) such as "cpu target 9 outside 1..8".
 * Never touches sysfs CPU files itself: the worker does.
 */
int cpus_set_target(int64_t n, char **why);

/* What /metrics and X-Envd-Cpus report (all 0 outside Firecracker). */
struct cpus_status {
	unsigned int online;	/* count of the online mask */
	unsigned int possible;	/* count of the possible mask */
	unsigned int target;	/* last accepted target, 0 if none */
	unsigned int attempts;	/* runs ended since the target was set */
	uint64_t write_pending_ms; /* age of the cpuN/online write in the
				    * kernel, 0 when none is */
};

/* Fill *st. An unreadable mask gives zero counts (warned once). */
void cpus_status(struct cpus_status *st);

/*
 * X-Envd-Cpus: {"online":N,"possible":N,"target":N} plus
 * "rejected":"<why>" when rejected is not NULL. Allocated; caller frees.
 */
char *cpus_header(const char *rejected);

/* Release state after the loop ended. */
void cpus_free(void);

#endif
