// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Engine options (lib/core/config.c): defaults, every MCX_* variable with good
 * and bad values, and the checks on the options struct.  A bad value must
 * be an error that names the variable (or field) and what it accepts, and
 * must leave the option as it was.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/core.h"
#include "util.h"

struct bad_env {
	const char *var;
	const char *value;
	int err;
	const char *hint;	/* part of the accepted range the message must show */
};

/* Every variable: junk, empty, out of range, overflow, signs, blanks. */
static const struct bad_env bad_envs[] = {
	{ "MCX_IB_DEVICES", "", -EINVAL, "comma-separated" },
	{ "MCX_IB_DEVICES", "mlx5_0,", -EINVAL, "comma-separated" },
	{ "MCX_IB_DEVICES", ",mlx5_0", -EINVAL, "comma-separated" },
	{ "MCX_IB_DEVICES", "mlx5_0,,mlx5_1", -EINVAL, "comma-separated" },
	{ "MCX_IB_DEVICES", "rxe 0", -EINVAL, "comma-separated" },
	{ "MCX_IB_DEVICES", "rxe0;rm", -EINVAL, "comma-separated" },
	{ "MCX_IB_DEVICES",
	  "a234567890123456789012345678901234567890123456789012345678901234", -EINVAL, "1..63" },
	{ "MCX_IB_PORT", "", -EINVAL, "0 to 255" },
	{ "MCX_IB_PORT", "one", -EINVAL, "0 to 255" },
	{ "MCX_IB_PORT", "256", -ERANGE, "0 to 255" },
	{ "MCX_IB_PORT", "-1", -EINVAL, "0 to 255" },
	{ "MCX_IB_PORT", " 1", -EINVAL, "0 to 255" },
	{ "MCX_IB_PORT", "99999999999999999999999", -ERANGE, "0 to 255" },
	{ "MCX_IB_GID_INDEX", "", -EINVAL, "auto" },
	{ "MCX_IB_GID_INDEX", "automatic", -EINVAL, "0 to 255" },
	{ "MCX_IB_GID_INDEX", "256", -EINVAL, "0 to 255" },
	{ "MCX_IB_GID_INDEX", "-1", -EINVAL, "auto" },
	{ "MCX_IB_GID_INDEX", "3x", -EINVAL, "auto" },
	{ "MCX_IB_GID_INDEX", "18446744073709551617", -EINVAL, "0 to 255" },
	{ "MCX_IB_TC", "", -EINVAL, "0 to 255" },
	{ "MCX_IB_TC", "256", -ERANGE, "0 to 255" },
	{ "MCX_IB_TC", "af41", -EINVAL, "0 to 255" },
	{ "MCX_IB_TC", "1.5", -EINVAL, "0 to 255" },
	{ "MCX_IB_TC", "18446744073709551616", -ERANGE, "0 to 255" },
	{ "MCX_IB_SL", "", -EINVAL, "0 to 15" },
	{ "MCX_IB_SL", "16", -ERANGE, "0 to 15" },
	{ "MCX_IB_SL", "-0", -EINVAL, "0 to 15" },
	{ "MCX_IB_SL", "x", -EINVAL, "0 to 15" },
	{ "MCX_IB_MTU", "", -EINVAL, "4096" },
	{ "MCX_IB_MTU", "9000", -EINVAL, "256, 512, 1024, 2048, 4096" },
	{ "MCX_IB_MTU", "1500", -EINVAL, "auto" },
	{ "MCX_IB_MTU", "4k", -EINVAL, "4096" },
	{ "MCX_IB_MTU", "0", -EINVAL, "auto" },
	{ "MCX_SLICE_SIZE", "", -EINVAL, "4096 to 1073741824" },
	{ "MCX_SLICE_SIZE", "1M ", -EINVAL, "4096 to 1073741824" },
	{ "MCX_SLICE_SIZE", "1000", -ERANGE, "4096 to 1073741824" },
	{ "MCX_SLICE_SIZE", "2G", -ERANGE, "4096 to 1073741824" },
	{ "MCX_SLICE_SIZE", "0", -ERANGE, "4096 to 1073741824" },
	{ "MCX_SLICE_SIZE", "99999999999999999999T", -ERANGE, "4096 to 1073741824" },
	{ "MCX_SLICE_SIZE", "1MB", -EINVAL, "4096 to 1073741824" },
	{ "MCX_MAX_WR", "", -EINVAL, "1 to 32768" },
	{ "MCX_MAX_WR", "0", -ERANGE, "1 to 32768" },
	{ "MCX_MAX_WR", "32769", -ERANGE, "1 to 32768" },
	{ "MCX_MAX_WR", "many", -EINVAL, "1 to 32768" },
	{ "MCX_QPS_PER_PAIR", "", -EINVAL, "1 to 8" },
	{ "MCX_QPS_PER_PAIR", "0", -ERANGE, "1 to 8" },
	{ "MCX_QPS_PER_PAIR", "9", -ERANGE, "1 to 8" },
	{ "MCX_QPS_PER_PAIR", "2 ", -EINVAL, "1 to 8" },
	{ "MCX_REG_THREADS", "", -EINVAL, "1 to 256" },
	{ "MCX_REG_THREADS", "0", -ERANGE, "1 to 256" },
	{ "MCX_REG_THREADS", "257", -ERANGE, "1 to 256" },
	{ "MCX_REG_THREADS", "auto", -EINVAL, "1 to 256" },
	{ "MCX_REG_CHUNK_SIZE", "", -EINVAL, "4096 to 1099511627776" },
	{ "MCX_REG_CHUNK_SIZE", "1K", -ERANGE, "4096 to 1099511627776" },
	{ "MCX_REG_CHUNK_SIZE", "2T", -ERANGE, "4096 to 1099511627776" },
	{ "MCX_REG_CHUNK_SIZE", "5000", -EINVAL, "multiple of 4K" },
	{ "MCX_REG_CHUNK_SIZE", "1Q", -EINVAL, "4096 to 1099511627776" },
	{ "MCX_IB_RELAXED_ORDERING", "", -EINVAL, "0 to 2" },
	{ "MCX_IB_RELAXED_ORDERING", "3", -ERANGE, "0 to 2" },
	{ "MCX_IB_RELAXED_ORDERING", "auto", -EINVAL, "0 to 2" },
	{ "MCX_IB_RELAXED_ORDERING", "-1", -EINVAL, "0 to 2" },
	{ "MCX_LISTEN", "", -EINVAL, "host:port" },
	{ "MCX_LISTEN", "10.0.0.1", -EINVAL, "host:port" },
	{ "MCX_LISTEN", "10.0.0.1:", -EINVAL, "port 0..65535" },
	{ "MCX_LISTEN", "10.0.0.1:65536", -EINVAL, "port 0..65535" },
	{ "MCX_LISTEN", ":7000", -EINVAL, "host:port" },
	{ "MCX_LISTEN", "fe80::1:7000", -EINVAL, "[IPv6]" },
	{ "MCX_LISTEN", "[fe80::1]7000", -EINVAL, "host:port" },
	{ "MCX_LISTEN", "host name:1", -EINVAL, "host:port" },
	{ "MCX_LISTEN", "h:99999999999999999999999", -EINVAL, "port 0..65535" },
	{ "MCX_TIMEOUT_MS", "", -EINVAL, "1 to 3600000" },
	{ "MCX_TIMEOUT_MS", "0", -ERANGE, "1 to 3600000" },
	{ "MCX_TIMEOUT_MS", "3600001", -ERANGE, "1 to 3600000" },
	{ "MCX_TIMEOUT_MS", "10s", -EINVAL, "1 to 3600000" },
	{ "MCX_POLLER", "", -EINVAL, "1/0" },
	{ "MCX_POLLER", "2", -EINVAL, "1/0" },
	{ "MCX_POLLER", "maybe", -EINVAL, "1/0" },
	{ "MCX_LOOPBACK_MEMCPY", "", -EINVAL, "1/0" },
	{ "MCX_LOOPBACK_MEMCPY", "01", -EINVAL, "1/0" },
	{ "MCX_LISTEN_MAX_CONNS", "1", -ERANGE, "2 to 65536" },
	{ "MCX_LISTEN_MAX_CONNS", "65537", -ERANGE, "2 to 65536" },
	{ "MCX_LISTEN_MAX_CONNS", "lots", -EINVAL, "2 to 65536" },
	{ "MCX_LISTEN_MAX_PATHS", "0", -ERANGE, "1 to 64" },
	{ "MCX_LISTEN_MAX_PATHS", "65", -ERANGE, "1 to 64" },
	{ "MCX_LISTEN_MAX_PATHS", "", -EINVAL, "1 to 64" },
	{ "MCX_REGISTRY", "", -EINVAL, "auto, off, required" },
	{ "MCX_REGISTRY", "on", -EINVAL, "auto, off, required" },
	{ "MCX_REGISTRY", "1", -EINVAL, "auto, off, required" },
	{ "MCX_REGISTRY", "required ", -EINVAL, "auto, off, required" },
	{ "MCX_GPU_NICS", "", -EINVAL, "local, all" },
	{ "MCX_GPU_NICS", "near", -EINVAL, "local, all" },
	{ "MCX_GPU_NICS", "1", -EINVAL, "local, all" },
	{ "MCX_GPU_NICS", "all ", -EINVAL, "local, all" },
	{ "MCX_AUTH_KEY_FILE", "", -EINVAL, "absolute path" },
	{ "MCX_AUTH_KEY_FILE", "relative/key", -EINVAL, "absolute path" },
	{ "MCX_LOG_LEVEL", "", -EINVAL, "off, error, warn, info, debug" },
	{ "MCX_LOG_LEVEL", "5", -EINVAL, "0..4" },
	{ "MCX_LOG_LEVEL", "verbose", -EINVAL, "off, error, warn, info, debug" },
};

