/*
 * exec.c - "envctl exec": run a command in the sandbox (Process.Start).
 *
 * The request is one Connect JSON envelope; the answer is a stream of
 * envelopes (start, data..., end, then end-of-stream) that is decoded as it
 * arrives, so output appears while the command runs. The stream runs on a
 * curl multi handle; the same loop also waits for local standard input and
 * for signals (through a self-pipe), and forwards them with short unary
 * calls on other handles: SendInput, CloseStdin, Update (window size) and
 * SendSignal.
 *
 * Exit status: the command's own, 128+N when signal N killed it (like a
 * shell), 1 for a termination envctl cannot tell, and 255 when envctl
 * itself or the RPC failed (the error is printed), as ssh does.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "envctl.h"
#include "envelope.h"
#include "xalloc.h"

#define EXEC_FAILED 255
#define EXEC_READ_MAX (32 * 1024)
#define EXEC_ERR_MAX (64 * 1024)

/* One exec run. */
struct exec {
	struct client *c;	/* borrowed */
	CURLM *multi;
	CURL *stream;		/* Process.Start */
	struct curl_slist *headers;
	struct buf request;	/* the request envelope; curl reads it */
	struct envelope_reader rd;
	long status;		/* HTTP status, known at the first byte */
	int streaming;		/* answer is application/connect+json */
	struct buf errbody;	/* body of a non-streaming answer */
	unsigned int pid;	/* from the start event */
	int started;		/* start event seen */
	int ended;		/* end event seen */
	int eos;		/* end-of-stream envelope seen */
	int exit_code;		/* derived from the end event */
	char *error;		/* RPC or protocol error, owned */
	int pty;		/* --pty */
	int fwd_stdin;		/* local stdin goes to the process */
	int stdin_open;		/* still reading local stdin */
	int raw;		/* local terminal switched to raw mode */
	struct termios saved;	/* terminal modes to restore */
	int signals;		/* SIGINT/SIGTERM/SIGHUP received so far */
};

static int exec_sigpipe[2] = { -1, -1 };

static void exec_on_signal(int);
static size_t exec_write_cb(char *, size_t, size_t, void *);
static int exec_on_frame(uint8_t, const uint8_t *, size_t, void *);
static int exec_on_event(struct exec *, struct json_object *);
static int exec_output(struct exec *, int, struct json_object *);
static int exec_end_code(struct json_object *);
static int exec_signal_number(const char *);
static int exec_unary(struct exec *, const char *, struct json_object *);
static struct json_object *exec_selector(struct exec *);
static void exec_forward_stdin(struct exec *);
static void exec_handle_signals(struct exec *);
static void exec_winsize(unsigned int *, unsigned int *);
static int exec_loop(struct exec *);

const struct envctl_cmd exec_cmd = {
	"exec", "exec [-t] [-i] [-w DIR] [-e K=V]... [--timeout S] -- CMD "
	"[ARGS...]",
	"Run CMD with ARGS in the sandbox as --user (Process.Start). CMD is\n"
	"looked up in the PATH of the sandbox; use \"bash -lc '...'\" for\n"
	"shell syntax. Output streams to standard output and error while the\n"
	"command runs.\n"
	"\n"
	"  -t, --pty          run in a pseudo-terminal; the local terminal\n"
	"                     is put in raw mode and its size follows\n"
	"  -i, --stdin        forward standard input (always on with --pty);\n"
	"                     end of input closes the command's stdin\n"
	"  -w, --cwd DIR      working directory\n"
	"  -e, --env K=V      environment variable (repeatable)\n"
	"      --timeout S    kill the command after S seconds\n"
	"\n"
	"Exit status: the command's; 128+N when signal N ended it; 1 when\n"
	"that is unknown; 255 when envctl or the call failed. SIGINT, SIGTERM\n"
	"or SIGHUP send SIGTERM to the command, a second one SIGKILL.\n",
	exec_run,
};

static void
exec_on_signal(int sig)
{
	unsigned char b = (unsigned char)sig;
	int saved = errno;

	if (exec_sigpipe[1] >= 0)
		(void)!write(exec_sigpipe[1], &b, 1);
	errno = saved;
}

