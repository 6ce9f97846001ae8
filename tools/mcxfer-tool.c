// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * mcxfer-tool: inspect and evict the entries of the mcxfer registry.
 *
 *   mcxfer-tool info [--json]
 *   mcxfer-tool list [--json]
 *   mcxfer-tool evict ID | --idle | --revoke ID
 *   mcxfer-tool devices [--json] [--relaxed-ordering 0|1|2] [--provider NAME] [--topology]
 *
 * Exit status: 0 done, 1 the registry refused or failed, 2 bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/types.h>

#include "mcxfer.h"
#include "common/exit_status.h"
#include "common/parse.h"

static const char *prog = "mcxfer-tool";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s COMMAND [OPTIONS]\n"
		"\n"
		"Inspect and evict the entries of the mcxfer registry (/dev/mcxfer, or\n"
		"the device named by MCX_REGISTRY_DEV).\n"
		"\n"
		"commands:\n"
		"  info [--json]      module limits and statistics\n"
		"  list [--json]      every entry you may see: id, name, owner, exporter,\n"
		"                     bytes, state, holders, refs, hits, age, idle, MRs;\n"
		"                     then, where the module tells you (your entries),\n"
		"                     each MR per device and each holder process\n"
		"  evict ID           drop the lingering entry ID (owner or CAP_SYS_ADMIN)\n"
		"  evict --idle       drop every lingering entry you may evict\n"
		"  evict --revoke ID  kill your entry ID even while others hold it\n"
		"  devices [--json] [--relaxed-ordering 0|1|2] [--provider NAME] [--topology]\n"
		"                     every RDMA device port: state, link layer, active\n"
		"                     MTU, GIDs with their types, the GID auto-selection\n"
		"                     picks, relaxed-ordering decision under the policy\n"
		"                     (default: MCX_IB_RELAXED_ORDERING, else 2) and why,\n"
		"                     device limits; then the libfabric provider the\n"
		"                     fabric transport would use (default:\n"
		"                     MCX_FABRIC_PROVIDER, else auto: efa, then\n"
		"                     verbs;ofi_rxm, then tcp;ofi_rxm) and its domains:\n"
		"                     mr_mode, max message size, tx queue size, HMEM;\n"
		"                     needs no mcxfer module\n"
		"  help               this text\n"
		"\n"
		"exit status: 0 done, 1 the registry refused or failed, 2 bad usage\n",
		prog);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return EXIT_USAGE;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, mcx_strerror(err));
	return EXIT_FAIL;
}

static int open_registry(struct mcx_registry **reg)
{
	int ret = mcx_registry_open(reg);

	if (ret)
		return fail("cannot open the registry", ret);
	return 0;
}

/* ---- formatting ---- */

static const char *state_name(uint32_t state, char *buf, size_t len)
{
	switch (state) {
	case MCX_REG_ACTIVE: return "active";
	case MCX_REG_LINGER: return "linger";
	case MCX_REG_DEAD: return "dead";
	}
	snprintf(buf, len, "state%" PRIu32, state);
	return buf;
}

static const char *share_name(uint32_t share, char *buf, size_t len)
{
	switch (share) {
	case MCX_SHARE_OWNER: return "owner";
	case MCX_SHARE_GROUP: return "group";
	case MCX_SHARE_ALL: return "all";
	}
	snprintf(buf, len, "share%" PRIu32, share);
	return buf;
}

static const char *fmt_bytes(uint64_t b, char *buf, size_t len)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)b;
	int u = -1;

	if (b < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", b);
		return buf;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

static const char *fmt_ms(uint64_t ms, char *buf, size_t len)
{
	uint64_t s = ms / 1000;

	if (ms < 1000)
		snprintf(buf, len, "%" PRIu64 "ms", ms);
	else if (s < 60)
		snprintf(buf, len, "%.1fs", (double)ms / 1000);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
	else
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s / 3600 % 24);
	return buf;
}

static const char *fmt_cap(uint64_t v, int bytes, char *buf, size_t len)
{
	if (!v)
		return "unlimited";
	if (bytes) {
		char h[32];

		snprintf(buf, len, "%s (%" PRIu64 ")", fmt_bytes(v, h, sizeof(h)), v);
		return buf;
	}
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

/* The user name of uid, or the number when it has none. */
static const char *user_name(uint32_t uid, char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char pwbuf[1024];

	if (getpwuid_r((uid_t)uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
		snprintf(buf, len, "%s", res->pw_name);
	else
		snprintf(buf, len, "%" PRIu32, uid);
	return buf;
}

/* A JSON string; names are restricted by the ABI, but exporters are not. */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* ---- info ---- */

/*
 * The arguments of the read-only commands (info, list): --json or --help.
 * Returns -1 to go on, else the exit status the command returns at once;
 * bad_fmt names the command in the message for anything else.
 */
static int json_only_args(int argc, char **argv, const char *bad_fmt, int *json)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			*json = 1;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			return usage_error(bad_fmt, argv[i]);
		}
	}
	return -1;
}

