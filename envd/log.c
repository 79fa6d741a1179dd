/*
 * log.c - one JSON object per line on stderr.
 *
 * Lines are formatted into a stack buffer and written with a single write(2),
 * so concurrent writers (the daemon and a forked child before exec) never
 * interleave within a line. Long messages are truncated, not split.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fmt.h"
#include "log.h"

#define LOG_LINE_MAX 2048

#define LOG_BUFFER_SIZE (64 * 1024)

static int log_verbose;
static log_sink_fn *log_sink;
static int log_buffered;
static char log_buffer[LOG_BUFFER_SIZE];
static size_t log_buffered_len;

static const char *const log_level_names[] = {
	"debug", "info", "warn", "error", "fatal",
};

static void log_vmsg(enum log_level, const char *, const char *, va_list)
    __attribute__((format(printf, 3, 0)));
static size_t log_prefix(char *, size_t, enum log_level);
static void log_write(char *, size_t);

void
log_set_buffered(int buffered)
{
	if (!buffered)
		log_flush();
	log_buffered = buffered;
}

/* Write all of p, retrying on EINTR; give up silently on errors. */
static void
log_write_all(const char *p, size_t n)
{
	size_t off = 0;
	ssize_t w;

	while (off < n) {
		w = write(STDERR_FILENO, p + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

void
log_flush(void)
{
	if (log_buffered_len == 0)
		return;
	log_write_all(log_buffer, log_buffered_len);
	log_buffered_len = 0;
}

void
log_set_sink(log_sink_fn *sink)
{
	log_sink = sink;
}

void
log_set_verbose(int verbose)
{
	log_verbose = verbose;
}

int
log_is_verbose(void)
{
	return log_verbose;
}

size_t
log_json_escape(char *out, size_t outsz, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	unsigned char c;

	if (outsz == 0)
		return 0;
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			if (n + 2 >= outsz)
				break;
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			if (n + 6 >= outsz)
				break;
			out[n++] = '\\';
			out[n++] = 'u';
			out[n++] = '0';
			out[n++] = '0';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 0xf];
		} else {
			if (n + 1 >= outsz)
				break;
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return n;
}

/*
 * Write {"time":"…","level":"…", into line; return its length. The date
 * and time of day are formatted once per second (per thread), since
 * request lines come thousands of times a second.
 */
static size_t
log_prefix(char *line, size_t size, enum log_level level)
{
	static __thread time_t cached_sec = (time_t)-1;
	static __thread char cached_when[24];
	struct timespec ts;
	struct tm tm;
	const char *name = log_level_names[level];
	size_t n = 0, nl = strlen(name);

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != cached_sec) {
		gmtime_r(&ts.tv_sec, &tm);
		if (strftime(cached_when, sizeof(cached_when),
		    "%Y-%m-%dT%H:%M:%S", &tm) == 0)
			cached_when[0] = '\0';
		cached_sec = ts.tv_sec;
	}
	if (size < 64 + nl)
		return 0;
	memcpy(line, "{\"time\":\"", 9);
	n = 9;
	n += (size_t)(stpcpy(line + n, cached_when) - (line + n));
	line[n++] = '.';
	fmt_digits(line + n, (unsigned)(ts.tv_nsec / 1000000), 3);
	n += 3;
	memcpy(line + n, "Z\",\"level\":\"", 12);
	n += 12;
	memcpy(line + n, name, nl);
	n += nl;
	line[n++] = '"';
	line[n++] = ',';
	return n;
}

/* Terminate the line and write it in one call, or buffer it. */
static void
log_write(char *line, size_t n)
{
	if (n > LOG_LINE_MAX - 3)
		n = LOG_LINE_MAX - 3;
	line[n++] = '}';
	if (log_sink != NULL)
		log_sink(line, n);
	line[n++] = '\n';
	if (!log_buffered) {
		log_write_all(line, n);
		return;
	}
	if (log_buffered_len + n > sizeof(log_buffer))
		log_flush();
	memcpy(log_buffer + log_buffered_len, line, n);
	log_buffered_len += n;
}

static void
log_vmsg(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX], msg[1024];
	size_t n;

	if (level == LOG_DEBUG && !log_verbose)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (suffix != NULL) {
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", suffix);
	}
	n = log_prefix(line, sizeof(line), level);
	n += (size_t)snprintf(line + n, sizeof(line) - n, "\"message\":\"");
	n += log_json_escape(line + n, sizeof(line) - n - 4, msg);
	line[n++] = '"';
	log_write(line, n);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, NULL, fmt, ap);
	va_end(ap);
}

void
log_error_r(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, strerror(err < 0 ? -err : err), fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_FATAL, NULL, fmt, ap);
	va_end(ap);
	log_flush();
	exit(1);
}

void
log_request(uint64_t id, const char *method, const char *path,
    unsigned int status, uint64_t duration_ns)
{
	char line[LOG_LINE_MAX];
	uint64_t us = (duration_ns + 500) / 1000;
	size_t n;

	/* Formatted by hand: this line is written for every request. The
	 * fixed parts and the numbers need at most 160 bytes; the method and
	 * path are escaped into what is left. */
	n = log_prefix(line, sizeof(line), LOG_INFO);
	n += (size_t)(stpcpy(line + n, "\"message\":\"request\",\"id\":") -
	    (line + n));
	n += fmt_u64(line + n, id);
	n += (size_t)(stpcpy(line + n, ",\"method\":\"") - (line + n));
	n += log_json_escape(line + n, 64, method);
	n += (size_t)(stpcpy(line + n, "\",\"path\":\"") - (line + n));
	n += log_json_escape(line + n, sizeof(line) - n - 96, path);
	n += (size_t)(stpcpy(line + n, "\",\"status\":") - (line + n));
	n += fmt_u64(line + n, status);
	n += (size_t)(stpcpy(line + n, ",\"duration_ms\":") - (line + n));
	n += fmt_u64(line + n, us / 1000);
	line[n++] = '.';
	fmt_digits(line + n, (unsigned)(us % 1000), 3);
	n += 3;
	log_write(line, n);
}
