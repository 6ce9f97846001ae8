// SPDX-License-Identifier: GPL-2.0 OR MIT
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mcxfer.h"
#include "fixture.h"
#include "harness.h"

#define READY_TRIES	300	/* x 50 ms: etcd starts in about a second */

void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ASSERT_TRUE(fd >= 0);
	ASSERT_ERR(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_ERR(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

void etcd_stop(struct etcd_proc *e)
{
	char cmd[sizeof(e->dir) + 16];

	etcd_kill(e);
	if (!e->dir[0] || !strstr(e->dir, "/mcx-etcd-"))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", e->dir);
	e->dir[0] = '\0';
}

/* Refused connections while etcd starts are expected: not worth a line each. */
static void quiet(enum mcx_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(void)ctx;
}

void etcd_start(struct etcd_proc *e)
{
	const char *bin = getenv("MCX_ETCD_BIN") ? getenv("MCX_ETCD_BIN") : "/usr/bin/etcd";
	uint16_t peer_port = free_port();
	char client_url[64], peer_url[64], cluster[96], log[300];
	struct mcx_etcd *c;
	int ret = -1;

	memset(e, 0, sizeof(*e));
	if (access(bin, X_OK))
		SKIP("no etcd binary (Debian package etcd-server)");
	snprintf(e->dir, sizeof(e->dir), "%s/mcx-etcd-XXXXXX",
		 getenv("MCX_ETCD_TMP") ? getenv("MCX_ETCD_TMP") : "/tmp");
	ASSERT_TRUE(mkdtemp(e->dir) != NULL);
	do
		e->port = free_port();
	while (e->port == peer_port);
	snprintf(client_url, sizeof(client_url), "http://127.0.0.1:%u", e->port);
	snprintf(peer_url, sizeof(peer_url), "http://127.0.0.1:%u", peer_port);
	snprintf(cluster, sizeof(cluster), "t=%s", peer_url);
	snprintf(log, sizeof(log), "%s/etcd.log", e->dir);
	snprintf(e->url, sizeof(e->url), "etcd://127.0.0.1:%u/mcxfer-test", e->port);
	ASSERT_ERR(mcx__etcd_parse_url(NULL, e->url, &e->parsed), 0);
	e->pid = fork();
	ASSERT_TRUE(e->pid >= 0);
	if (e->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		/* Dies with the test, whatever ends it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(bin, bin, "--name", "t", "--data-dir", e->dir,
		      "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
		      "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
		      "--initial-cluster", cluster, "--log-level", "warn", (char *)NULL);
		_exit(127);
	}
	c = etcd_client(e, 1000);
	mcx_log_set_handler(quiet, NULL);
	for (int i = 0; i < READY_TRIES; i++) {
		ret = mcx__etcd_get(c, "ready-probe", NULL, NULL, NULL);
		if (ret == -ENOENT)
			break;
		sleep_ms(50);
	}
	mcx__etcd_close(c);
	mcx_log_set_handler(NULL, NULL);
	if (ret != -ENOENT)
		harness_fail(__FILE__, __LINE__, "etcd did not come up on port %u (see %s)",
			     e->port, log);
}

void etcd_kill(struct etcd_proc *e)
{
	if (e->pid > 0) {
		kill(e->pid, SIGKILL);
		waitpid(e->pid, NULL, 0);
		e->pid = 0;
	}
}

/* Whether every thread of pid is stopped ('T' in /proc/PID/task/TID/stat). */
static bool all_threads_stopped(pid_t pid)
{
	char path[64], buf[256];
	struct dirent *d;
	bool stopped = true;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return false;
	while (stopped && (d = readdir(dir))) {
		const char *st;
		ssize_t n;
		int fd;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.20s/stat", (int)pid, d->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;	/* the thread is gone */
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* "TID (comm) S ...": the state follows the last ')' */
		st = strrchr(buf, ')');
		stopped = st && st[1] == ' ' && (st[2] == 'T' || st[2] == 't');
	}
	closedir(dir);
	return stopped;
}

/*
 * SIGSTOP is delivered to each thread as it next leaves the kernel: until
 * then a thread running on another CPU may still answer a request, so
 * wait until all of them are stopped (an event, not a sleep).
 */
void etcd_pause(struct etcd_proc *e)
{
	ASSERT_ERR(kill(e->pid, SIGSTOP), 0);
	while (!all_threads_stopped(e->pid)) {
		ASSERT_ERR(kill(e->pid, 0), 0);	/* still there */
		sched_yield();
	}
}

void etcd_resume(struct etcd_proc *e)
{
	ASSERT_ERR(kill(e->pid, SIGCONT), 0);
}

struct mcx_etcd *etcd_client(const struct etcd_proc *e, uint32_t timeout_ms)
{
	struct mcx_etcd *c = NULL;

	ASSERT_ERR(mcx__etcd_open(&e->parsed, timeout_ms, &c), 0);
	ASSERT_TRUE(c != NULL);
	return c;
}