/* Go's Linux signal names (strsignal text, first letter lower-cased). */
static int
exec_signal_number(const char *status)
{
	static const char *const names[] = {
		NULL, "hangup", "interrupt", "quit", "illegal instruction",
		"trace/breakpoint trap", "aborted", "bus error",
		"floating point exception", "killed", "user defined signal 1",
		"segmentation fault", "user defined signal 2", "broken pipe",
		"alarm clock", "terminated", "stack fault", "child exited",
		"continued", "stopped (signal)", "stopped",
		"stopped (tty input)", "stopped (tty output)",
		"urgent I/O condition", "CPU time limit exceeded",
		"file size limit exceeded", "virtual timer expired",
		"profiling timer expired", "window changed", "I/O possible",
		"power failure", "bad system call",
	};
	const char *p;
	size_t n, i;
	char *end;
	long v;

	if (strncmp(status, "signal: ", 8) != 0)
		return -1;
	p = status + 8;
	n = strlen(p);
	if (n > 14 && strcmp(p + n - 14, " (core dumped)") == 0)
		n -= 14;
	for (i = 1; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && strncmp(p, names[i], n) == 0)
			return (int)i;
	if (strncmp(p, "signal ", 7) == 0) {
		v = strtol(p + 7, &end, 10);
		if (end != p + 7 && (size_t)(end - p) == n && v > 0 && v < 128)
			return (int)v;
	}
	return -1;
}

/* The shell-style exit status for an end event. */
static int
exec_end_code(struct json_object *end)
{
	struct json_object *v;
	int exited = 0, code = 0, sig;

	if (json_object_object_get_ex(end, "exited", &v) &&
	    json_object_is_type(v, json_type_boolean))
		exited = json_object_get_boolean(v);
	if (json_object_object_get_ex(end, "exitCode", &v) &&
	    json_object_is_type(v, json_type_int))
		code = json_object_get_int(v);
	if (exited)
		return code & 0xff;
	if (json_object_object_get_ex(end, "status", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    (sig = exec_signal_number(json_object_get_string(v))) > 0)
		return 128 + sig;
	return 1;
}

/* Write one data event's bytes to fd. */
static int
exec_output(struct exec *x, int fd, struct json_object *v)
{
	const char *b64 = json_object_get_string(v);
	size_t len = strlen(b64), binlen = 0;
	unsigned char *bin;
	int r = 0;

	bin = xmalloc(len / 4 * 3 + 3);
	if (sodium_base642bin(bin, len / 4 * 3 + 3, b64, len, NULL, &binlen,
	    NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		x->error = xstrdup("the daemon sent output that is not "
		    "base64");
		r = -EPROTO;
		goto out;
	}
	if ((r = envctl_write_all(fd, bin, binlen)) != 0)
		x->error = xasprintf("writing output: %s", strerror(-r));
out:
	free(bin);
	return r;
}

/* One ProcessEvent: start, data, end or keepalive. */
static int
exec_on_event(struct exec *x, struct json_object *ev)
{
	struct json_object *v, *d;

	if (json_object_object_get_ex(ev, "start", &v)) {
		if (json_object_object_get_ex(v, "pid", &d))
			x->pid = (unsigned int)json_object_get_int64(d);
		x->started = 1;
	} else if (json_object_object_get_ex(ev, "data", &v)) {
		if (json_object_object_get_ex(v, "stdout", &d))
			return exec_output(x, STDOUT_FILENO, d);
		if (json_object_object_get_ex(v, "pty", &d))
			return exec_output(x, STDOUT_FILENO, d);
		if (json_object_object_get_ex(v, "stderr", &d))
			return exec_output(x, STDERR_FILENO, d);
	} else if (json_object_object_get_ex(ev, "end", &v)) {
		x->exit_code = exec_end_code(v);
		x->ended = 1;
	}
	return 0;
}

static int
exec_on_frame(uint8_t flags, const uint8_t *p, size_t len, void *arg)
{
	struct exec *x = arg;
	struct json_object *msg, *v, *code = NULL, *m = NULL;
	int r = 0;

	if (flags & ENVELOPE_COMPRESSED) {
		x->error = xstrdup("the daemon sent a compressed message");
		return -EPROTO;
	}
	if ((msg = client_parse_json(p, len)) == NULL ||
	    !json_object_is_type(msg, json_type_object)) {
		json_object_put(msg);
		x->error = xstrdup("the daemon sent a message that is not a "
		    "JSON object");
		return -EPROTO;
	}
	if (flags & ENVELOPE_END_STREAM) {
		x->eos = 1;
		if (json_object_object_get_ex(msg, "error", &v)) {
			if (!json_object_object_get_ex(v, "code", &code))
				code = NULL;
			if (!json_object_object_get_ex(v, "message", &m))
				m = NULL;
			x->error = xasprintf("%s%s%s",
			    code ? json_object_get_string(code) : "unknown",
			    m ? ": " : "", m ? json_object_get_string(m) : "");
		}
	} else if (json_object_object_get_ex(msg, "event", &v))
		r = exec_on_event(x, v);
	json_object_put(msg);
	return r;
}

static size_t
exec_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct exec *x = arg;
	size_t n = size * nmemb;
	char *ct = NULL;

	if (x->status == 0) {
		curl_easy_getinfo(x->stream, CURLINFO_RESPONSE_CODE,
		    &x->status);
		curl_easy_getinfo(x->stream, CURLINFO_CONTENT_TYPE, &ct);
		x->streaming = x->status == 200 && ct != NULL &&
		    strncasecmp(ct, "application/connect+json", 24) == 0;
	}
	if (!x->streaming) {
		(void)buf_append(&x->errbody, p, n);
		return n;
	}
	if (envelope_feed(&x->rd, p, n, exec_on_frame, x) != 0) {
		if (x->error == NULL)
			x->error = xstrdup("the daemon sent a malformed "
			    "stream");
		return 0;
	}
	return n;
}

static struct json_object *
exec_selector(struct exec *x)
{
	struct json_object *sel = json_object_new_object();

	json_object_object_add(sel, "pid", json_object_new_int64(x->pid));
	return sel;
}

/* A unary process.Process call; req is consumed. Returns client_rpc's. */
static int
exec_unary(struct exec *x, const char *method, struct json_object *req)
{
	struct json_object *res = NULL;
	char *proc, *cause = NULL;
	int r;

	proc = xasprintf("process.Process/%s", method);
	if ((r = client_rpc(x->c, proc, req, &res, &cause)) != 0 &&
	    r != -ENOENT)
		fprintf(stderr, "envctl: %s: %s\n", method, cause);
	json_object_put(res);
	json_object_put(req);
	free(cause);
	free(proc);
	return r;
}

static void
exec_forward_stdin(struct exec *x)
{
	struct json_object *req, *in;
	unsigned char buf[EXEC_READ_MAX];
	char *b64;
	size_t b64len;
	ssize_t n;

	n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		x->stdin_open = 0;
		if (!x->pty) {
			req = json_object_new_object();
			json_object_object_add(req, "process",
			    exec_selector(x));
			(void)exec_unary(x, "CloseStdin", req);
		}
		return;
	}
	b64len = sodium_base64_encoded_len((size_t)n,
	    sodium_base64_VARIANT_ORIGINAL);
	b64 = xmalloc(b64len);
	sodium_bin2base64(b64, b64len, buf, (size_t)n,
	    sodium_base64_VARIANT_ORIGINAL);
	req = json_object_new_object();
	json_object_object_add(req, "process", exec_selector(x));
	in = json_object_new_object();
	json_object_object_add(in, x->pty ? "pty" : "stdin",
	    json_object_new_string(b64));
	json_object_object_add(req, "input", in);
	free(b64);
	if (exec_unary(x, "SendInput", req) != 0)
		x->stdin_open = 0;
}