static int opts_equal(const struct mcx_engine_opts *a, const struct mcx_engine_opts *b)
{
	return a->devices == b->devices && a->port == b->port && a->gid_index == b->gid_index &&
	       a->tc == b->tc && a->sl == b->sl && a->mtu == b->mtu &&
	       a->slice_size == b->slice_size && a->max_wr == b->max_wr &&
	       a->qps_per_pair == b->qps_per_pair && a->reg_threads == b->reg_threads &&
	       a->reg_chunk_size == b->reg_chunk_size &&
	       a->relaxed_ordering == b->relaxed_ordering && a->log_level == b->log_level &&
	       a->listen == b->listen && a->timeout_ms == b->timeout_ms &&
	       a->poller == b->poller && a->loopback_memcpy == b->loopback_memcpy &&
	       a->auth_key_file == b->auth_key_file &&
	       a->listen_max_conns == b->listen_max_conns &&
	       a->listen_max_paths == b->listen_max_paths && a->registry == b->registry &&
	       a->gpu_nics == b->gpu_nics;
}

TEST(config_defaults_are_valid)
{
	struct mcx_engine_opts o;

	mcx_engine_opts_init(&o);
	ASSERT_ERR(mcx__opts_validate(&o), 0);
	ASSERT_TRUE(o.devices == NULL);
	ASSERT_EQ(o.gid_index, MCX_GID_INDEX_AUTO);
	ASSERT_EQ(o.mtu, MCX_MTU_AUTO);
	ASSERT_U64_EQ(o.slice_size, 1 << 20);
	ASSERT_EQ(o.relaxed_ordering, MCX_RO_AUTO);
	ASSERT_EQ(o.poller, 1);
	ASSERT_EQ(o.loopback_memcpy, 1);
	ASSERT_EQ(o.reg_threads, 0);
	ASSERT_TRUE(o.listen == NULL);
	ASSERT_TRUE(o.auth_key_file == NULL);
	ASSERT_EQ(o.listen_max_conns, 128u);
	ASSERT_EQ(o.listen_max_paths, 32u);
	ASSERT_EQ(o.registry, MCX_REGISTRY_AUTO);
	ASSERT_EQ(o.gpu_nics, MCX_GPU_NICS_LOCAL);
}

