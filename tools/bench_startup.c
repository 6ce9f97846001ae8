// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * mcxfer-bench startup: how long a process takes from creating its engine
 * to being ready to serve N bytes on every NIC, cold against warm.
 *
 *   process 1 (cold): a memfd of N bytes, mapped and written (not timed:
 *       the application's memory exists before it wants to serve it), an
 *       engine (registry required), then mcx_mem_register_named() of the
 *       whole memfd, exported; it reports and exits (or, with --kill, the
 *       parent SIGKILLs it once it has reported);
 *   processes 2..K (warm): an engine, then mcx_mem_open_named() of the
 *       name; each reports and stays until every one has, as ranks of one
 *       job sharing the memory would.
 *
 * Every process is this program again (fork and exec of /proc/self/exe in
 * a hidden child mode), so that each pays what a real process start pays
 * (library constructors, device opens) and nothing is inherited.  A child
 * reports through a pipe: engine creation time, registration (or open)
 * time, their sum, and the engine's reg_mr_calls, mr_imports and
 * lazy_regs.  Afterwards the entry is evicted unless --keep.
 *
 * Exit status: 0 done, 1 a process failed, 2 bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mcxfer.h"
#include "bench_startup.h"
#include "common/clock.h"
#include "common/exit_status.h"
#include "common/parse.h"
#include "common/transport_arg.h"

static const char *prog = "mcxfer-bench startup";

#define MAX_PROCS	16
#define FILL_BYTE	0x5a
/* The child's ends of its two pipes, where exec leaves them. */
#define CHILD_REPORT_FD	3
#define CHILD_HOLD_FD	4
#define REPORT_MAGIC	0x6d637374u	/* "mcst" */

struct startup_opts {
	uint64_t size;
	const char *devices;
	struct transport_arg ta;	/* --transport, --provider (passed to the children) */
	const char *name;
	const char *json;
	uint64_t procs;
	uint64_t timeout_s;
	bool kill_cold;
	bool keep;
};

/* What a child tells the parent once it is ready (or has failed). */
struct startup_report {
	uint32_t magic;
	int32_t err;			/* 0, or -errno of the failed step */
	char step[32];			/* which step failed */
	uint64_t verbs_init_ns;		/* the process's first device list (libibverbs loads its providers) */
	uint64_t engine_ns;		/* mcx_engine_create() */
	uint64_t open_ns;		/* register_named / open_named */
	uint64_t total_ns;		/* before the engine to ready */
	uint64_t reg_mr_calls;
	uint64_t mr_imports;
	uint64_t lazy_regs;
	uint64_t registry_id;
	uint32_t shared_ctx;
	uint32_t nics;
	uint32_t warm;			/* mcx_mem_info.warm */
	uint32_t bytes_ok;		/* the warm mapping shows the cold one's bytes */
};

static int usage(FILE *f)
{
	fprintf(f,
		"usage: mcxfer-bench startup --size SIZE [OPTIONS]\n"
		"\n"
		"Time from engine creation to \"ready to serve SIZE bytes on every NIC\"\n"
		"of a cold process (registers a named memfd through /dev/mcxfer, then\n"
		"exits) against warm ones (open the name), each a separate process.\n"
		"Each process lists the devices first, so that libibverbs' one-time load\n"
		"of its providers (the same for cold and warm) is timed apart (verbs init).\n"
		"Needs /dev/mcxfer and udmabuf.\n"
		"\n"
		"  --size SIZE       bytes of named memory, whole pages (K/M/G/T suffixes)\n"
		"  --devices LIST    RDMA devices (default: MCX_IB_DEVICES, else all)\n"
		"  --transport KIND  verbs, fabric or auto (default; as MCX_TRANSPORT)\n"
		"  --provider NAME   libfabric provider (as MCX_FABRIC_PROVIDER)\n"
		"  --kill            SIGKILL process 1 once it is ready, instead of its exit\n"
		"  --name NAME       registry name (default bench/startup/<pid>)\n"
		"  --procs K         processes in all, 2..%d (default 4): 1 cold, K-1 warm\n"
		"  --timeout SEC     bound on each process getting ready (default 600)\n"
		"  --keep            leave the entry in the registry (default: evict it)\n"
		"  --json FILE       also write the results as JSON to FILE (- for stdout)\n"
		"\n"
		"exit status: 0 done, 1 a process failed, 2 bad usage\n", MAX_PROCS);
	return f == stdout ? 0 : EXIT_USAGE;
}

static int bad(const char *opt, const char *val, int err, const char *range)
{
	return bad_value(prog, opt, val, err, range);
}

/* ---- the children ---- */

static int child_engine(const struct startup_opts *o, struct mcx_engine **eng)
{
	struct mcx_engine_opts eo;

	mcx_engine_opts_init(&eo);
	eo.devices = o->devices;
	transport_arg_apply(&o->ta, &eo);
	eo.registry = MCX_REGISTRY_REQUIRED;
	/* Serving means peers can connect: the listener is part of ready. */
	eo.listen = "127.0.0.1:0";
	return mcx_engine_create(&eo, eng);
}

static void child_stats(struct mcx_engine *eng, struct mcx_mem *mem, struct startup_report *r)
{
	struct mcx_engine_stats st;
	struct mcx_mem_info mi;

	if (!mcx_engine_stats(eng, &st)) {
		r->reg_mr_calls = st.reg_mr_calls;
		r->mr_imports = st.mr_imports;
		r->lazy_regs = st.lazy_regs;
		r->shared_ctx = st.shared_ctx;
	}
	r->nics = mcx_engine_nics(eng);
	if (!mcx_mem_query(mem, &mi)) {
		r->registry_id = mi.registry_id;
		r->warm = (uint32_t)mi.warm;
		/* Untimed: the warm process sees what the cold one wrote. */
		if (mi.addr && mi.len)
			r->bytes_ok = *(volatile uint8_t *)(uintptr_t)mi.addr == FILL_BYTE &&
				      *(volatile uint8_t *)(uintptr_t)(mi.addr + mi.len - 1) ==
					      FILL_BYTE;
	}
}

static void child_fail(struct startup_report *r, const char *step, int err)
{
	r->err = err;
	snprintf(r->step, sizeof(r->step), "%s", step);
}

/* Until the parent closes the hold pipe (or kills us). */
static void child_hold(void)
{
	char c;

	while (read(CHILD_HOLD_FD, &c, 1) > 0 || errno == EINTR)
		;
}

static int child_main(const struct startup_opts *o, bool cold)
{
	struct startup_report r = { .magic = REPORT_MAGIC };
	struct mcx_engine *eng = NULL;
	struct mcx_mem *mem = NULL;
	uint64_t t0, t1;
	void *p = NULL;
	int fd = -1, ret = 0;

	if (cold) {
		fd = memfd_create("mcxfer-bench-startup", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0 || ftruncate(fd, (off_t)o->size)) {
			child_fail(&r, "memfd", -errno);
			goto report;
		}
		p = mmap(NULL, o->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			p = NULL;
			child_fail(&r, "mmap", -errno);
			goto report;
		}
		memset(p, FILL_BYTE, o->size);
	}
	/*
	 * The first device list of a process makes libibverbs load every
	 * provider it has (17 on Debian 12, dlopen each): a cost of the
	 * process, the same cold or warm, and under emulation as large as a
	 * registration.  Paid here, before the clock starts, and reported
	 * on its own.
	 */
	{
		struct mcx_device_info *devs = NULL;
		size_t ndevs = 0;
		uint64_t v0 = now_ns();

		if (!mcx_devices_query(MCX_RO_OFF, &devs, &ndevs))
			mcx_devices_free(devs, ndevs);
		r.verbs_init_ns = now_ns() - v0;
	}
	t0 = now_ns();
	ret = child_engine(o, &eng);
	t1 = now_ns();
	if (ret) {
		child_fail(&r, "mcx_engine_create", ret);
		goto report;
	}
	if (cold) {
		struct mcx_mem_named_req req = {
			.name = o->name, .src = MCX_NAMED_MEMFD, .fd = fd, .len = o->size,
			.addr = p, .flags = MCX_MEM_EXPORT, .share = MCX_SHARE_OWNER,
		};

		ret = mcx_mem_register_named(eng, &req, &mem);
	} else {
		ret = mcx_mem_open_named(eng, o->name, MCX_UID_SELF, MCX_MEM_EXPORT, &mem);
	}
	r.total_ns = now_ns() - t0;
	r.engine_ns = t1 - t0;
	r.open_ns = r.total_ns - r.engine_ns;
	if (ret)
		child_fail(&r, cold ? "mcx_mem_register_named" : "mcx_mem_open_named", ret);
	else
		child_stats(eng, mem, &r);
report:
	if (write(CHILD_REPORT_FD, &r, sizeof(r)) != (ssize_t)sizeof(r))
		r.err = r.err ? r.err : -EPIPE;
	close(CHILD_REPORT_FD);
	if (!r.err)
		child_hold();
	if (mem)
		mcx_mem_deregister(mem);
	if (eng)
		mcx_engine_destroy(eng);
	if (p)
		munmap(p, o->size);
	if (fd >= 0)
		close(fd);
	return r.err ? EXIT_FAIL : 0;
}

/* ---- the parent ---- */

struct proc {
	pid_t pid;
	int report_fd;		/* read end */
	int hold_fd;		/* write end: closing it lets the child go */
	bool cold;
	bool killed;
	struct startup_report r;
};

/* Move fd to target without CLOEXEC, whether or not it is already there. */
static int place_fd(int fd, int target)
{
	if (fd == target)
		return fcntl(fd, F_SETFD, 0);
	return dup2(fd, target) < 0 ? -1 : 0;
}

static char **child_argv(const struct startup_opts *o, bool cold, char *size_buf, size_t len)
{
	static char *argv[16];
	int n = 0;

	snprintf(size_buf, len, "%" PRIu64, o->size);
	argv[n++] = "mcxfer-bench";
	argv[n++] = "startup";
	argv[n++] = "--child";
	argv[n++] = cold ? "cold" : "warm";
	argv[n++] = "--size";
	argv[n++] = size_buf;
	argv[n++] = "--name";
	argv[n++] = (char *)o->name;
	if (o->devices) {
		argv[n++] = "--devices";
		argv[n++] = (char *)o->devices;
	}
	if (o->ta.transport_set) {
		static const char *const kinds[] = {
			[MCX_TRANSPORT_AUTO] = "auto",
			[MCX_TRANSPORT_VERBS] = "verbs",
			[MCX_TRANSPORT_FABRIC] = "fabric",
		};

		argv[n++] = "--transport";
		argv[n++] = (char *)kinds[o->ta.transport];
	}
	if (o->ta.provider) {
		argv[n++] = "--provider";
		argv[n++] = (char *)o->ta.provider;
	}
	argv[n] = NULL;
	return argv;
}

static int spawn(const struct startup_opts *o, struct proc *pr)
{
	int rep[2], hold[2];
	char size_buf[32];
	char **argv = child_argv(o, pr->cold, size_buf, sizeof(size_buf));

	if (pipe2(rep, O_CLOEXEC))
		return -errno;
	if (pipe2(hold, O_CLOEXEC)) {
		int ret = -errno;

		close(rep[0]);
		close(rep[1]);
		return ret;
	}
	fflush(NULL);
	pr->pid = fork();
	if (pr->pid == 0) {
		/* hold[0] may sit on 3 itself: park it out of the way first. */
		int h = fcntl(hold[0], F_DUPFD_CLOEXEC, 10);

		if (h < 0 || place_fd(rep[1], CHILD_REPORT_FD) || place_fd(h, CHILD_HOLD_FD))
			_exit(127);
		execv("/proc/self/exe", argv);
		fprintf(stderr, "%s: exec of /proc/self/exe: %s\n", prog, strerror(errno));
		_exit(127);
	}
	close(rep[1]);
	close(hold[0]);
	if (pr->pid < 0) {
		int ret = -errno;

		close(rep[0]);
		close(hold[1]);
		return ret;
	}
	pr->report_fd = rep[0];
	pr->hold_fd = hold[1];
	return 0;
}

/* Read pr's report, waiting at most timeout_s; -ETIMEDOUT or -EPIPE (it died). */
static int await_report(struct proc *pr, uint64_t timeout_s)
{
	uint64_t deadline = now_ns() + timeout_s * 1000000000ULL;
	size_t got = 0;

	while (got < sizeof(pr->r)) {
		struct pollfd pfd = { .fd = pr->report_fd, .events = POLLIN };
		uint64_t now = now_ns();
		ssize_t n;
		int ret;

		if (now >= deadline)
			return -ETIMEDOUT;
		ret = poll(&pfd, 1, (int)((deadline - now) / 1000000ULL) + 1);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		if (ret == 0)
			continue;
		n = read(pr->report_fd, (char *)&pr->r + got, sizeof(pr->r) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		got += (size_t)n;
	}
	return pr->r.magic == REPORT_MAGIC ? 0 : -EPROTO;
}

/* Let pr go (or kill it) and reap it; its exit status, or -1. */
static int finish(struct proc *pr, bool kill_it)
{
	int st;

	if (pr->pid <= 0)
		return 0;
	if (kill_it) {
		kill(pr->pid, SIGKILL);
		pr->killed = true;
	}
	if (pr->hold_fd >= 0) {
		close(pr->hold_fd);
		pr->hold_fd = -1;
	}
	if (pr->report_fd >= 0) {
		close(pr->report_fd);
		pr->report_fd = -1;
	}
	while (waitpid(pr->pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	pr->pid = 0;
	if (pr->killed)
		return 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static void print_table(const struct startup_opts *o, const struct proc *pr, size_t n,
			const char *kernel)
{
	printf("mcxfer-bench startup: %" PRIu64 " bytes (%.2f GiB) named '%s', devices %s, kernel %s\n",
	       o->size, (double)o->size / (double)(1ULL << 30), o->name,
	       o->devices ? o->devices : "(all)", kernel);
	printf("  %-8s %-5s %10s %10s %12s %7s %8s %6s %7s %5s %14s\n", "process", "role",
	       "ready ms", "engine ms", "reg/open ms", "reg_mr", "imports", "lazy", "shared", "warm",
	       "verbs init ms");
	for (size_t i = 0; i < n; i++) {
		const struct startup_report *r = &pr[i].r;

		printf("  %-8zu %-5s %10.1f %10.1f %12.1f %7" PRIu64 " %8" PRIu64 " %6" PRIu64
		       " %3u/%-3u %5s %14.1f\n", i + 1, pr[i].cold ? "cold" : "warm",
		       ms(r->total_ns), ms(r->engine_ns), ms(r->open_ns), r->reg_mr_calls,
		       r->mr_imports, r->lazy_regs, r->shared_ctx, r->nics, r->warm ? "yes" : "no",
		       ms(r->verbs_init_ns));
	}
	printf("  ready: from engine creation, libibverbs' providers already loaded (verbs init, before)\n");
	printf("  process 1 %s after it was ready\n",
	       o->kill_cold ? "was killed (SIGKILL)" : "exited normally");
	printf("  cold / warm (process 2): %.2fx; registration alone (reg/open): %.0fx;"
	       " with each one's verbs init: %.2fx\n",
	       (double)pr[0].r.total_ns / (double)pr[1].r.total_ns,
	       (double)pr[0].r.open_ns / (double)(pr[1].r.open_ns ? pr[1].r.open_ns : 1),
	       (double)(pr[0].r.total_ns + pr[0].r.verbs_init_ns) /
	       (double)(pr[1].r.total_ns + pr[1].r.verbs_init_ns));
	for (size_t i = 2; i < n; i++)
		printf("  process %zu: %.1f ms, %.2fx process 2's time\n", i + 1,
		       ms(pr[i].r.total_ns), (double)pr[i].r.total_ns / (double)pr[1].r.total_ns);
	for (size_t i = 1; i < n; i++)
		if (pr[i].r.reg_mr_calls || !pr[i].r.warm)
			printf("  note: process %zu registered %" PRIu64
			       " MRs itself (%u of %u device contexts shared): not a zero-registration start\n",
			       i + 1, pr[i].r.reg_mr_calls, pr[i].r.shared_ctx, pr[i].r.nics);
}

static int write_json(const struct startup_opts *o, const struct proc *pr, size_t n,
		      const char *kernel)
{
	FILE *f = strcmp(o->json, "-") ? fopen(o->json, "we") : stdout;

	if (!f) {
		fprintf(stderr, "%s: --json %s: %s\n", prog, o->json, strerror(errno));
		return -errno;
	}
	fprintf(f, "{\"bench\": \"startup\", \"kernel\": \"%s\", \"size\": %" PRIu64
		", \"name\": \"%s\", \"devices\": \"%s\", \"kill\": %s, \"procs\": [",
		kernel, o->size, o->name, o->devices ? o->devices : "", o->kill_cold ? "true" : "false");
	for (size_t i = 0; i < n; i++) {
		const struct startup_report *r = &pr[i].r;

		fprintf(f, "%s{\"process\": %zu, \"role\": \"%s\", \"ready_ms\": %.3f, "
			"\"engine_ms\": %.3f, \"register_ms\": %.3f, \"verbs_init_ms\": %.3f, "
			"\"reg_mr_calls\": %" PRIu64
			", \"mr_imports\": %" PRIu64 ", \"lazy_regs\": %" PRIu64
			", \"shared_ctx\": %u, \"nics\": %u, \"warm\": %s}", i ? ", " : "", i + 1,
			pr[i].cold ? "cold" : "warm", ms(r->total_ns), ms(r->engine_ns),
			ms(r->open_ns), ms(r->verbs_init_ns), r->reg_mr_calls, r->mr_imports, r->lazy_regs,
			r->shared_ctx, r->nics, r->warm ? "true" : "false");
	}
	fprintf(f, "], \"cold_over_warm\": %.3f", (double)pr[0].r.total_ns / (double)pr[1].r.total_ns);
	for (size_t i = 2; i < n; i++)
		fprintf(f, ", \"process%zu_over_process2\": %.3f", i + 1,
			(double)pr[i].r.total_ns / (double)pr[1].r.total_ns);
	fprintf(f, "}\n");
	if (f != stdout && fclose(f)) {
		fprintf(stderr, "%s: --json %s: %s\n", prog, o->json, strerror(errno));
		return -EIO;
	}
	return 0;
}

/* Run process i; 0 once it reported ready, else a message was printed. */
static int run_one(const struct startup_opts *o, struct proc *pr, size_t i)
{
	int ret;

	pr->cold = i == 0;
	pr->report_fd = pr->hold_fd = -1;
	ret = spawn(o, pr);
	if (ret) {
		fprintf(stderr, "%s: starting process %zu: %s\n", prog, i + 1, strerror(-ret));
		return ret;
	}
	ret = await_report(pr, o->timeout_s);
	if (ret == -ETIMEDOUT)
		fprintf(stderr, "%s: process %zu was not ready within %" PRIu64 " s\n", prog, i + 1,
			o->timeout_s);
	else if (ret)
		fprintf(stderr, "%s: process %zu ended without a report (see its messages above)\n",
			prog, i + 1);
	else if (pr->r.err)
		fprintf(stderr, "%s: process %zu (%s): %s: %s\n", prog, i + 1,
			pr->cold ? "cold" : "warm", pr->r.step, mcx_strerror(pr->r.err));
	return ret ? ret : pr->r.err;
}

static int parent_main(const struct startup_opts *o)
{
	struct proc pr[MAX_PROCS] = { 0 };
	struct mcx_registry *reg = NULL;
	struct mcx_reg_lookup l;
	struct utsname un;
	size_t started = 0;
	uint64_t id = 0;
	int ret, status = EXIT_FAIL;

	ret = mcx_registry_open(&reg);
	if (ret) {
		fprintf(stderr, "%s: /dev/mcxfer: %s (this benchmark needs the module)\n", prog,
			mcx_strerror(ret));
		return EXIT_FAIL;
	}
	/* A leftover entry would make process 1 a hit, not a cold start. */
	if (mcx_registry_lookup(reg, o->name, 0, 0, &l) == 0) {
		fprintf(stderr, "%s: '%s' is in the registry already (entry %" PRIu64
			"): evict it (mcxfer-tool evict %" PRIu64 ") or pick another --name\n",
			prog, o->name, l.id, l.id);
		mcx_registry_close(reg);
		return EXIT_FAIL;
	}
	if (uname(&un))
		snprintf(un.release, sizeof(un.release), "unknown");

	for (size_t i = 0; i < o->procs; i++) {
		ret = run_one(o, &pr[i], i);
		started = i + 1;
		if (pr[i].r.registry_id)
			id = pr[i].r.registry_id;
		if (ret)
			goto out;
		if (i == 0 && finish(&pr[0], o->kill_cold) != 0) {
			fprintf(stderr, "%s: process 1 did not exit cleanly\n", prog);
			goto out;
		}
	}
	print_table(o, pr, o->procs, un.release);
	status = 0;
	if (o->json && write_json(o, pr, o->procs, un.release))
		status = EXIT_FAIL;
out:
	for (size_t i = 0; i < started; i++) {
		int st = finish(&pr[i], status != 0);

		if (st) {
			fprintf(stderr, "%s: process %zu exited with status %d\n", prog, i + 1, st);
			status = EXIT_FAIL;
		}
	}
	if (id && !o->keep) {
		uint64_t evicted = 0;

		ret = mcx_registry_evict(reg, id, 0, &evicted);
		if (ret && ret != -ENOENT) {
			fprintf(stderr, "%s: evicting entry %" PRIu64 ": %s\n", prog, id,
				mcx_strerror(ret));
			status = EXIT_FAIL;
		}
	} else if (id) {
		printf("  entry %" PRIu64 " kept (--keep)\n", id);
	}
	mcx_registry_close(reg);
	return status;
}

int bench_startup_main(int argc, char **argv)
{
	struct startup_opts o = { .procs = 4, .timeout_s = 600 };
	char default_name[MCX_NAME_MAX];
	const char *child = NULL;
	int ret;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return usage(stdout);
		if (!strcmp(a, "--kill")) {
			o.kill_cold = true;
			continue;
		}
		if (!strcmp(a, "--keep")) {
			o.keep = true;
			continue;
		}
		if (strncmp(a, "--", 2)) {
			fprintf(stderr, "%s: unexpected argument '%s'\n", prog, a);
			return usage(stderr);
		}
		if (!v)
			return bad(a, "", -EINVAL, "a value after it");
		i++;
		if (!strcmp(a, "--size")) {
			if ((ret = parse_size_arg(v, 4096, 1ULL << 40, &o.size)) || o.size % 4096)
				return bad(a, v, ret ? ret : -EINVAL, "whole pages, 4K..1T");
		} else if (!strcmp(a, "--procs")) {
			if ((ret = parse_u64_arg(v, 2, MAX_PROCS, &o.procs)))
				return bad(a, v, ret, "2..16");
		} else if (!strcmp(a, "--timeout")) {
			if ((ret = parse_u64_arg(v, 1, 86400, &o.timeout_s)))
				return bad(a, v, ret, "1..86400 seconds");
		} else if (!strcmp(a, "--devices")) {
			o.devices = v;
		} else if (transport_arg_is(a)) {
			if ((ret = transport_arg_parse(prog, a, v, &o.ta)))
				return ret;
		} else if (!strcmp(a, "--name")) {
			if (!*v || strlen(v) >= MCX_NAME_MAX)
				return bad(a, v, -EINVAL, "a registry name of 1..63 bytes");
			o.name = v;
		} else if (!strcmp(a, "--json")) {
			o.json = v;
		} else if (!strcmp(a, "--child")) {
			/* hidden: the parent runs its processes this way */
			if (strcmp(v, "cold") && strcmp(v, "warm"))
				return bad(a, v, -EINVAL, "cold or warm");
			child = v;
		} else {
			fprintf(stderr, "%s: unknown option '%s'\n", prog, a);
			return usage(stderr);
		}
	}
	if (!o.size) {
		fprintf(stderr, "%s: --size is required\n", prog);
		return usage(stderr);
	}
	if (transport_arg_check(prog, &o.ta))
		return EXIT_USAGE;
	if (!o.name) {
		snprintf(default_name, sizeof(default_name), "bench/startup/%d", (int)getpid());
		o.name = default_name;
	}
	if (child)
		return child_main(&o, !strcmp(child, "cold"));
	return parent_main(&o);
}