static void
exec_winsize(unsigned int *cols, unsigned int *rows)
{
	struct winsize ws;

	*cols = 80;
	*rows = 24;
	if ((ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 ||
	    ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) &&
	    ws.ws_col > 0 && ws.ws_row > 0) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
	}
}

static void
exec_handle_signals(struct exec *x)
{
	struct json_object *req, *pty, *size;
	unsigned int cols, rows;
	unsigned char sig;

	while (read(exec_sigpipe[0], &sig, 1) == 1) {
		if (sig == SIGWINCH) {
			if (!x->pty || !x->started)
				continue;
			exec_winsize(&cols, &rows);
			req = json_object_new_object();
			json_object_object_add(req, "process",
			    exec_selector(x));
			pty = json_object_new_object();
			size = json_object_new_object();
			json_object_object_add(size, "cols",
			    json_object_new_int64(cols));
			json_object_object_add(size, "rows",
			    json_object_new_int64(rows));
			json_object_object_add(pty, "size", size);
			json_object_object_add(req, "pty", pty);
			(void)exec_unary(x, "Update", req);
			continue;
		}
		if (x->ended)
			continue;
		x->signals++;
		if (!x->started || x->signals > 2) {
			x->error = xasprintf("interrupted by %s",
			    strsignal(sig));
			continue;
		}
		req = json_object_new_object();
		json_object_object_add(req, "process", exec_selector(x));
		json_object_object_add(req, "signal", json_object_new_string(
		    x->signals == 1 ? "SIGNAL_SIGTERM" : "SIGNAL_SIGKILL"));
		(void)exec_unary(x, "SendSignal", req);
	}
}