TEST(config_gpu_nics_from_env_and_checked)
{
	struct mcx_engine_opts o;
	struct mcx__opts_store store;

	mcx_engine_opts_init(&o);
	setenv("MCX_GPU_NICS", "all", 1);
	ASSERT_ERR(mcx__opts_from_env(&o, &store), 0);
	ASSERT_EQ(o.gpu_nics, MCX_GPU_NICS_ALL);
	setenv("MCX_GPU_NICS", "LOCAL", 1);
	ASSERT_ERR(mcx__opts_from_env(&o, &store), 0);
	ASSERT_EQ(o.gpu_nics, MCX_GPU_NICS_LOCAL);
	unsetenv("MCX_GPU_NICS");
	o.gpu_nics = 2;
	log_capture();
	ASSERT_ERR(mcx__opts_validate(&o), -EINVAL);
	mcx__log_init();
	ASSERT_TRUE(strstr(captured_log, "gpu_nics") != NULL);
}

TEST(config_registry_mode_is_checked)
{
	struct mcx_engine_opts o;
	struct mcx__opts_store store;

	mcx_engine_opts_init(&o);
	o.registry = MCX_REGISTRY_REQUIRED;
	ASSERT_ERR(mcx__opts_validate(&o), 0);
	o.registry = 3;
	log_capture();
	ASSERT_ERR(mcx__opts_validate(&o), -EINVAL);
	mcx__log_init();
	ASSERT_TRUE(strstr(captured_log, "registry") != NULL);
	o.registry = -1;
	ASSERT_ERR(mcx__opts_validate(&o), -EINVAL);

	mcx__opts_defaults(&o);
	setenv("MCX_REGISTRY", "off", 1);
	ASSERT_ERR(mcx__opts_from_env(&o, &store), 0);
	ASSERT_EQ(o.registry, MCX_REGISTRY_OFF);
	setenv("MCX_REGISTRY", "REQUIRED", 1);
	ASSERT_ERR(mcx__opts_from_env(&o, &store), 0);
	ASSERT_EQ(o.registry, MCX_REGISTRY_REQUIRED);
	setenv("MCX_REGISTRY", "auto", 1);
	ASSERT_ERR(mcx__opts_from_env(&o, &store), 0);
	unsetenv("MCX_REGISTRY");
	ASSERT_EQ(o.registry, MCX_REGISTRY_AUTO);
}