static int cmd_info(int argc, char **argv)
{
	struct mcx_registry *reg;
	struct mcx_reg_info in;
	char b1[64], b2[64];
	int json = 0, ret;

	ret = json_only_args(argc, argv, "info: unexpected argument '%s'", &json);
	if (ret >= 0)
		return ret;
	ret = open_registry(&reg);
	if (ret)
		return ret;
	ret = mcx_registry_info(reg, &in);
	mcx_registry_close(reg);
	if (ret)
		return fail("info", ret);

	if (json) {
		printf("{\"abi_version\": %" PRIu32 ", \"linger_ms\": %" PRIu32
		       ", \"max_pinned_bytes\": %" PRIu64 ", \"max_entries\": %" PRIu64
		       ", \"user_max_pinned_bytes\": %" PRIu64 ", \"user_max_entries\": %" PRIu64
		       ", \"pins\": %" PRIu64 ", \"hits\": %" PRIu64 ", \"misses\": %" PRIu64
		       ", \"unpins\": %" PRIu64 ", \"lookups\": %" PRIu64
		       ", \"evictions\": %" PRIu64 ", \"invalidations\": %" PRIu64
		       ", \"bytes_pinned\": %" PRIu64 ", \"entries\": %" PRIu64
		       ", \"entries_active\": %" PRIu64 ", \"entries_linger\": %" PRIu64
		       ", \"entries_dead\": %" PRIu64 ", \"mrs\": %" PRIu64
		       ", \"clients\": %" PRIu64 ", \"contexts\": %" PRIu64 "}\n",
		       in.abi_version, in.linger_ms, in.max_pinned_bytes, in.max_entries,
		       in.user_max_pinned_bytes, in.user_max_entries, in.pins, in.hits,
		       in.misses, in.unpins, in.lookups, in.evictions, in.invalidations,
		       in.bytes_pinned, in.entries, in.entries_active, in.entries_linger,
		       in.entries_dead, in.mrs, in.clients, in.contexts);
		return 0;
	}
	printf("mcxfer registry, ABI %" PRIu32 "\n", in.abi_version);
	printf("limits:\n");
	printf("  linger time                %s\n", fmt_ms(in.linger_ms, b1, sizeof(b1)));
	printf("  max pinned bytes           %s\n", fmt_cap(in.max_pinned_bytes, 1, b1, sizeof(b1)));
	printf("  max entries                %s\n", fmt_cap(in.max_entries, 0, b1, sizeof(b1)));
	printf("  per-user max pinned bytes  %s\n",
	       fmt_cap(in.user_max_pinned_bytes, 1, b1, sizeof(b1)));
	printf("  per-user max entries       %s\n", fmt_cap(in.user_max_entries, 0, b1, sizeof(b1)));
	printf("entries:\n");
	printf("  total                      %" PRIu64 " (active %" PRIu64 ", lingering %" PRIu64
	       ", dead %" PRIu64 ")\n", in.entries, in.entries_active, in.entries_linger,
	       in.entries_dead);
	printf("  bytes pinned               %s (%" PRIu64 ")\n",
	       fmt_bytes(in.bytes_pinned, b2, sizeof(b2)), in.bytes_pinned);
	printf("  published MRs              %" PRIu64 "\n", in.mrs);
	printf("  clients                    %" PRIu64 "\n", in.clients);
	printf("  shared device contexts     %" PRIu64 "\n", in.contexts);
	printf("statistics:\n");
	printf("  pins                       %" PRIu64 " (hits %" PRIu64 ", misses %" PRIu64 ")\n",
	       in.pins, in.hits, in.misses);
	printf("  unpins                     %" PRIu64 "\n", in.unpins);
	printf("  lookups                    %" PRIu64 "\n", in.lookups);
	printf("  evictions                  %" PRIu64 "\n", in.evictions);
	printf("  invalidations              %" PRIu64 "\n", in.invalidations);
	return 0;
}

/* ---- list ---- */

/* What list shows of an entry's MRs and holders, when the module says. */
#define ROW_MAX_MRS	64
#define ROW_MAX_HOLDERS	32