/* Drive the stream to its end. Returns 0 or -EIO with x->error set. */
static int
exec_loop(struct exec *x)
{
	struct curl_waitfd wfd[2];
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode result = CURLE_OK;
	struct CURLMsg *msg;
	int running = 1, left, nfd;

	curl_easy_setopt(x->stream, CURLOPT_ERRORBUFFER, errbuf);
	while (running) {
		if (curl_multi_perform(x->multi, &running) != CURLM_OK) {
			x->error = xstrdup("curl_multi_perform failed");
			return -EIO;
		}
		while ((msg = curl_multi_info_read(x->multi, &left)) != NULL)
			if (msg->msg == CURLMSG_DONE)
				result = msg->data.result;
		if (!running)
			break;
		if (x->error != NULL && x->signals > 0)
			return -EINTR;
		nfd = 0;
		wfd[nfd].fd = exec_sigpipe[0];
		wfd[nfd].events = CURL_WAIT_POLLIN;
		wfd[nfd++].revents = 0;
		if (x->fwd_stdin && x->stdin_open && x->started && !x->ended) {
			wfd[nfd].fd = STDIN_FILENO;
			wfd[nfd].events = CURL_WAIT_POLLIN;
			wfd[nfd++].revents = 0;
		}
		if (curl_multi_poll(x->multi, wfd, (unsigned int)nfd, 1000,
		    NULL) != CURLM_OK) {
			x->error = xstrdup("curl_multi_poll failed");
			return -EIO;
		}
		if (wfd[0].revents != 0)
			exec_handle_signals(x);
		if (nfd > 1 && wfd[1].revents != 0)
			exec_forward_stdin(x);
	}
	if (result != CURLE_OK && !x->ended) {
		if (x->error == NULL)
			x->error = client_curl_error(x->c, result, errbuf);
		return -EIO;
	}
	return 0;
}