TEST(config_listener_caps_are_checked)
{
	struct mcx_engine_opts o;

	mcx_engine_opts_init(&o);
	o.listen_max_conns = 1;
	ASSERT_ERR(mcx__opts_validate(&o), -EINVAL);
	o.listen_max_conns = 2;
	ASSERT_ERR(mcx__opts_validate(&o), 0);
	o.listen_max_paths = 0;
	ASSERT_ERR(mcx__opts_validate(&o), -EINVAL);
	o.listen_max_paths = 65;
	ASSERT_ERR(mcx__opts_validate(&o), -EINVAL);
	o.listen_max_paths = 64;
	ASSERT_ERR(mcx__opts_validate(&o), 0);
	o.auth_key_file = "key";
	ASSERT_ERR(mcx__opts_validate(&o), -EINVAL);
}

TEST(config_every_bad_env_value_is_rejected_by_name)
{
	for (size_t i = 0; i < sizeof(bad_envs) / sizeof(bad_envs[0]); i++) {
		const struct bad_env *b = &bad_envs[i];
		struct mcx_engine_opts o, before;
		struct mcx__opts_store store;
		int ret;

		mcx__opts_defaults(&o);
		before = o;
		ASSERT_EQ(setenv(b->var, b->value, 1), 0);
		log_capture();
		ret = mcx__opts_from_env(&o, &store);
		unsetenv(b->var);
		mcx__log_init();
		if (ret != b->err)
			harness_fail(__FILE__, __LINE__, "%s=\"%s\": got %s, expected %s", b->var,
				     b->value, harness_errname(ret), harness_errname(b->err));
		if (!strstr(captured_log, b->var) || !strstr(captured_log, b->hint))
			harness_fail(__FILE__, __LINE__,
				     "%s=\"%s\": message does not name the variable and \"%s\": %s",
				     b->var, b->value, b->hint, captured_log);
		if (!opts_equal(&o, &before))
			harness_fail(__FILE__, __LINE__, "%s=\"%s\" changed an option", b->var,
				     b->value);
	}
}

