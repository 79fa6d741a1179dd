/*
 * spawn.c - vfork + exec with the child set up by hand.
 *
 * libuv's uv_spawn cannot keep supplementary groups (it calls setgroups(0))
 * and cannot give a PTY a controlling terminal, so the daemon spawns itself.
 *
 * The child shares the parent's memory until it execs or exits, so it only
 * makes system calls on data the parent prepared. All signals are blocked
 * around vfork so that no handler of the daemon's runs in the child; the
 * child resets every disposition to the default before unblocking. Failures
 * before exec are reported through a close-on-exec pipe: EOF there means the
 * exec happened.
 *
 * Credentials are changed with raw system calls: glibc's setuid() and
 * friends broadcast the change to every thread of the process, and a vfork
 * child shares its memory, thread list and locks with the daemon. Every
 * descriptor above 2 is marked close-on-exec in the child, so nothing of
 * the daemon's (nor anything the daemon inherited) reaches the command.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "errtext.h"
#include "fdres.h"
#include "spawn.h"
#include "xalloc.h"

#define SPAWN_IOPRIO_CLASS_BE 2
#define SPAWN_IOPRIO_SHIFT 13
#define SPAWN_CLONE_INTO_CGROUP 0x200000000ULL
#define SPAWN_STACK_SIZE (1024 * 1024)
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

enum spawn_stage {
	SPAWN_STAGE_SETUP,
	SPAWN_STAGE_CHDIR,
	SPAWN_STAGE_CREDS,
};

struct spawn_err {
	int stage;
	int err;
};

/* The kernel's struct clone_args (clone3), up to the cgroup field. */
struct spawn_clone_args {
	uint64_t flags;
	uint64_t pidfd;
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;
	uint64_t stack_size;
	uint64_t tls;
	uint64_t set_tid;
	uint64_t set_tid_size;
	uint64_t cgroup;
};

struct spawn_child {
	const struct spawn_req *req;
	int join_cgroup;		/* vfork fallback: move self first */
	int in_fd, out_fd, err_fd;	/* become 0, 1, 2 */
	int report_fd;			/* close-on-exec error pipe */
	const char *path;		/* PATH value from envp */
	char **sh_argv;		/* "/bin/sh", file, args: ENOEXEC */
	char file[4096];	/* the file being tried */
	char msg[512];		/* exec failure text, pre-formatted */
};

static void spawn_child(struct spawn_child *) __attribute__((noreturn));
static void spawn_fail(struct spawn_child *, int, int)
    __attribute__((noreturn));
static void spawn_exec_file(struct spawn_child *, const char *);
static int spawn_exec(struct spawn_child *);
static void spawn_exec_failed(struct spawn_child *, int)
    __attribute__((noreturn));
static size_t spawn_strlen(const char *);
static pid_t spawn_vfork(struct spawn_child *) __attribute__((noinline));
static int spawn_parent_end(int);

static pid_t spawn_clone3(struct spawn_child *) __attribute__((noinline));
static void spawn_child_entry(void *) __attribute__((noreturn, unused));

static int spawn_no_pidfd;	/* the kernel has no pidfd_open() */
static int spawn_no_clone3;	/* clone3 answered ENOSYS */
static struct rlimit spawn_nofile;	/* RLIMIT_NOFILE at start */
static int spawn_nofile_saved;		/* spawn_save_nofile() ran */
static void *spawn_stack __attribute__((unused));	/* the clone3 child's stack (one at a time:
				 * the parent waits until exec) */
static int spawn_above_stdio(int *);

/*
 * vfork with every signal blocked. Kept apart so that no local of the
 * caller is live across the two returns of vfork.
 */