int
exec_run(struct envctl *e, const struct envctl_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		{ "pty", no_argument, NULL, 't' },
		{ "stdin", no_argument, NULL, 'i' },
		{ "cwd", required_argument, NULL, 'w' },
		{ "env", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 'T' },
		ENVCTL_COMMON_OPTIONS, { NULL, 0, NULL, 0 },
	};
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH };
	struct sigaction sa, old[4];
	struct json_object *req, *proc, *args, *envs, *v, *pty, *size;
	struct termios raw;
	unsigned int cols, rows;
	char *h, *cause = NULL;
	const char *s, *term;
	int64_t timeout = 0;
	struct exec x;
	size_t i;
	int ch, r, sigs_set = 0;

	memset(&x, 0, sizeof(x));
	buf_init(&x.request, ENVELOPE_MAX);
	buf_init(&x.errbody, EXEC_ERR_MAX);
	envelope_reader_init(&x.rd);
	req = json_object_new_object();
	proc = json_object_new_object();
	envs = json_object_new_object();
	json_object_object_add(req, "process", proc);
	while ((ch = getopt_long(argc, argv, "+hvtiw:e:", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			x.pty = 1;
			break;
		case 'i':
			x.fwd_stdin = 1;
			break;
		case 'w':
			json_object_object_add(proc, "cwd",
			    json_object_new_string(optarg));
			break;
		case 'e':
			if (envctl_add_env(envs, optarg) != 0) {
				r = envctl_usage(cmd, "--env needs K=V, not "
				    "'%s'", optarg);
				goto out;
			}
			break;
		case 'T':
			if (envctl_parse_int(optarg, 0, 100000000LL,
			    &timeout) != 0) {
				r = envctl_usage(cmd, "--timeout needs "
				    "seconds, not '%s'", optarg);
				goto out;
			}
			break;
		default:
			if ((r = envctl_common_opt(e, cmd, ch, optarg)) !=
			    ENVCTL_CONTINUE)
				goto out;
		}
	}
	if (optind >= argc) {
		r = envctl_usage(cmd, "missing CMD");
		goto out;
	}
	json_object_object_add(proc, "cmd",
	    json_object_new_string(argv[optind]));
	args = json_object_new_array();
	for (i = (size_t)optind + 1; i < (size_t)argc; i++)
		json_object_array_add(args, json_object_new_string(argv[i]));
	json_object_object_add(proc, "args", args);
	if (x.pty) {
		x.fwd_stdin = 1;
		if (!json_object_object_get_ex(envs, "TERM", &v)) {
			term = getenv("TERM");
			json_object_object_add(envs, "TERM",
			    json_object_new_string(term && *term ? term :
			    "xterm-256color"));
		}
		exec_winsize(&cols, &rows);
		size = json_object_new_object();
		json_object_object_add(size, "cols",
		    json_object_new_int64(cols));
		json_object_object_add(size, "rows",
		    json_object_new_int64(rows));
		pty = json_object_new_object();
		json_object_object_add(pty, "size", size);
		json_object_object_add(req, "pty", pty);
	} else
		json_object_object_add(req, "stdin",
		    json_object_new_boolean(x.fwd_stdin));
	json_object_object_add(proc, "envs", json_object_get(envs));
	x.stdin_open = x.fwd_stdin;

	if ((x.c = envctl_client(e)) == NULL) {
		r = ENVCTL_EXIT_FAIL;
		goto out;
	}
	s = json_object_to_json_string_ext(req,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (envelope_write(&x.request, 0, s, strlen(s)) != 0) {
		r = envctl_fail("request too large");
		goto out;
	}

	if (pipe2(exec_sigpipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		r = envctl_fail("pipe: %s", strerror(errno));
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = exec_on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &old[i]);
	sigs_set = 1;
	signal(SIGPIPE, SIG_IGN);

	x.stream = client_easy(x.c, "/process.Process/Start", 1, &x.headers);
	x.headers = curl_slist_append(x.headers,
	    "Content-Type: application/connect+json");
	x.headers = curl_slist_append(x.headers,
	    "Connect-Protocol-Version: 1");
	x.headers = curl_slist_append(x.headers, "Keepalive-Ping-Interval: 50");
	if (timeout > 0) {
		h = xasprintf("Connect-Timeout-Ms: %lld",
		    (long long)timeout * 1000);
		x.headers = curl_slist_append(x.headers, h);
		free(h);
	}
	curl_easy_setopt(x.stream, CURLOPT_HTTPHEADER, x.headers);
	curl_easy_setopt(x.stream, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)buf_len(&x.request));
	curl_easy_setopt(x.stream, CURLOPT_POSTFIELDS, buf_ptr(&x.request));
	curl_easy_setopt(x.stream, CURLOPT_WRITEFUNCTION, exec_write_cb);
	curl_easy_setopt(x.stream, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(x.stream, CURLOPT_TCP_KEEPALIVE, 1L);
	if ((x.multi = curl_multi_init()) == NULL) {
		r = envctl_fail("curl_multi_init failed");
		goto out;
	}
	curl_multi_add_handle(x.multi, x.stream);

	if (x.pty && isatty(STDIN_FILENO) &&
	    tcgetattr(STDIN_FILENO, &x.saved) == 0) {
		raw = x.saved;
		cfmakeraw(&raw);
		if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
			x.raw = 1;
	}

	r = exec_loop(&x);
	if (x.raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &x.saved);
		x.raw = 0;
	}
	if (r != 0) {
		envctl_fail("%s", x.error);
		r = EXEC_FAILED;
		goto out;
	}
	if (x.status == 0)
		curl_easy_getinfo(x.stream, CURLINFO_RESPONSE_CODE, &x.status);
	if (x.status != 200 || (!x.streaming && buf_len(&x.errbody) > 0)) {
		cause = client_http_error(x.status, buf_ptr(&x.errbody),
		    buf_len(&x.errbody));
		envctl_fail("%s", cause);
		r = EXEC_FAILED;
		goto out;
	}
	if (x.ended) {
		r = x.exit_code;
		goto out;
	}
	if (x.error != NULL)
		envctl_fail("%s", x.error);
	else
		envctl_fail("the stream ended without the command's end");
	r = EXEC_FAILED;
out:
	if (x.raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &x.saved);
	if (x.multi != NULL) {
		curl_multi_remove_handle(x.multi, x.stream);
		curl_multi_cleanup(x.multi);
	}
	if (x.stream != NULL)
		curl_easy_cleanup(x.stream);
	curl_slist_free_all(x.headers);
	if (sigs_set)
		for (i = 0; i < 4; i++)
			sigaction(sigs[i], &old[i], NULL);
	for (i = 0; i < 2; i++) {
		if (exec_sigpipe[i] >= 0)
			close(exec_sigpipe[i]);
		exec_sigpipe[i] = -1;
	}
	json_object_put(envs);
	json_object_put(req);
	envelope_reader_free(&x.rd);
	buf_reset(&x.request);
	buf_reset(&x.errbody);
	free(x.error);
	free(cause);
	return r;
}
