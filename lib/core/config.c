// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Engine options: defaults, the MCX_* environment overrides and the checks
 * both go through.  Every value is parsed by the strict parsers of env.c, so
 * a typo is an error naming the variable and what it accepts, never a
 * silent 0 or a default.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"

#define KIB		(1024ULL)
#define MIB		(1024ULL * KIB)
#define GIB		(1024ULL * MIB)
#define TIB		(1024ULL * GIB)

#define SLICE_MIN	(4 * KIB)
#define SLICE_MAX	GIB
#define CHUNK_MIN	(4 * KIB)
#define CHUNK_MAX	TIB
#define MAX_WR_MAX	32768
#define REG_THREADS_MAX	256
#define TIMEOUT_MAX	3600000
#define LISTEN_CONNS_DEFAULT	128
#define LISTEN_CONNS_MAX	65536
#define LISTEN_PATHS_DEFAULT	32
#define LISTEN_PATHS_MAX	64	/* MCX_MAX_PATHS */

static const char *const mtu_names[] = { "auto", "256", "512", "1024", "2048", "4096" };
static const int mtu_values[] = { MCX_MTU_AUTO, 256, 512, 1024, 2048, 4096 };

/* Indexed by enum mcx_registry_mode. */
static const char *const registry_names[] = {
	[MCX_REGISTRY_AUTO] = "auto",
	[MCX_REGISTRY_OFF] = "off",
	[MCX_REGISTRY_REQUIRED] = "required",
};

/* Indexed by enum mcx_transport_kind. */
static const char *const transport_names[] = {
	[MCX_TRANSPORT_AUTO] = "auto",
	[MCX_TRANSPORT_VERBS] = "verbs",
	[MCX_TRANSPORT_FABRIC] = "fabric",
};

#define STRIPE_MIN_DEFAULT	(2 * MIB)
#define STRIPE_MIN_MAX		GIB
#define CQ_THREADS_DEFAULT	1
#define CQ_THREADS_MAX		16	/* MCX_TP_MAX_DEVS: one per device at most */

/* Indexed by enum mcx_gpu_nics. */
static const char *const gpu_nics_names[] = {
	[MCX_GPU_NICS_LOCAL] = "local",
	[MCX_GPU_NICS_ALL] = "all",
};

void mcx__opts_defaults(struct mcx_engine_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->devices = NULL;
	o->port = 0;
	o->gid_index = MCX_GID_INDEX_AUTO;
	o->tc = 0;
	o->sl = 0;
	o->mtu = MCX_MTU_AUTO;
	o->slice_size = MIB;
	o->max_wr = 128;
	o->qps_per_pair = 1;
	o->reg_threads = 0;
	o->reg_chunk_size = GIB;
	o->relaxed_ordering = MCX_RO_AUTO;
	o->log_level = -1;
	o->listen = NULL;
	o->timeout_ms = 10000;
	o->poller = 1;
	o->loopback_memcpy = 1;
	o->auth_key_file = NULL;
	o->listen_max_conns = LISTEN_CONNS_DEFAULT;
	o->listen_max_paths = LISTEN_PATHS_DEFAULT;
	o->registry = MCX_REGISTRY_AUTO;
	o->gpu_nics = MCX_GPU_NICS_LOCAL;
	o->transport = MCX_TRANSPORT_AUTO;
	o->fabric_provider = NULL;
	o->fabric_stripe_min = STRIPE_MIN_DEFAULT;
	o->metadata = NULL;
	o->metadata_name = NULL;
	o->metadata_ttl_s = MCX_META_TTL_DEFAULT;
	o->fabric_cq_threads = CQ_THREADS_DEFAULT;
}

MCX_EXPORT void mcx_engine_opts_init(struct mcx_engine_opts *opts)
{
	if (opts)
		mcx__opts_defaults(opts);
}