struct row {
	struct mcx_reg_entry e;
	char owner[64];
	struct mcx_reg_mr mrs[ROW_MAX_MRS];
	size_t nr_mrs;
	struct mcx_reg_holder holders[ROW_MAX_HOLDERS];
	size_t nr_holders;	/* 0 also when the module does not say (not ours) */
};

/*
 * MR handles are the owner's alone, so only one's own entries are walked;
 * the uverbs fd each GET_MR hands out is closed at once.
 */
static void row_details(struct mcx_registry *reg, struct row *r)
{
	int ret;

	r->nr_mrs = 0;
	r->nr_holders = 0;
	if (r->e.owner_uid == (uint32_t)geteuid()) {
		while (r->nr_mrs < ROW_MAX_MRS &&
		       !mcx_registry_get_mr(reg, r->e.id, NULL, (uint32_t)r->nr_mrs,
					    &r->mrs[r->nr_mrs])) {
			close(r->mrs[r->nr_mrs].uverbs_fd);
			r->mrs[r->nr_mrs].uverbs_fd = -1;
			r->nr_mrs++;
		}
	}
	ret = mcx_registry_holders(reg, r->e.id, r->holders, ROW_MAX_HOLDERS, NULL);
	if (ret > 0)
		r->nr_holders = (size_t)ret;
}

static int collect(struct mcx_registry *reg, struct row **rows, size_t *n)
{
	struct mcx_reg_cursor *cur = NULL;
	size_t cap = 0;
	int ret;

	*rows = NULL;
	*n = 0;
	for (;;) {
		struct mcx_reg_entry e;

		ret = mcx_registry_list(reg, &cur, &e);
		if (ret <= 0)
			break;
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct row *nr = realloc(*rows, ncap * sizeof(**rows));

			if (!nr) {
				mcx_reg_cursor_free(cur);
				ret = -ENOMEM;
				break;
			}
			*rows = nr;
			cap = ncap;
		}
		(*rows)[*n].e = e;
		user_name(e.owner_uid, (*rows)[*n].owner, sizeof((*rows)[*n].owner));
		row_details(reg, &(*rows)[*n]);
		(*n)++;
	}
	if (ret < 0) {
		free(*rows);
		*rows = NULL;
		*n = 0;
	}
	return ret;
}

static void list_json(const struct row *rows, size_t n)
{
	char b1[32], b2[32];

	printf("[");
	for (size_t i = 0; i < n; i++) {
		const struct mcx_reg_entry *e = &rows[i].e;

		printf("%s\n  {\"id\": %" PRIu64 ", \"name\": ", i ? "," : "", e->id);
		json_str(e->name);
		printf(", \"owner\": ");
		json_str(rows[i].owner);
		printf(", \"owner_uid\": %" PRIu32 ", \"owner_gid\": %" PRIu32 ", \"share\": \"%s\""
		       ", \"exporter\": ", e->owner_uid, e->owner_gid,
		       share_name(e->share, b1, sizeof(b1)));
		json_str(e->exporter);
		printf(", \"ibdev\": ");
		json_str(e->ibdev);
		printf(", \"offset\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"dmabuf_size\": %" PRIu64
		       ", \"state\": \"%s\", \"holders\": %" PRIu32 ", \"refs\": %" PRIu32
		       ", \"hits\": %" PRIu64 ", \"age_ms\": %" PRIu64 ", \"idle_ms\": %" PRIu64
		       ", \"mrs\": %" PRIu32 ", \"no_linger\": %s",
		       e->offset, e->length, e->dmabuf_size, state_name(e->state, b2, sizeof(b2)),
		       e->holders, e->refs, e->hits, e->age_ms, e->idle_ms, e->nr_mrs,
		       (e->flags & MCX_PIN_NO_LINGER) ? "true" : "false");
		printf(", \"mr_list\": [");
		for (size_t m = 0; m < rows[i].nr_mrs; m++) {
			const struct mcx_reg_mr *mr = &rows[i].mrs[m];

			printf("%s{\"mr_id\": %" PRIu64 ", \"ibdev\": ", m ? ", " : "", mr->mr_id);
			json_str(mr->ibdev);
			printf(", \"offset\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"iova\": %" PRIu64
			       ", \"lkey\": %" PRIu32 ", \"rkey\": %" PRIu32 "}", mr->offset,
			       mr->length, mr->iova, mr->lkey, mr->rkey);
		}
		printf("], \"holder_list\": [");
		for (size_t h = 0; h < rows[i].nr_holders; h++) {
			const struct mcx_reg_holder *ho = &rows[i].holders[h];

			printf("%s{\"pid\": %" PRIu32 ", \"comm\": ", h ? ", " : "", ho->pid);
			json_str(ho->comm);
			printf(", \"uid\": %" PRIu32 ", \"refs\": %" PRIu32 ", \"got_mr\": %s}",
			       ho->uid, ho->refs, ho->got_mr ? "true" : "false");
		}
		printf("]}");
	}
	printf("%s]\n", n ? "\n" : "");
}

