/*
 * log.h - one JSON object per line on stderr.
 *
 * Every line has "time" (RFC 3339, UTC, milliseconds), "level" and
 * "message". Messages are escaped, so any text is safe to pass, but callers
 * must never pass request bodies, query strings, header values or secrets.
 * Debug lines are written only after log_set_verbose(1).
 */
#ifndef ENVD_LOG_H
#define ENVD_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_DEBUG,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
	LOG_FATAL,
};

void log_set_verbose(int verbose);

/*
 * Also hand every line written (the JSON object, without its newline) to
 * sink, from whichever thread logs it; NULL stops that. The sink must not
 * log.
 */
typedef void log_sink_fn(const char *line, size_t len);
void log_set_sink(log_sink_fn *sink);

/*
 * Buffer lines in memory until log_flush() (or until the buffer is full),
 * so a busy daemon writes its request lines in a few large writes. The
 * event loop calls log_flush() before it waits; fatal() always flushes.
 */
void log_set_buffered(int buffered);
void log_flush(void);
int log_is_verbose(void);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Log at error level, appending ": <strerror(-err)>" (err is -errno). */
void log_error_r(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Log and exit(1). For startup failures and broken invariants only, never
 * for anything a client sent. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* One line per finished request: id, method, path (no query string), status
 * and duration. */
void log_request(uint64_t id, const char *method, const char *path,
    unsigned int status, uint64_t duration_ns);

/* Append s to out as the body of a JSON string (no quotes), escaping as
 * needed; writes at most outsz-1 bytes and NUL-terminates. Returns the
 * length written. Exposed for tests. */
size_t log_json_escape(char *out, size_t outsz, const char *s);

#endif