/* RDMA device names as drivers make them: letters, digits, '_', '.', '-'. */
static bool ibdev_name_ok(const char *name)
{
	if (mcx__check_ibdev(name))
		return false;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' || *c == '-'))
			return false;
	return true;
}

/*
 * "all", or a comma list of device names: no empty element, each a valid
 * RDMA device name.  var names the setting in the message.
 */
static int check_devices(const char *var, const char *s)
{
	const char *p = s;

	if (!strcasecmp(s, "all"))
		return 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char name[MCX_IBDEV_NAME_MAX];

		if (len == 0 || len >= sizeof(name) ||
		    (memcpy(name, p, len), name[len] = '\0', !ibdev_name_ok(name))) {
			mcx__err("%s=\"%s\": expected \"all\" or a comma-separated list of RDMA device names (1..%d characters of [A-Za-z0-9_.-] each)",
				 var, s, MCX_IBDEV_NAME_MAX - 1);
			return -EINVAL;
		}
		if (!comma)
			return 0;
		p = comma + 1;
	}
}



static int check_metadata(const char *var, const char *s)
{
	struct mcx_etcd_url url;

	return mcx__etcd_parse_url(var, s, &url);
}

static int check_metadata_name(const char *var, const char *s)
{
	if (mcx__etcd_name_ok(s))
		return 0;
	mcx__err("%s=\"%s\": expected a name of 1..%d characters [A-Za-z0-9._-]",
		 var, s, MCX_ETCD_NAME_MAX);
	return -EINVAL;
}

static int bad_field(const char *field, long long v, const char *accepted)
{
	mcx__err("engine option %s=%lld: expected %s", field, v, accepted);
	return -EINVAL;
}