enum { C_ID, C_NAME, C_OWNER, C_EXP, C_BYTES, C_STATE, C_HOLD, C_REFS, C_HITS, C_AGE,
       C_IDLE, C_MRS, NR_COLS };

static void row_cells(const struct row *r, char cells[NR_COLS][80])
{
	const struct mcx_reg_entry *e = &r->e;
	char st[32];

	snprintf(cells[C_ID], 80, "%" PRIu64, e->id);
	snprintf(cells[C_NAME], 80, "%s", e->name[0] ? e->name : "-");
	snprintf(cells[C_OWNER], 80, "%s", r->owner);
	snprintf(cells[C_EXP], 80, "%s", e->exporter[0] ? e->exporter : "-");
	fmt_bytes(e->length, cells[C_BYTES], 80);
	snprintf(cells[C_STATE], 80, "%s", state_name(e->state, st, sizeof(st)));
	snprintf(cells[C_HOLD], 80, "%" PRIu32, e->holders);
	snprintf(cells[C_REFS], 80, "%" PRIu32, e->refs);
	snprintf(cells[C_HITS], 80, "%" PRIu64, e->hits);
	fmt_ms(e->age_ms, cells[C_AGE], 80);
	if (e->state == MCX_REG_ACTIVE)
		snprintf(cells[C_IDLE], 80, "-");
	else
		fmt_ms(e->idle_ms, cells[C_IDLE], 80);
	snprintf(cells[C_MRS], 80, "%" PRIu32, e->nr_mrs);
}

/* Below the table, so that its columns stay what scripts parse. */
static void list_details(const struct row *rows, size_t n)
{
	char b[32];

	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];

		if (!r->nr_mrs && !r->nr_holders)
			continue;
		printf("\nentry %" PRIu64 " %s:\n", r->e.id, r->e.name[0] ? r->e.name : "-");
		for (size_t m = 0; m < r->nr_mrs; m++)
			printf("  MR %" PRIu64 " on %s: offset %" PRIu64 ", %s, lkey 0x%" PRIx32
			       ", rkey 0x%" PRIx32 "\n", r->mrs[m].mr_id, r->mrs[m].ibdev,
			       r->mrs[m].offset, fmt_bytes(r->mrs[m].length, b, sizeof(b)),
			       r->mrs[m].lkey, r->mrs[m].rkey);
		for (size_t h = 0; h < r->nr_holders; h++) {
			const struct mcx_reg_holder *ho = &r->holders[h];

			if (ho->pid)
				printf("  holder pid %" PRIu32 " (%s)", ho->pid, ho->comm);
			else
				printf("  holder pid ? (%s)", ho->comm);
			printf(", uid %" PRIu32 ", %" PRIu32 " ref%s%s\n", ho->uid, ho->refs,
			       ho->refs == 1 ? "" : "s", ho->got_mr ? ", got MRs" : "");
		}
	}
}

static void list_table(const struct row *rows, size_t n)
{
	static const char *const head[NR_COLS] = {
		"ID", "NAME", "OWNER", "EXPORTER", "BYTES", "STATE", "HOLDERS", "REFS",
		"HITS", "AGE", "IDLE", "MRS",
	};
	/* Text columns are left-aligned, numbers right-aligned. */
	static const int left[NR_COLS] = { [C_NAME] = 1, [C_OWNER] = 1, [C_EXP] = 1, [C_STATE] = 1 };
	char cells[NR_COLS][80];
	int width[NR_COLS];

	if (!n) {
		printf("no entries\n");
		return;
	}
	for (int c = 0; c < NR_COLS; c++)
		width[c] = (int)strlen(head[c]);
	for (size_t i = 0; i < n; i++) {
		row_cells(&rows[i], cells);
		for (int c = 0; c < NR_COLS; c++)
			if ((int)strlen(cells[c]) > width[c])
				width[c] = (int)strlen(cells[c]);
	}
	for (int c = 0; c < NR_COLS; c++)
		printf("%s%*s", c ? "  " : "", left[c] ? -width[c] : width[c], head[c]);
	putchar('\n');
	for (size_t i = 0; i < n; i++) {
		row_cells(&rows[i], cells);
		for (int c = 0; c < NR_COLS; c++)
			printf("%s%*s", c ? "  " : "", left[c] ? -width[c] : width[c], cells[c]);
		putchar('\n');
	}
	list_details(rows, n);
}