TEST(config_good_env_values_apply)
{
	struct mcx_engine_opts o;
	struct mcx__opts_store store;

	setenv("MCX_IB_DEVICES", "rxe0,rxe1", 1);
	setenv("MCX_IB_PORT", "2", 1);
	setenv("MCX_IB_GID_INDEX", "3", 1);
	setenv("MCX_IB_TC", "106", 1);
	setenv("MCX_IB_SL", "15", 1);
	setenv("MCX_IB_MTU", "1024", 1);
	setenv("MCX_SLICE_SIZE", "256K", 1);
	setenv("MCX_MAX_WR", "0x40", 1);
	setenv("MCX_QPS_PER_PAIR", "8", 1);
	setenv("MCX_REG_THREADS", "3", 1);
	setenv("MCX_REG_CHUNK_SIZE", "64M", 1);
	setenv("MCX_IB_RELAXED_ORDERING", "0", 1);
	setenv("MCX_LISTEN", "[::1]:7000", 1);
	setenv("MCX_TIMEOUT_MS", "3600000", 1);
	setenv("MCX_POLLER", "0", 1);
	setenv("MCX_LOOPBACK_MEMCPY", "off", 1);
	mcx__opts_defaults(&o);
	ASSERT_ERR(mcx__opts_from_env(&o, &store), 0);
	ASSERT_TRUE(o.devices && !strcmp(o.devices, "rxe0,rxe1"));
	ASSERT_EQ(o.port, 2);
	ASSERT_EQ(o.gid_index, 3);
	ASSERT_EQ(o.tc, 106);
	ASSERT_EQ(o.sl, 15);
	ASSERT_EQ(o.mtu, 1024);
	ASSERT_U64_EQ(o.slice_size, 256 << 10);
	ASSERT_EQ(o.max_wr, 64);
	ASSERT_EQ(o.qps_per_pair, 8);
	ASSERT_EQ(o.reg_threads, 3);
	ASSERT_U64_EQ(o.reg_chunk_size, 64ULL << 20);
	ASSERT_EQ(o.relaxed_ordering, 0);
	ASSERT_TRUE(o.listen && !strcmp(o.listen, "[::1]:7000"));
	ASSERT_EQ(o.timeout_ms, 3600000);
	ASSERT_EQ(o.poller, 0);
	ASSERT_EQ(o.loopback_memcpy, 0);
	ASSERT_ERR(mcx__opts_validate(&o), 0);

	setenv("MCX_IB_GID_INDEX", "AUTO", 1);
	setenv("MCX_IB_MTU", "auto", 1);
	setenv("MCX_IB_DEVICES", "all", 1);
	ASSERT_ERR(mcx__opts_from_env(&o, &store), 0);
	ASSERT_EQ(o.gid_index, MCX_GID_INDEX_AUTO);
	ASSERT_EQ(o.mtu, MCX_MTU_AUTO);
	ASSERT_TRUE(!strcmp(o.devices, "all"));
}

TEST(config_all_bad_variables_are_reported_first_error_returned)
{
	struct mcx_engine_opts o;
	struct mcx__opts_store store;

	setenv("MCX_IB_TC", "300", 1);
	setenv("MCX_IB_SL", "x", 1);
	mcx__opts_defaults(&o);
	log_capture();
	ASSERT_ERR(mcx__opts_from_env(&o, &store), -ERANGE);
	ASSERT_TRUE(strstr(captured_log, "MCX_IB_TC") != NULL);
	ASSERT_TRUE(strstr(captured_log, "MCX_IB_SL") != NULL);
}

struct bad_field {
	const char *field;
	void (*set)(struct mcx_engine_opts *o);
};

#define BAD(name, stmt)								\
	static void set_##name(struct mcx_engine_opts *o) { stmt; }
