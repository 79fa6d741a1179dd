/*
 * metrics.h - GET /metrics: guest CPU, memory and disk usage
 * (spec/http-api.md §4).
 *
 * CPU use is measured between two /proc/stat samples the loop takes once a
 * second on an unreferenced timer, so a request never waits and the timer
 * never keeps the loop alive. Memory comes from /proc/meminfo, disk from
 * statfs("/"), both read when the request arrives. The cpu_possible,
 * cpu_target, cpu_target_attempts and cpu_write_pending_ms figures come
 * from cpus.h and oom_kills from oom.h (upstream-0.9.md §4); outside
 * Firecracker the former are 0 and oom_kills is left out.
 *
 * The parsing and formatting helpers are pure and exposed for tests.
 */
#ifndef ENVD_METRICS_H
#define ENVD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "httpd.h"

/* GET /metrics: 200 application/json (body ends with "\n"), or 500 with
 * an empty body when a source cannot be read. Behind the token gate. */
extern const struct req_handler metrics_handler;

/* Take the first sample and start the sampling timer on loop. */
void metrics_start(uv_loop_t *loop);

/* Close the timer (at shutdown). Safe without metrics_start(). */
void metrics_stop(void);

/* Aggregate CPU times from /proc/stat, in clock ticks. */
struct metrics_cpu {
	uint64_t total;		/* user..steal (guest time is inside user) */
	uint64_t busy;		/* total - idle - iowait */
	unsigned int ncpu;	/* "cpuN" lines */
};

/* Memory figures from /proc/meminfo, in bytes. */
struct metrics_mem {
	uint64_t total;		/* MemTotal */
	uint64_t used;		/* total - free - buffers - cached (>= 0) */
	uint64_t cached;	/* Cached + SReclaimable */
};

/* Parse the text of /proc/stat (NUL-terminated). Returns 0 or -EINVAL. */
int metrics_parse_stat(const char *text, struct metrics_cpu *out);

/* Parse the text of /proc/meminfo (NUL-terminated). Returns 0 or
 * -EINVAL when MemTotal is missing. */
int metrics_parse_meminfo(const char *text, struct metrics_mem *out);

/* Busy percentage between samples a (older) and b, 0..100, as gopsutil
 * computes it (0 when nothing was busy, 100 when no time passed). */
double metrics_cpu_pct(const struct metrics_cpu *a,
    const struct metrics_cpu *b);

/* Round a percentage to two decimals and print it as Go prints a float32
 * (shortest form that reads back to the same float32, no exponent).
 * Returns the length written to out. */
size_t metrics_format_pct(double pct, char *out, size_t outsz);

#endif