static pid_t
spawn_vfork(struct spawn_child *c)
{
	sigset_t all, old;
	pid_t pid;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = vfork();
	if (pid == 0)
		spawn_child(c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return pid;
}

static void
spawn_child_entry(void *arg)
{
	spawn_child(arg);
}

/*
 * clone3(CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP) with every signal
 * blocked: vfork semantics, but the child starts inside the cgroup. The
 * child runs on its own stack, so the system call is made from assembly
 * and the child calls straight into spawn_child(). Returns the pid, or
 * -errno (-ENOSYS where there is no clone3 or no assembly for this
 * architecture).
 */
#if defined(__SANITIZE_ADDRESS__)
#define SPAWN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPAWN_ASAN 1
#endif
#endif

/*
 * Under AddressSanitizer the child's foreign stack confuses its stack
 * bookkeeping, so sanitizer builds take the fallback path (the child moves
 * itself into the cgroup before running anything of the request's).
 */
static pid_t
spawn_clone3(struct spawn_child *c)
{
#if defined(__x86_64__) && !defined(SPAWN_ASAN)
	struct spawn_clone_args ca;
	sigset_t all, old;
	long ret;

	if (spawn_stack == NULL) {
		spawn_stack = mmap(NULL, SPAWN_STACK_SIZE, PROT_READ |
		    PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (spawn_stack == MAP_FAILED) {
			spawn_stack = NULL;
			return -errno;
		}
	}
	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_VM | CLONE_VFORK | SPAWN_CLONE_INTO_CGROUP;
	ca.exit_signal = SIGCHLD;
	ca.stack = (uint64_t)(uintptr_t)spawn_stack;
	ca.stack_size = SPAWN_STACK_SIZE;
	ca.cgroup = (uint64_t)c->req->cgroup_fd;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	{
		register void (*fn)(void *) __asm__("r12") = spawn_child_entry;
		register void *arg __asm__("r13") = c;

		__asm__ volatile(
		    "syscall\n\t"
		    "test %%rax, %%rax\n\t"
		    "jnz 1f\n\t"
		    "xor %%ebp, %%ebp\n\t"
		    "mov %%r13, %%rdi\n\t"
		    "call *%%r12\n\t"
		    "hlt\n"
		    "1:"
		    : "=a"(ret)
		    : "0"((long)SYS_clone3), "D"(&ca), "S"(sizeof(ca)),
		      "r"(fn), "r"(arg)
		    : "rcx", "r11", "memory");
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return (pid_t)ret;
#else
	(void)c;
	return -ENOSYS;
#endif
}

static size_t
spawn_strlen(const char *s)
{
	size_t n = 0;

	while (s[n] != '\0')
		n++;
	return n;
}

/* Report a failure before exec and exit. */
static void
spawn_fail(struct spawn_child *c, int stage, int err)
{
	struct spawn_err e = { stage, err };

	if (write(c->report_fd, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

/*
 * Try one file, as a shell does: a file the kernel cannot execute
 * (ENOEXEC: a script without "#!") is run by /bin/sh. Returns on failure
 * with errno set.
 */
static void
spawn_exec_file(struct spawn_child *c, const char *file)
{
	execve(file, c->req->argv, c->req->envp);
	if (errno != ENOEXEC)
		return;
	c->sh_argv[1] = (char *)file;
	execve("/bin/sh", c->sh_argv, c->req->envp);
	errno = ENOEXEC;
}

/*
 * execvpe() searches the PATH of the daemon, not of envp; do the search
 * here with the child's PATH, as dash does. Returns only on failure, with
 * the errno to report: the last one that was not "no such file".
 */
static int
spawn_exec(struct spawn_child *c)
{
	const struct spawn_req *r = c->req;
	const char *p, *e;
	size_t dl, cl = spawn_strlen(r->cmd);
	int err = ENOENT;

	if (strchr(r->cmd, '/') != NULL) {
		spawn_exec_file(c, r->cmd);
		return errno;
	}
	p = c->path != NULL ? c->path : "/usr/bin:/bin";
	for (;;) {
		e = strchr(p, ':');
		dl = e != NULL ? (size_t)(e - p) : spawn_strlen(p);
		if (dl + cl + 2 <= sizeof(c->file)) {
			if (dl == 0) {
				memcpy(c->file, r->cmd, cl + 1);
			} else {
				memcpy(c->file, p, dl);
				c->file[dl] = '/';
				memcpy(c->file + dl + 1, r->cmd, cl + 1);
			}
			spawn_exec_file(c, c->file);
			if (errno != ENOENT && errno != ENOTDIR)
				err = errno;
		}
		if (e == NULL)
			break;
		p = e + 1;
	}
	return err;
}

/*
 * The command could not be executed: say so on stderr as dash does
 * ("/bin/sh: 1: exec: nosuchcmd: not found") and exit 127 for a missing
 * file, 126 otherwise.
 */
static void
spawn_exec_failed(struct spawn_child *c, int err)
{
	static const struct {
		int err;
		const char *text;
	} texts[] = {
		{ EACCES, "Permission denied" },
		{ EPERM, "Operation not permitted" },
		{ ENOEXEC, "Exec format error" },
		{ E2BIG, "Argument list too long" },
		{ ETXTBSY, "Text file busy" },
		{ ELOOP, "Too many levels of symbolic links" },
		{ ENAMETOOLONG, "File name too long" },
		{ ENOMEM, "Cannot allocate memory" },
		{ EISDIR, "Is a directory" },
		{ EINVAL, "Invalid argument" },
		{ EIO, "Input/output error" },
		{ ELIBBAD, "Accessing a corrupted shared library" },
	};
	const char *text = "Exec format error";
	size_t i;
	int code;

	if (err == ENOENT || err == ENOTDIR)
		text = "not found";
	else {
		for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
			if (texts[i].err == err)
				text = texts[i].text;
	}
	code = err == ENOENT || err == ENOTDIR || err == ELOOP ||
	    err == ENAMETOOLONG ? 127 : 126;
	if (write(2, c->msg, spawn_strlen(c->msg)) < 0 ||
	    write(2, text, spawn_strlen(text)) < 0 || write(2, "\n", 1) < 0)
		_exit(code);
	_exit(code);
}

static void
spawn_child(struct spawn_child *c)
{
	const struct spawn_req *r = c->req;
	struct sigaction sa;
	struct rlimit rl;
	sigset_t none;
	int fd, sig, prio;

	/* Default dispositions, then let signals in again. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* vfork fallback: into the cgroup before anything else runs. */
	if (c->join_cgroup) {
		fd = openat(r->cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1)
			spawn_fail(c, SPAWN_STAGE_SETUP, errno);
		close(fd);
	}

	if (r->pty) {
		if (setsid() < 0 || ioctl(c->in_fd, TIOCSCTTY, 0) < 0)
			spawn_fail(c, SPAWN_STAGE_SETUP, errno);
	}
	/* The three are above 2 (spawn_above_stdio), so none is clobbered. */
	if (dup2(c->in_fd, 0) < 0 || dup2(c->out_fd, 1) < 0 ||
	    dup2(c->err_fd, 2) < 0)
		spawn_fail(c, SPAWN_STAGE_SETUP, errno);
	/* Nothing above 2 survives exec, whoever opened it. */
	(void)syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);

	/* What upstream's wrapper did, while still root. */
	if ((fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC)) >= 0) {
		if (write(fd, "100", 3) < 0)
			spawn_fail(c, SPAWN_STAGE_SETUP, errno);
		close(fd);
	}

	/* A niced daemon's child gets back to 0 now: raising a priority takes
	 * root. Lowering one does not, which happens last (below). */
	errno = 0;
	prio = getpriority(PRIO_PROCESS, 0);
	if (errno == 0 && prio > 0)
		(void)setpriority(PRIO_PROCESS, 0, 0);

	/* Raw system calls: this thread only (see the top of the file). */
	if (syscall(SYS_setgroups, (size_t)r->ngroups, r->groups) < 0 ||
	    syscall(SYS_setresgid, r->gid, r->gid, r->gid) < 0 ||
	    syscall(SYS_setresuid, r->uid, r->uid, r->uid) < 0)
		spawn_fail(c, SPAWN_STAGE_CREDS, errno);
	if (r->cwd != NULL && chdir(r->cwd) < 0)
		spawn_fail(c, SPAWN_STAGE_CHDIR, errno);

	/* The soft descriptor limit the daemon started with, within the hard
	 * limit as it is now (a prlimit on the daemon may have lowered it;
	 * lowering the soft one needs no privilege). As in Go, a limit that
	 * cannot be set leaves the daemon's. Last before exec: the child
	 * still shares every descriptor of the daemon's, which may number
	 * more than that limit, so an open() after it could find none (the
	 * cgroup join, oom_score_adj). */
	if (spawn_nofile_saved && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = spawn_nofile.rlim_cur < rl.rlim_max ?
		    spawn_nofile.rlim_cur : rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	/*
	 * Nice 0 and best-effort I/O as upstream's wrapper left them, also
	 * last: the daemon (Nice=-20 in its unit) is stopped in vfork until
	 * this exec, and at nice 0 the child would wait behind the sandbox's
	 * own load, the daemon's loop with it. Neither takes a privilege.
	 */
	(void)setpriority(PRIO_PROCESS, 0, 0);
	(void)syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0,
	    SPAWN_IOPRIO_CLASS_BE << SPAWN_IOPRIO_SHIFT | 4);
	spawn_exec_failed(c, spawn_exec(c));
}

/* The daemon's end of a pipe: non-blocking (it is close-on-exec already). */
static int
spawn_parent_end(int fd)
{
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/*
 * Move *fd above 2, close-on-exec, when it sits on 0, 1 or 2 (a daemon
 * started with a standard descriptor closed): dup2() onto itself would
 * keep the close-on-exec flag, and an earlier dup2() could clobber it.
 */
static int
spawn_above_stdio(int *fd)
{
	int nfd;

	if (*fd < 0 || *fd > 2)
		return 0;
	if ((nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return -errno;
	close(*fd);
	*fd = nfd;
	return 0;
}

void
spawn_save_nofile(void)
{
	if (getrlimit(RLIMIT_NOFILE, &spawn_nofile) == 0)
		spawn_nofile_saved = 1;
}

static int
spawn_try(const struct spawn_req *r, struct spawn_result *out,
    char **errmsg)
{
	struct spawn_child c;
	struct spawn_err e;
	struct winsize ws;
	int in_p[2] = { -1, -1 }, out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 };
	int rep[2] = { -1, -1 }, master = -1, slave = -1, devnull = -1;
	char *const *ep;
	size_t nargs;
	pid_t pid;
	ssize_t n;
	int ret = 0;

	*errmsg = NULL;
	memset(out, 0, sizeof(*out));
	out->pid = -1;
	out->pidfd = out->stdin_fd = out->stdout_fd = out->stderr_fd =
	    out->pty_fd = -1;
	memset(&c, 0, sizeof(c));
	c.req = r;
	for (ep = r->envp; *ep != NULL; ep++)
		if (strncmp(*ep, "PATH=", 5) == 0)
			c.path = *ep + 5;	/* the last one wins */
	for (nargs = 0; r->argv[nargs] != NULL; nargs++)
		;
	c.sh_argv = xcalloc(nargs + 2, sizeof(*c.sh_argv));
	c.sh_argv[0] = (char *)"/bin/sh";
	if (nargs > 0)
		memcpy(c.sh_argv + 2, r->argv + 1, (nargs - 1) *
		    sizeof(*c.sh_argv));
	snprintf(c.msg, sizeof(c.msg), "/bin/sh: 1: exec: %s: ", r->cmd);

	if (pipe2(rep, O_CLOEXEC) < 0)
		goto sys_fail;
	if (r->pty) {
		memset(&ws, 0, sizeof(ws));
		ws.ws_col = r->cols;
		ws.ws_row = r->rows;
		if (openpty(&master, &slave, NULL, NULL, &ws) < 0)
			goto sys_fail;
		if (fcntl(master, F_SETFD, FD_CLOEXEC) < 0 ||
		    fcntl(slave, F_SETFD, FD_CLOEXEC) < 0 ||
		    spawn_parent_end(master) < 0 ||
		    spawn_above_stdio(&slave) < 0)
			goto sys_fail;
		c.in_fd = c.out_fd = c.err_fd = slave;
	} else {
		if (pipe2(out_p, O_CLOEXEC) < 0 ||
		    spawn_parent_end(out_p[0]) < 0 ||
		    spawn_above_stdio(&out_p[1]) < 0)
			goto pipe_fail;
		if (pipe2(err_p, O_CLOEXEC) < 0 ||
		    spawn_parent_end(err_p[0]) < 0 ||
		    spawn_above_stdio(&err_p[1]) < 0)
			goto pipe_fail;
		if (r->stdin_pipe) {
			if (pipe2(in_p, O_CLOEXEC) < 0 ||
			    spawn_parent_end(in_p[1]) < 0 ||
			    spawn_above_stdio(&in_p[0]) < 0)
				goto pipe_fail;
			c.in_fd = in_p[0];
		} else {
			devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (devnull < 0 || spawn_above_stdio(&devnull) < 0)
				goto sys_fail;
			c.in_fd = devnull;
		}
		c.out_fd = out_p[1];
		c.err_fd = err_p[1];
	}
	c.report_fd = rep[1];

	pid = -ENOSYS;
	if (r->cgroup_fd > 2 && !spawn_no_clone3) {
		pid = spawn_clone3(&c);
		if (pid == -ENOSYS)
			spawn_no_clone3 = 1;	/* do not ask again */
		else if (pid < 0) {
			errno = -pid;
			goto sys_fail;
		}
	}
	if (pid == -ENOSYS) {
		c.join_cgroup = r->cgroup_fd > 2;
		if ((pid = spawn_vfork(&c)) < 0)
			goto sys_fail;
	}

	close(rep[1]);
	rep[1] = -1;
	do {
		n = read(rep[0], &e, sizeof(e));
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(e)) {
		/* Setup failed before exec: reap the child right away. */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		switch (e.stage) {
		case SPAWN_STAGE_CHDIR:
			*errmsg = xasprintf("chdir %s: %s", r->cwd,
			    errtext(e.err));
			break;
		default:
			*errmsg = xasprintf("fork/exec %s: %s", r->cmd,
			    errtext(e.err));
			break;
		}
		ret = -e.err;
		goto out;
	}

	out->pid = pid;
	if (!spawn_no_pidfd) {
		out->pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* CLOEXEC */
		if (out->pidfd < 0 && errno == ENOSYS)
			spawn_no_pidfd = 1;	/* do not ask again */
		/* The last descriptor of a start: the reserve's, if need be
		 * (without it the process falls back to SIGCHLD). */
		if (out->pidfd < 0 && (errno == EMFILE || errno == ENFILE) &&
		    fdres_release() > 0) {
			out->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
			fdres_fill();
		}
	}
	if (r->pty) {
		out->pty_fd = out->stdout_fd = master;
		master = -1;
	} else {
		out->stdout_fd = out_p[0];
		out->stderr_fd = err_p[0];
		out_p[0] = err_p[0] = -1;
		if (r->stdin_pipe) {
			out->stdin_fd = in_p[1];
			in_p[1] = -1;
		}
	}
	goto out;

pipe_fail:
	ret = -errno;
	out->pipe_failed = 1;
	*errmsg = xstrdup(errtext(errno));
	goto out;
sys_fail:
	ret = -errno;
	*errmsg = xasprintf("fork/exec %s: %s", r->cmd, errtext(errno));
out:
	free(c.sh_argv);
	if (rep[0] >= 0)
		close(rep[0]);
	if (rep[1] >= 0)
		close(rep[1]);
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
	if (devnull >= 0)
		close(devnull);
	if (in_p[0] >= 0)
		close(in_p[0]);
	if (in_p[1] >= 0)
		close(in_p[1]);
	if (out_p[0] >= 0)
		close(out_p[0]);
	if (out_p[1] >= 0)
		close(out_p[1]);
	if (err_p[0] >= 0)
		close(err_p[0]);
	if (err_p[1] >= 0)
		close(err_p[1]);
	return ret;
}

int
spawn_start(const struct spawn_req *r, struct spawn_result *out,
    char **errmsg)
{
	int ret;

	ret = spawn_try(r, out, errmsg);
	if ((ret == -EMFILE || ret == -ENFILE) && fdres_release() > 0) {
		free(*errmsg);
		ret = spawn_try(r, out, errmsg);
	}
	fdres_fill();
	return ret;
}

int
spawn_pty_resize(int fd, uint16_t cols, uint16_t rows)
{
	struct winsize ws;

	memset(&ws, 0, sizeof(ws));
	ws.ws_col = cols;
	ws.ws_row = rows;
	if (ioctl(fd, TIOCSWINSZ, &ws) < 0)
		return -errno;
	return 0;
}