BAD(devices, o->devices = "a,,b")
BAD(devices_space, o->devices = "rxe 0")
BAD(port_neg, o->port = -1)
BAD(port_big, o->port = 256)
BAD(gid_neg, o->gid_index = -2)
BAD(gid_big, o->gid_index = 256)
BAD(tc_neg, o->tc = -1)
BAD(tc_big, o->tc = 256)
BAD(sl, o->sl = 16)
BAD(mtu, o->mtu = 1500)
BAD(mtu_neg, o->mtu = -256)
BAD(slice_small, o->slice_size = 4095)
BAD(slice_big, o->slice_size = (1ULL << 30) + 1)
BAD(max_wr0, o->max_wr = 0)
BAD(max_wr_big, o->max_wr = 32769)
BAD(qps0, o->qps_per_pair = 0)
BAD(qps_big, o->qps_per_pair = 9)
BAD(threads, o->reg_threads = 257)
BAD(chunk_small, o->reg_chunk_size = 2048)
BAD(chunk_odd, o->reg_chunk_size = 4096 * 3 + 1)
BAD(chunk_big, o->reg_chunk_size = (1ULL << 40) + 4096)
BAD(ro_neg, o->relaxed_ordering = -1)
BAD(ro_big, o->relaxed_ordering = 3)
BAD(log_big, o->log_level = 5)
BAD(log_neg, o->log_level = -2)
BAD(listen, o->listen = "nohost")
BAD(listen_port, o->listen = "h:70000")
BAD(timeout0, o->timeout_ms = 0)
BAD(timeout_big, o->timeout_ms = 3600001)
BAD(poller, o->poller = 2)
BAD(memcpy, o->loopback_memcpy = -1)

static const struct bad_field bad_fields[] = {
	{ "devices", set_devices }, { "devices", set_devices_space },
	{ "port", set_port_neg }, { "port", set_port_big },
	{ "gid_index", set_gid_neg }, { "gid_index", set_gid_big },
	{ "tc", set_tc_neg }, { "tc", set_tc_big }, { "sl", set_sl },
	{ "mtu", set_mtu }, { "mtu", set_mtu_neg },
	{ "slice_size", set_slice_small }, { "slice_size", set_slice_big },
	{ "max_wr", set_max_wr0 }, { "max_wr", set_max_wr_big },
	{ "qps_per_pair", set_qps0 }, { "qps_per_pair", set_qps_big },
	{ "reg_threads", set_threads },
	{ "reg_chunk_size", set_chunk_small }, { "reg_chunk_size", set_chunk_odd },
	{ "reg_chunk_size", set_chunk_big },
	{ "relaxed_ordering", set_ro_neg }, { "relaxed_ordering", set_ro_big },
	{ "log_level", set_log_big }, { "log_level", set_log_neg },
	{ "listen", set_listen }, { "listen", set_listen_port },
	{ "timeout_ms", set_timeout0 }, { "timeout_ms", set_timeout_big },
	{ "poller", set_poller }, { "loopback_memcpy", set_memcpy },
};

TEST(config_every_bad_field_is_rejected_by_name)
{
	for (size_t i = 0; i < sizeof(bad_fields) / sizeof(bad_fields[0]); i++) {
		struct mcx_engine_opts o;
		int ret;

		mcx_engine_opts_init(&o);
		bad_fields[i].set(&o);
		log_capture();
		ret = mcx__opts_validate(&o);
		if (ret != -EINVAL)
			harness_fail(__FILE__, __LINE__, "field %s: got %s", bad_fields[i].field,
				     harness_errname(ret));
		if (!strstr(captured_log, bad_fields[i].field))
			harness_fail(__FILE__, __LINE__, "field %s not named: %s",
				     bad_fields[i].field, captured_log);
	}
}