int mcx__opts_validate(const struct mcx_engine_opts *o)
{
	char host[256];
	uint16_t port;
	bool mtu_ok = false;

	if (!o)
		return -EINVAL;
	if (o->devices && check_devices("engine option devices", o->devices))
		return -EINVAL;
	if (o->port < 0 || o->port > 255)
		return bad_field("port", o->port, "0 (every active port) or 1..255");
	if (o->gid_index != MCX_GID_INDEX_AUTO && (o->gid_index < 0 || o->gid_index > 255))
		return bad_field("gid_index", o->gid_index, "-1 (auto) or 0..255");
	if (o->tc < 0 || o->tc > 255)
		return bad_field("tc", o->tc, "0..255");
	if (o->sl < 0 || o->sl > 15)
		return bad_field("sl", o->sl, "0..15");
	for (size_t i = 0; i < sizeof(mtu_values) / sizeof(mtu_values[0]); i++)
		mtu_ok |= o->mtu == mtu_values[i];
	if (!mtu_ok)
		return bad_field("mtu", o->mtu, "0 (auto), 256, 512, 1024, 2048 or 4096");
	if (o->slice_size < SLICE_MIN || o->slice_size > SLICE_MAX)
		return bad_field("slice_size", (long long)o->slice_size, "4096..1073741824");
	if (o->max_wr < 1 || o->max_wr > MAX_WR_MAX)
		return bad_field("max_wr", o->max_wr, "1..32768");
	if (o->qps_per_pair < 1 || o->qps_per_pair > MCX_MAX_QPS_PER_PAIR)
		return bad_field("qps_per_pair", o->qps_per_pair, "1..8");
	if (o->reg_threads > REG_THREADS_MAX)
		return bad_field("reg_threads", o->reg_threads, "0 (online CPUs) or 1..256");
	if (o->reg_chunk_size < CHUNK_MIN || o->reg_chunk_size > CHUNK_MAX ||
	    o->reg_chunk_size % CHUNK_MIN)
		return bad_field("reg_chunk_size", (long long)o->reg_chunk_size,
				 "4096..1099511627776, a multiple of 4096");
	if (o->relaxed_ordering < MCX_RO_OFF || o->relaxed_ordering > MCX_RO_AUTO)
		return bad_field("relaxed_ordering", o->relaxed_ordering,
				 "0 (off), 1 (on if supported) or 2 (auto)");
	if (o->log_level < -1 || o->log_level > MCX_LOG_DEBUG)
		return bad_field("log_level", o->log_level, "-1 (keep) or 0..4");
	if (o->listen && mcx__parse_hostport("engine option listen", o->listen,
					     host, sizeof(host), &port))
		return -EINVAL;
	if (o->timeout_ms < 1 || o->timeout_ms > TIMEOUT_MAX)
		return bad_field("timeout_ms", o->timeout_ms, "1..3600000");
	if (o->poller != 0 && o->poller != 1)
		return bad_field("poller", o->poller, "0 or 1");
	if (o->loopback_memcpy != 0 && o->loopback_memcpy != 1)
		return bad_field("loopback_memcpy", o->loopback_memcpy, "0 or 1");
	if (o->listen_max_conns < 2 || o->listen_max_conns > LISTEN_CONNS_MAX)
		return bad_field("listen_max_conns", o->listen_max_conns, "2..65536");
	if (o->listen_max_paths < 1 || o->listen_max_paths > LISTEN_PATHS_MAX)
		return bad_field("listen_max_paths", o->listen_max_paths, "1..64");
	if (o->registry < MCX_REGISTRY_AUTO || o->registry > MCX_REGISTRY_REQUIRED)
		return bad_field("registry", o->registry,
				 "0 (auto), 1 (off) or 2 (required)");
	if (o->gpu_nics != MCX_GPU_NICS_LOCAL && o->gpu_nics != MCX_GPU_NICS_ALL)
		return bad_field("gpu_nics", o->gpu_nics, "0 (local) or 1 (all)");
	if (o->transport < MCX_TRANSPORT_AUTO || o->transport > MCX_TRANSPORT_FABRIC)
		return bad_field("transport", o->transport, "0 (auto), 1 (verbs) or 2 (fabric)");
	if (o->fabric_provider &&
	    mcx__check_fabric_provider("engine option fabric_provider", o->fabric_provider))
		return -EINVAL;
	if (o->fabric_stripe_min > STRIPE_MIN_MAX)
		return bad_field("fabric_stripe_min", (long long)o->fabric_stripe_min,
				 "0..1073741824");
	if (o->fabric_cq_threads > CQ_THREADS_MAX)
		return bad_field("fabric_cq_threads", o->fabric_cq_threads, "0..16");
	if (o->metadata && (strlen(o->metadata) >= sizeof(((struct mcx__opts_store *)0)->metadata) ||
			    check_metadata("engine option metadata", o->metadata)))
		return -EINVAL;
	if (o->metadata_name && check_metadata_name("engine option metadata_name",
						    o->metadata_name))
		return -EINVAL;
	if (o->metadata_ttl_s < MCX_META_TTL_MIN || o->metadata_ttl_s > MCX_META_TTL_MAX)
		return bad_field("metadata_ttl_s", o->metadata_ttl_s, "2..3600");
	if (o->auth_key_file && (o->auth_key_file[0] != '/' ||
				 strlen(o->auth_key_file) >= sizeof(((struct mcx__opts_store *)0)->auth_key_file))) {
		mcx__err("engine option auth_key_file: an absolute path shorter than %zu bytes",
			 sizeof(((struct mcx__opts_store *)0)->auth_key_file));
		return -EINVAL;
	}
	return 0;
}

/*
 * Point *str at a copy of itself in buf (size bytes), so that the options
 * outlive the caller's strings; NULL stays NULL.  -EINVAL when it does not
 * fit.
 */
static int keep_string(const char **str, char *buf, size_t size)
{
	if (!*str)
		return 0;
	if (strlen(*str) >= size)
		return -EINVAL;
	strcpy(buf, *str);
	*str = buf;
	return 0;
}

#define KEEP(field)	keep_string(&o->field, store->field, sizeof(store->field))