static int cmd_list(int argc, char **argv)
{
	struct mcx_registry *reg;
	struct row *rows;
	int json = 0, ret;
	size_t n;

	ret = json_only_args(argc, argv, "list: unexpected argument '%s'", &json);
	if (ret >= 0)
		return ret;
	ret = open_registry(&reg);
	if (ret)
		return ret;
	ret = collect(reg, &rows, &n);
	mcx_registry_close(reg);
	if (ret < 0)
		return fail("list", ret);
	if (json)
		list_json(rows, n);
	else
		list_table(rows, n);
	free(rows);
	return 0;
}

/* ---- evict ---- */

static int cmd_evict(int argc, char **argv)
{
	struct mcx_registry *reg;
	uint64_t id = 0, evicted = 0;
	const char *id_arg = NULL;
	int idle = 0, revoke = 0, ret;
	char what[64];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--idle")) {
			idle = 1;
		} else if (!strcmp(argv[i], "--revoke")) {
			revoke = 1;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return usage_error("evict: unknown option '%s'", argv[i]);
		} else if (id_arg) {
			return usage_error("evict: more than one ID ('%s')", argv[i]);
		} else {
			id_arg = argv[i];
		}
	}
	if (idle && revoke)
		return usage_error("evict: %s", "--idle and --revoke do not go together");
	if (idle && id_arg)
		return usage_error("evict: give either an ID or --idle, not both ('%s')", id_arg);
	if (!idle && !id_arg)
		return usage_error("evict: %s", "missing ID (or --idle)");
	if (id_arg) {
		ret = parse_u64_arg(id_arg, 1, UINT64_MAX, &id);
		if (ret)
			return usage_error("evict: '%s' is not an entry id (a positive integer)",
					   id_arg);
	}
	ret = open_registry(&reg);
	if (ret)
		return ret;
	ret = mcx_registry_evict(reg, id, idle ? MCX_EVICT_IDLE : revoke ? MCX_EVICT_REVOKE : 0,
				 &evicted);
	mcx_registry_close(reg);
	if (idle)
		snprintf(what, sizeof(what), "evict --idle");
	else
		snprintf(what, sizeof(what), "evict %s%" PRIu64, revoke ? "--revoke " : "", id);
	if (ret)
		return fail(what, ret);
	if (idle)
		printf("evicted %" PRIu64 " lingering entr%s\n", evicted, evicted == 1 ? "y" : "ies");
	else
		printf("%s entry %" PRIu64 "\n", revoke ? "revoked" : "evicted", id);
	return 0;
}

/* ---- devices ---- */

/*
 * What the module reads of each device's PCI function (the Relaxed Ordering
 * enable bit needs config space an ordinary user cannot read).  known[i] is
 * 0 without the module or when it cannot say.
 */
struct module_ro {
	int known;
	struct mcx_reg_device dev;
};

static const char *ro_name(uint32_t ro)
{
	switch (ro) {
	case MCX_REG_RO_ENABLED: return "enabled";
	case MCX_REG_RO_DISABLED: return "disabled";
	case MCX_REG_RO_NO_PCI: return "no PCI function";
	}
	return "?";
}

static void module_ro_query(const struct mcx_device_info *d, size_t n, struct module_ro *out)
{
	const char *path = getenv("MCX_REGISTRY_DEV");
	struct mcx_registry *reg;

	memset(out, 0, n * sizeof(*out));
	/* without the module this is no error: say "unknown" quietly */
	if (access(path && *path ? path : "/dev/mcxfer", F_OK) || mcx_registry_open(&reg))
		return;
	for (size_t i = 0; i < n; i++)
		out[i].known = !mcx_registry_query_device(reg, d[i].name, &out[i].dev);
	mcx_registry_close(reg);
}