TEST(config_engine_create_reports_bad_env_and_opts)
{
	struct mcx_engine_opts o;
	struct mcx_engine *eng = (struct mcx_engine *)1;

	/* Checked before any device is touched: no RDMA device needed. */
	setenv("MCX_IB_TC", "256", 1);
	log_capture();
	ASSERT_ERR(mcx_engine_create(NULL, &eng), -ERANGE);
	ASSERT_TRUE(eng == NULL);
	ASSERT_TRUE(strstr(captured_log, "MCX_IB_TC") != NULL);
	unsetenv("MCX_IB_TC");

	mcx_engine_opts_init(&o);
	o.sl = 99;
	eng = (struct mcx_engine *)1;
	ASSERT_ERR(mcx_engine_create(&o, &eng), -EINVAL);
	ASSERT_TRUE(eng == NULL);
	ASSERT_ERR(mcx_engine_create(NULL, NULL), -EINVAL);
}

TEST(config_hostport_parser)
{
	char host[64];
	uint16_t port = 1;

	ASSERT_ERR(mcx__parse_hostport(NULL, "10.1.2.3:0", host, sizeof(host), &port), 0);
	ASSERT_TRUE(!strcmp(host, "10.1.2.3"));
	ASSERT_EQ(port, 0);
	ASSERT_ERR(mcx__parse_hostport(NULL, "[fe80::1%eth0]:65535", host, sizeof(host), &port), 0);
	ASSERT_TRUE(!strcmp(host, "fe80::1%eth0"));
	ASSERT_EQ(port, 65535);
	ASSERT_ERR(mcx__parse_hostport(NULL, "node-1.example:7000", host, sizeof(host), &port), 0);
	ASSERT_TRUE(!strcmp(host, "node-1.example"));
	ASSERT_EQ(port, 7000);
	port = 5;
	ASSERT_ERR(mcx__parse_hostport(NULL, "[]:1", host, sizeof(host), &port), -EINVAL);
	ASSERT_ERR(mcx__parse_hostport(NULL, "h:0x10", host, sizeof(host), &port), 0);
	ASSERT_EQ(port, 16);
	port = 5;
	ASSERT_ERR(mcx__parse_hostport(NULL, "h:-1", host, sizeof(host), &port), -EINVAL);
	ASSERT_ERR(mcx__parse_hostport(NULL, "a:b:c", host, sizeof(host), &port), -EINVAL);
	ASSERT_ERR(mcx__parse_hostport(NULL, "h:1", host, 1, &port), -EINVAL);
	ASSERT_EQ(port, 5);
}

/*
 * MCX_METADATA: etcd://HOST:PORT/PREFIX and nothing else, with the
 * variable named in the message; the name and TTL are checked alike, and
 * a name needs a service.
 */