int mcx__opts_copy_strings(struct mcx_engine_opts *o, struct mcx__opts_store *store)
{
	if (KEEP(devices) || KEEP(fabric_provider) || KEEP(listen) || KEEP(auth_key_file) ||
	    KEEP(metadata) || KEEP(metadata_name))
		return -EINVAL;
	return 0;
}

#undef KEEP

/* Keep the first error, go on so that every bad variable gets logged. */
#define TAKE(expr)				\
	do {					\
		int r_ = (expr);		\
		if (r_ < 0 && !err)		\
			err = r_;		\
	} while (0)

static int env_int(const char *var, uint64_t min, uint64_t max, int *field)
{
	uint64_t v;
	int ret = mcx__env_u64(var, min, max, &v);

	if (ret == 1)
		*field = (int)v;
	return ret;
}

static int env_u32(const char *var, uint64_t min, uint64_t max, uint32_t *field)
{
	uint64_t v;
	int ret = mcx__env_u64(var, min, max, &v);

	if (ret == 1)
		*field = (uint32_t)v;
	return ret;
}

static int env_string(const char *var, char *buf, size_t len, const char **field,
		      int (*check)(const char *var, const char *s))
{
	const char *s = getenv(var);

	if (!s)
		return 0;
	if (strlen(s) >= len) {
		mcx__err("%s: value longer than %zu characters", var, len - 1);
		return -EINVAL;
	}
	if (check(var, s))
		return -EINVAL;
	strcpy(buf, s);
	*field = buf;
	return 1;
}

static int check_abs_path(const char *var, const char *s)
{
	if (s[0] != '/') {
		mcx__err("%s=\"%s\": expected an absolute path", var, s);
		return -EINVAL;
	}
	return 0;
}

static int check_listen(const char *var, const char *s)
{
	char host[256];
	uint16_t port;

	return mcx__parse_hostport(var, s, host, sizeof(host), &port);
}