static void devices_json(const struct mcx_device_info *d, size_t n, int policy,
			 const struct module_ro *ro)
{
	printf("{\"relaxed_ordering_policy\":%d,\"devices\":[", policy);
	for (size_t i = 0; i < n; i++) {
		printf("%s{\"name\":", i ? "," : "");
		json_str(d[i].name);
		printf(",\"port\":%" PRIu32 ",\"state\":", d[i].port);
		json_str(d[i].state);
		printf(",\"link_layer\":");
		json_str(d[i].link_layer);
		printf(",\"active_mtu\":%" PRIu32 ",\"gid_index_auto\":%d,"
		       "\"max_mr_size\":%" PRIu64 ",\"max_mr\":%" PRIu32 ","
		       "\"max_qp_wr\":%" PRIu32 ",\"max_cqe\":%" PRIu32 ","
		       "\"relaxed_ordering\":%s,\"relaxed_ordering_reason\":",
		       d[i].active_mtu, d[i].gid_index, d[i].max_mr_size, d[i].max_mr,
		       d[i].max_qp_wr, d[i].max_cqe, d[i].relaxed ? "true" : "false");
		json_str(d[i].relaxed_reason);
		printf(",\"module_relaxed_ordering\":");
		json_str(ro[i].known ? ro_name(ro[i].dev.relaxed_ordering) : "unknown");
		printf(",\"pci_function\":");
		json_str(ro[i].known ? ro[i].dev.pci_name : "");
		printf(",\"numa_node\":%d", ro[i].known ? ro[i].dev.numa_node : -1);
		printf(",\"gids\":[");
		for (size_t g = 0; g < d[i].nr_gids; g++) {
			printf("%s{\"index\":%" PRIu32 ",\"type\":", g ? "," : "",
			       d[i].gids[g].index);
			json_str(d[i].gids[g].type);
			printf(",\"gid\":");
			json_str(d[i].gids[g].gid);
			printf(",\"netdev\":");
			json_str(d[i].gids[g].netdev);
			printf("}");
		}
		printf("]}");
	}
	printf("]");
}

static void devices_text(const struct mcx_device_info *d, size_t n, int policy,
			 const struct module_ro *ro)
{
	char b[64];

	if (n == 0) {
		printf("no RDMA devices\n");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		printf("%s port %" PRIu32 ": %s, %s, active MTU %" PRIu32 "\n", d[i].name,
		       d[i].port, d[i].state, d[i].link_layer, d[i].active_mtu);
		printf("  max MR size %s (%" PRIu64 " bytes), max MRs %" PRIu32
		       ", max QP WRs %" PRIu32 ", max CQEs %" PRIu32 "\n",
		       fmt_bytes(d[i].max_mr_size, b, sizeof(b)), d[i].max_mr_size,
		       d[i].max_mr, d[i].max_qp_wr, d[i].max_cqe);
		printf("  relaxed ordering (policy %d): %s\n", policy, d[i].relaxed_reason);
		if (!ro[i].known)
			printf("  relaxed ordering per mcxfer module: unknown (module not loaded)\n");
		else if (ro[i].dev.pci_name[0])
			printf("  relaxed ordering per mcxfer module: %s (PCI %s, NUMA node %d)\n",
			       ro_name(ro[i].dev.relaxed_ordering), ro[i].dev.pci_name,
			       ro[i].dev.numa_node);
		else
			printf("  relaxed ordering per mcxfer module: %s\n",
			       ro_name(ro[i].dev.relaxed_ordering));
		if (d[i].gid_index >= 0)
			printf("  GID auto-selection: index %d\n", d[i].gid_index);
		else
			printf("  GID auto-selection: none (no RoCE v2 IPv4-mapped GID)\n");
		for (size_t g = 0; g < d[i].nr_gids; g++)
			printf("  GID %3" PRIu32 " %-10s %-40s %s\n", d[i].gids[g].index,
			       d[i].gids[g].type[0] ? d[i].gids[g].type : "?", d[i].gids[g].gid,
			       d[i].gids[g].netdev);
	}
}

/* ---- devices: the libfabric part ---- */

/* Where the provider asked for came from, for the heading. */
static const char *provider_source(const char *opt)
{
	if (opt)
		return "--provider";
	if (getenv("MCX_FABRIC_PROVIDER"))
		return "MCX_FABRIC_PROVIDER";
	return "default";
}

