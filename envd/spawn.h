/*
 * spawn.h - start a command as a user, quickly, without a shell.
 *
 * The child is created with vfork semantics (the parent's memory is shared
 * until exec, so nothing is copied) and, before exec, reproduces what
 * upstream's wrapper shell did: oom_score_adj 100, nice 0, best-effort I/O
 * class level 4, the user's groups, gid and uid, the working directory, and
 * a PATH search through the child's own environment. A command that cannot
 * be executed is not a spawn failure: the child writes a shell-style message
 * to its stderr and exits 127 (not found) or 126 (not executable), as
 * upstream does.
 *
 * With req->cgroup_fd the child is created inside that cgroup by clone3
 * (CLONE_INTO_CGROUP), so it never runs anywhere else. Where clone3 is
 * missing (old kernels, valgrind) the child moves itself into the cgroup
 * first thing after vfork, before it runs anything of the request's.
 *
 * Nothing here knows about the process table, streams or protocols.
 */
#ifndef ENVD_SPAWN_H
#define ENVD_SPAWN_H

#include <stdint.h>
#include <sys/types.h>

struct spawn_req {
	const char *cmd;	/* looked up in the PATH of envp */
	char *const *argv;	/* argv[0] is cmd; NULL-terminated */
	char *const *envp;	/* "K=V" strings; NULL-terminated */
	const char *cwd;	/* chdir target, or NULL */
	uid_t uid;
	gid_t gid;
	const gid_t *groups;	/* setgroups() list */
	int ngroups;
	int pty;		/* 1: new session on a PTY */
	uint16_t cols, rows;	/* PTY size */
	int stdin_pipe;		/* non-PTY: 1 pipe, 0 /dev/null */
	int cgroup_fd;		/* > 2: a cgroup v2 directory the child is
				 * created in (CLONE_INTO_CGROUP); 0: stay
				 * in the daemon's cgroup */
};

struct spawn_result {
	pid_t pid;
	int pidfd;		/* readable when the child exits; -1 when the
				 * kernel has none (the caller reaps on
				 * SIGCHLD) */
	int stdin_fd;		/* write end, or -1 (PTY: -1) */
	int stdout_fd;		/* read end; PTY: the master */
	int stderr_fd;		/* read end, or -1 for a PTY */
	int pty_fd;		/* PTY master (same as stdout_fd), or -1 */
	int pipe_failed;	/* on failure: the daemon could not make the
				 * output/input pipes (not the command's
				 * fault); *errmsg is then the errno text */
};

/*
 * Start the command. The child gets req's fds as 0, 1 and 2 and nothing
 * else: every other descriptor is close-on-exec in the child, whoever
 * opened it. Every returned fd is non-blocking and close-on-exec. Out of
 * descriptors (EMFILE, ENFILE), it tries once more with the daemon's
 * reserve (fdres.h) closed, and fills the reserve again afterwards.
 * Returns 0, or -errno with *errmsg (caller frees) describing the failure
 * in Go's wording ("chdir /x: no such file or directory").
 */
int spawn_start(const struct spawn_req *req, struct spawn_result *out,
    char **errmsg);

/*
 * Record the descriptor limit the daemon was started with; call once in
 * main() before the soft RLIMIT_NOFILE is raised. Every child gets this
 * soft limit back before exec (as Go's os/exec does), at most the hard
 * limit of that moment, so commands see the limit of the environment, not
 * the daemon's raised one. Without a call children keep the daemon's
 * limit.
 */
void	spawn_save_nofile(void);

/* Set a PTY's window size. Returns 0 or -errno. */
int spawn_pty_resize(int fd, uint16_t cols, uint16_t rows);

#endif