int mcx__opts_from_env(struct mcx_engine_opts *o, struct mcx__opts_store *store)
{
	const char *s;
	unsigned int idx;
	uint64_t v;
	int b, ret, err = 0;

	TAKE(env_string("MCX_IB_DEVICES", store->devices, sizeof(store->devices),
			&o->devices, check_devices));
	TAKE(env_int("MCX_IB_PORT", 0, 255, &o->port));

	s = getenv("MCX_IB_GID_INDEX");
	if (s && !strcasecmp(s, "auto"))
		o->gid_index = MCX_GID_INDEX_AUTO;
	else if (s && mcx__parse_u64(NULL, s, 0, 255, &v) == 0)
		o->gid_index = (int)v;
	else if (s) {
		mcx__err("MCX_IB_GID_INDEX=\"%s\": expected \"auto\" or an integer from 0 to 255", s);
		TAKE(-EINVAL);
	}

	TAKE(env_int("MCX_IB_TC", 0, 255, &o->tc));
	TAKE(env_int("MCX_IB_SL", 0, 15, &o->sl));

	ret = mcx__env_enum("MCX_IB_MTU", mtu_names,
			    sizeof(mtu_names) / sizeof(mtu_names[0]), &idx);
	if (ret == 1)
		o->mtu = mtu_values[idx];
	TAKE(ret);

	ret = mcx__env_size("MCX_SLICE_SIZE", SLICE_MIN, SLICE_MAX, &v);
	if (ret == 1)
		o->slice_size = v;
	TAKE(ret);
	TAKE(env_u32("MCX_MAX_WR", 1, MAX_WR_MAX, &o->max_wr));
	TAKE(env_u32("MCX_QPS_PER_PAIR", 1, MCX_MAX_QPS_PER_PAIR, &o->qps_per_pair));
	TAKE(env_u32("MCX_REG_THREADS", 1, REG_THREADS_MAX, &o->reg_threads));

	ret = mcx__env_size("MCX_REG_CHUNK_SIZE", CHUNK_MIN, CHUNK_MAX, &v);
	if (ret == 1 && v % CHUNK_MIN) {
		mcx__err("MCX_REG_CHUNK_SIZE=\"%s\": expected a multiple of 4K from 4K to 1T",
			 getenv("MCX_REG_CHUNK_SIZE"));
		ret = -EINVAL;
	}
	if (ret == 1)
		o->reg_chunk_size = v;
	TAKE(ret);

	TAKE(env_int("MCX_IB_RELAXED_ORDERING", 0, 2, &o->relaxed_ordering));
	TAKE(env_string("MCX_LISTEN", store->listen, sizeof(store->listen),
			&o->listen, check_listen));
	TAKE(env_u32("MCX_TIMEOUT_MS", 1, TIMEOUT_MAX, &o->timeout_ms));

	ret = mcx__env_bool("MCX_POLLER", &b);
	if (ret == 1)
		o->poller = b;
	TAKE(ret);
	ret = mcx__env_bool("MCX_LOOPBACK_MEMCPY", &b);
	if (ret == 1)
		o->loopback_memcpy = b;
	TAKE(ret);
	TAKE(env_u32("MCX_LISTEN_MAX_CONNS", 2, LISTEN_CONNS_MAX, &o->listen_max_conns));
	TAKE(env_u32("MCX_LISTEN_MAX_PATHS", 1, LISTEN_PATHS_MAX, &o->listen_max_paths));
	ret = env_string("MCX_AUTH_KEY_FILE", store->auth_key_file,
			 sizeof(store->auth_key_file), &o->auth_key_file, check_abs_path);
	if (ret == 1)
		store->auth_key_from_env = true;
	TAKE(ret);

	ret = mcx__env_enum("MCX_REGISTRY", registry_names,
			    sizeof(registry_names) / sizeof(registry_names[0]), &idx);
	if (ret == 1)
		o->registry = (int)idx;
	TAKE(ret);

	ret = mcx__env_enum("MCX_GPU_NICS", gpu_nics_names,
			    sizeof(gpu_nics_names) / sizeof(gpu_nics_names[0]), &idx);
	if (ret == 1)
		o->gpu_nics = (int)idx;
	TAKE(ret);

	ret = mcx__env_enum("MCX_TRANSPORT", transport_names,
			    sizeof(transport_names) / sizeof(transport_names[0]), &idx);
	if (ret == 1)
		o->transport = (int)idx;
	TAKE(ret);
	TAKE(env_string("MCX_FABRIC_PROVIDER", store->fabric_provider,
			sizeof(store->fabric_provider), &o->fabric_provider,
			mcx__check_fabric_provider));
	ret = mcx__env_size("MCX_FABRIC_STRIPE_MIN", 0, STRIPE_MIN_MAX, &v);
	if (ret == 1)
		o->fabric_stripe_min = v;
	TAKE(ret);
	TAKE(env_u32("MCX_FABRIC_CQ_THREADS", 0, CQ_THREADS_MAX, &o->fabric_cq_threads));
	TAKE(env_string("MCX_METADATA", store->metadata, sizeof(store->metadata),
			&o->metadata, check_metadata));
	TAKE(env_string("MCX_METADATA_NAME", store->metadata_name,
			sizeof(store->metadata_name), &o->metadata_name, check_metadata_name));
	TAKE(env_u32("MCX_METADATA_TTL", MCX_META_TTL_MIN, MCX_META_TTL_MAX,
		     &o->metadata_ttl_s));
	/* Checked once both are final: either may come from either place. */
	if (!err && o->metadata_name && !o->metadata) {
		mcx__err("%s \"%s\" needs a metadata service to publish in (option metadata or MCX_METADATA)",
			 getenv("MCX_METADATA_NAME") ? "MCX_METADATA_NAME" : "engine option metadata_name",
			 o->metadata_name);
		TAKE(-EINVAL);
	}

	/* MCX_LOG_LEVEL is the logger's: it re-reads and checks it. */
	TAKE(mcx__log_init());
	return err;
}