static void fabric_json(const struct mcx_fabric_info *fi, const char *opt)
{
	printf(",\"fabric\":{\"libfabric_version\":\"%" PRIu32 ".%" PRIu32 "\",\"requested\":",
	       fi->version >> 16, fi->version & 0xffff);
	json_str(fi->requested);
	printf(",\"requested_by\":");
	json_str(provider_source(opt));
	printf(",\"provider\":");
	if (fi->provider[0])
		json_str(fi->provider);
	else
		printf("null");
	printf(",\"dmabuf_build\":%s,\"domains\":[", fi->dmabuf ? "true" : "false");
	for (size_t i = 0; i < fi->nr_domains; i++) {
		const struct mcx_fabric_domain *d = &fi->domains[i];
		const char *p = d->mr_mode_names;

		printf("%s{\"domain\":", i ? "," : "");
		json_str(d->domain);
		printf(",\"fabric\":");
		json_str(d->fabric);
		printf(",\"address\":");
		json_str(d->address);
		printf(",\"used\":%s,\"mr_mode\":%" PRIu64 ",\"mr_mode_flags\":[",
		       d->used ? "true" : "false", d->mr_mode);
		for (int first = 1; *p; first = 0) {
			size_t l = strcspn(p, "|");

			printf("%s\"%.*s\"", first ? "" : ",", (int)l, p);
			p += l + (p[l] == '|');
		}
		printf("],\"max_msg_size\":%" PRIu64 ",\"tx_size\":%" PRIu64 ",\"max_mr_size\":",
		       d->max_msg_size, d->tx_size);
		if (d->max_mr_size)
			printf("%" PRIu64, d->max_mr_size);
		else
			printf("null");
		printf(",\"mr_key_size\":%" PRIu32 ",\"hmem\":%s}", d->mr_key_size,
		       d->hmem ? "true" : "false");
	}
	printf("]}");
}

static void fabric_text(const struct mcx_fabric_info *fi, const char *opt)
{
	const char *src = provider_source(opt);
	char b[64];

	printf("\nlibfabric %" PRIu32 ".%" PRIu32 " (MCX_TRANSPORT=fabric), provider ",
	       fi->version >> 16, fi->version & 0xffff);
	if (!strcmp(src, "default"))
		printf("auto (efa, then verbs;ofi_rxm, then tcp;ofi_rxm): ");
	else
		printf("%s from %s: ", fi->requested, src);
	if (!fi->provider[0]) {
		printf("%s reliable-datagram endpoints with RMA here\n",
		       strcasecmp(fi->requested, "auto") ? "it offers no" : "none of them offers");
		return;
	}
	printf("%s, %zu domain%s\n", fi->provider, fi->nr_domains, fi->nr_domains == 1 ? "" : "s");
	for (size_t i = 0; i < fi->nr_domains; i++) {
		const struct mcx_fabric_domain *d = &fi->domains[i];

		printf("%s (fabric %s%s%s): %s\n", d->domain, d->fabric[0] ? d->fabric : "-",
		       d->address[0] ? ", address " : "", d->address,
		       d->used ? "used" : d->mr_key_size > 8 ? "not used (keys over 64 bits)" :
		       "used only when named (loopback)");
		printf("  mr_mode %s (0x%" PRIx64 ")\n", d->mr_mode_names[0] ? d->mr_mode_names : "none",
		       d->mr_mode);
		printf("  max message size %s (%" PRIu64 " bytes), tx queue size %" PRIu64
		       " (the in-flight cap), key size %" PRIu32 " bytes\n",
		       fmt_bytes(d->max_msg_size, b, sizeof(b)), d->max_msg_size, d->tx_size,
		       d->mr_key_size);
		if (d->max_mr_size)
			printf("  max MR size %s (%" PRIu64 " bytes)\n",
			       fmt_bytes(d->max_mr_size, b, sizeof(b)), d->max_mr_size);
		else
			printf("  max MR size not reported by libfabric (registrations are chunked)\n");
		printf("  HMEM: %s; dma-buf registration (FI_MR_DMABUF): %s\n",
		       d->hmem ? "FI_HMEM offered" : "no FI_HMEM",
		       fi->dmabuf ? "built in" : "not in this build's libfabric (before 1.20)");
	}
}

static const char *distance_name(int d)
{
	switch (d) {
	case MCX_PCI_SAME_SWITCH: return "SWITCH";
	case MCX_PCI_SAME_ROOT_PORT: return "ROOTPORT";
	case MCX_PCI_SAME_NUMA: return "NUMA";
	case MCX_PCI_OTHER: return "OTHER";
	}
	return "-";
}