TEST(config_metadata_url_name_and_ttl_are_strict)
{
	static const char *const good[] = {
		"etcd://127.0.0.1:2379/mcxfer", "etcd://[::1]:2379/a/b-c.d_e",
		"etcd://etcd-0.example:1/p",
	};
	static const char *const bad[] = {
		"", "etcd://", "etcd://127.0.0.1:2379", "etcd://127.0.0.1:2379/",
		"etcd://127.0.0.1:2379/a/", "etcd://127.0.0.1:2379//a", "etcd://127.0.0.1:2379/a//b",
		"etcd://127.0.0.1/p", "etcd://127.0.0.1:0/p", "etcd://127.0.0.1:65536/p",
		"etcd://127.0.0.1:x/p", "http://127.0.0.1:2379/p", "ETCD://127.0.0.1:2379/p",
		"etcd://127.0.0.1:2379/p?x=1", "etcd://u@h:2379/p", "etcd://::1:2379/p",
		" etcd://127.0.0.1:2379/p", "etcd://127.0.0.1:2379/p q",
	};
	struct mcx_engine_opts o;
	struct mcx__opts_store store;
	struct mcx_etcd_url u;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		mcx_engine_opts_init(&o);
		setenv("MCX_METADATA", good[i], 1);
		ASSERT_ERR(mcx__opts_from_env(&o, &store), 0);
		ASSERT_STREQ(o.metadata, good[i]);
	}
	ASSERT_ERR(mcx__etcd_parse_url(NULL, "etcd://[::1]:2379/a/b", &u), 0);
	ASSERT_STREQ(u.host, "::1");
	ASSERT_EQ(u.port, 2379);
	ASSERT_STREQ(u.prefix, "a/b");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mcx_engine_opts_init(&o);
		setenv("MCX_METADATA", bad[i], 1);
		log_capture();
		ASSERT_ERR(mcx__opts_from_env(&o, &store), -EINVAL);
		ASSERT_CONTAINS(captured_log, "MCX_METADATA=");
		ASSERT_CONTAINS(captured_log, "etcd://HOST:PORT/PREFIX");
		mcx_engine_opts_init(&o);
		o.metadata = bad[i];
		log_capture();
		ASSERT_ERR(mcx__opts_validate(&o), -EINVAL);
		ASSERT_CONTAINS(captured_log, "engine option metadata");
	}
	unsetenv("MCX_METADATA");

	/* Names: [A-Za-z0-9._-], 1..128. */
	mcx_engine_opts_init(&o);
	o.metadata = good[0];
	o.metadata_name = "node-1.gpu_0";
	ASSERT_ERR(mcx__opts_validate(&o), 0);
	o.metadata_name = "a/b";
	log_capture();
	ASSERT_ERR(mcx__opts_validate(&o), -EINVAL);
	ASSERT_CONTAINS(captured_log, "metadata_name");
	setenv("MCX_METADATA_NAME", "", 1);
	log_capture();
	ASSERT_ERR(mcx__opts_from_env(&o, &store), -EINVAL);
	ASSERT_CONTAINS(captured_log, "MCX_METADATA_NAME");
	unsetenv("MCX_METADATA_NAME");

	/* A name without a service to publish in. */
	mcx_engine_opts_init(&o);
	setenv("MCX_METADATA_NAME", "node-1", 1);
	log_capture();
	ASSERT_ERR(mcx__opts_from_env(&o, &store), -EINVAL);
	ASSERT_CONTAINS(captured_log, "MCX_METADATA_NAME");
	setenv("MCX_METADATA", good[0], 1);
	ASSERT_ERR(mcx__opts_from_env(&o, &store), 0);
	ASSERT_STREQ(o.metadata_name, "node-1");
	unsetenv("MCX_METADATA_NAME");
	unsetenv("MCX_METADATA");

	/* TTL 2..3600, default 10. */
	mcx_engine_opts_init(&o);
	ASSERT_EQ(o.metadata_ttl_s, 10u);
	o.metadata_ttl_s = 1;
	ASSERT_ERR(mcx__opts_validate(&o), -EINVAL);
	o.metadata_ttl_s = 3601;
	ASSERT_ERR(mcx__opts_validate(&o), -EINVAL);
	setenv("MCX_METADATA_TTL", "1", 1);
	log_capture();
	ASSERT_ERR(mcx__opts_from_env(&o, &store), -ERANGE);
	ASSERT_CONTAINS(captured_log, "MCX_METADATA_TTL");
	setenv("MCX_METADATA_TTL", "30", 1);
	ASSERT_ERR(mcx__opts_from_env(&o, &store), 0);
	ASSERT_EQ(o.metadata_ttl_s, 30u);
	unsetenv("MCX_METADATA_TTL");
	mcx__log_init();
}

/* Without libcurl or json-c a client is refused, naming the file. */
TEST(config_metadata_without_its_libraries_is_refused)
{
	struct mcx_etcd_url u;
	struct mcx_etcd *c = (struct mcx_etcd *)1;

	ASSERT_ERR(mcx__etcd_parse_url(NULL, "etcd://127.0.0.1:2379/p", &u), 0);
	mcx__etcd_lib_set("libcurl-not-there.so.4", NULL);
	log_capture();
	ASSERT_ERR(mcx__etcd_open(&u, 1000, &c), -ELIBACC);
	ASSERT_TRUE(c == NULL);
	ASSERT_CONTAINS(captured_log, "libcurl-not-there.so.4");
	mcx__etcd_lib_set(NULL, "libjson-c-not-there.so.5");
	log_capture();
	ASSERT_ERR(mcx__etcd_open(&u, 1000, &c), -ELIBACC);
	ASSERT_CONTAINS(captured_log, "libjson-c-not-there.so.5");
	mcx__etcd_lib_set(NULL, NULL);
}