/* The GPU x NIC matrix of PCI distances (sysfs only: no CUDA, no verbs). */
static int devices_topology(int json)
{
	struct mcx_topology *t;
	int ret = mcx_topology_query(&t);

	if (ret)
		return fail("reading the PCI topology", ret);
	if (json) {
		printf("{\"gpus\":[");
		for (size_t g = 0; g < t->nr_gpus; g++) {
			printf("%s{\"pci\":\"%s\",\"numa\":%d,\"nics\":{", g ? "," : "",
			       t->gpus[g].pci, t->gpus[g].numa);
			for (size_t k = 0; k < t->nr_nics; k++)
				printf("%s\"%s\":\"%s\"", k ? "," : "", t->nics[k].name,
				       distance_name(t->distance[g * t->nr_nics + k]));
			printf("}}");
		}
		printf("]}\n");
	} else if (!t->nr_gpus) {
		printf("no NVIDIA GPUs on the PCI bus\n");
	} else {
		printf("%-14s %4s", "GPU", "NUMA");
		for (size_t k = 0; k < t->nr_nics; k++)
			printf(" %9s", t->nics[k].name);
		printf("\n");
		for (size_t g = 0; g < t->nr_gpus; g++) {
			printf("%-14s %4d", t->gpus[g].pci, t->gpus[g].numa);
			for (size_t k = 0; k < t->nr_nics; k++)
				printf(" %9s", distance_name(t->distance[g * t->nr_nics + k]));
			printf("\n");
		}
		if (!t->nr_nics)
			printf("no RDMA devices\n");
		printf("SWITCH: same PCIe switch, ROOTPORT: same root port, NUMA: same NUMA node, OTHER: across nodes, -: no PCI function.\n"
		       "GPU memory is registered on the nearest NICs of its GPU (MCX_GPU_NICS=local, the default) or on all (MCX_GPU_NICS=all).\n");
	}
	mcx_topology_free(t);
	return 0;
}

static int cmd_devices(int argc, char **argv)
{
	struct mcx_device_info *devs = NULL;
	const char *env = getenv("MCX_IB_RELAXED_ORDERING");
	const char *provider = NULL;
	struct mcx_fabric_info *fabric;
	struct module_ro *ro;
	uint64_t policy = 2;
	size_t n = 0;
	int json = 0, topology = 0, ret;

	if (env && parse_u64_arg(env, 0, 2, &policy))
		return usage_error("MCX_IB_RELAXED_ORDERING=\"%s\": expected 0, 1 or 2", env);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--topology")) {
			topology = 1;
		} else if (!strcmp(argv[i], "--provider")) {
			if (i + 1 == argc)
				return usage_error("%s needs a libfabric provider name", argv[i]);
			provider = argv[++i];
		} else if (!strcmp(argv[i], "--relaxed-ordering")) {
			if (i + 1 == argc)
				return usage_error("%s needs 0, 1 or 2", argv[i]);
			if (parse_u64_arg(argv[++i], 0, 2, &policy))
				return usage_error("--relaxed-ordering '%s': expected 0, 1 or 2",
						   argv[i]);
		} else {
			return usage_error("devices: unknown option '%s'", argv[i]);
		}
	}
	if (topology)
		return devices_topology(json);
	/* First: a bad provider name is a usage error, before any output. */
	ret = mcx_fabric_query(provider, &fabric);
	if (ret == -EINVAL && provider)
		return usage_error("--provider '%s': expected \"auto\" or a libfabric provider name (1..31 characters of [A-Za-z0-9_;])",
				   provider);
	if (ret == -EINVAL)
		return usage_error("MCX_FABRIC_PROVIDER=\"%s\": expected \"auto\" or a libfabric provider name (1..31 characters of [A-Za-z0-9_;])",
				   getenv("MCX_FABRIC_PROVIDER"));
	if (ret)
		return fail("listing libfabric domains", ret);
	ret = mcx_devices_query((int)policy, &devs, &n);
	if (ret) {
		mcx_fabric_free(fabric);
		return fail("listing RDMA devices", ret);
	}
	ro = calloc(n ? n : 1, sizeof(*ro));
	if (!ro) {
		mcx_devices_free(devs, n);
		mcx_fabric_free(fabric);
		return fail("listing RDMA devices", -ENOMEM);
	}
	module_ro_query(devs, n, ro);
	if (json) {
		devices_json(devs, n, (int)policy, ro);
		fabric_json(fabric, provider);
		printf("}\n");
	} else {
		devices_text(devs, n, (int)policy, ro);
		fabric_text(fabric, provider);
	}
	free(ro);
	mcx_devices_free(devs, n);
	mcx_fabric_free(fabric);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	/* "mcxfer-tool CMD --help" as well: every command's options are in it. */
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
	}
	if (!strcmp(cmd, "info"))
		return cmd_info(argc - 1, argv + 1);
	if (!strcmp(cmd, "list"))
		return cmd_list(argc - 1, argv + 1);
	if (!strcmp(cmd, "evict"))
		return cmd_evict(argc - 1, argv + 1);
	if (!strcmp(cmd, "devices"))
		return cmd_devices(argc - 1, argv + 1);
	return usage_error("unknown command '%s'", cmd);
}
