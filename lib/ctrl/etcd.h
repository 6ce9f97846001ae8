/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * A small etcd v3 client over etcd's HTTP/JSON gateway (POST /v3/kv/put,
 * /v3/kv/range, /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke;
 * keys and values in base64, 64-bit integers as JSON strings).  It speaks
 * HTTP through libcurl and reads the replies with json-c, both loaded with
 * dlopen on first use (etcd_dl.c): the library never links them, so it
 * runs where they are absent as long as no metadata service is configured.
 *
 * It knows nothing of engines or peers: lib/meta builds publication and
 * lookup of engines on top of it, and the tests drive it against a real
 * etcd without any RDMA device.
 *
 * Errors: -ECONNREFUSED / -EHOSTUNREACH / -ENETUNREACH (etcd cannot be
 * reached: the URL is in the log), -ETIMEDOUT (no answer within the
 * client's timeout: a request never waits longer), -ECONNRESET (the
 * connection broke mid-answer), -ENOENT (no such key, or the lease is
 * gone), -EBADMSG (an answer that is not what etcd sends), -EMSGSIZE (an
 * answer or value over MCX_ETCD_MAX_REPLY), -EPROTO (another HTTP status,
 * etcd's message in the log), -ELIBACC (libcurl or json-c cannot be
 * loaded).
 */
#ifndef MCXFER_LIB_CTRL_ETCD_H
#define MCXFER_LIB_CTRL_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The prefix of MCX_METADATA and of a name: see mcx__etcd_parse_url(). */
#define MCX_ETCD_PREFIX_MAX	200
#define MCX_ETCD_NAME_MAX	128
/* etcd refuses requests over 1.5 MiB by default; replies are capped above. */
#define MCX_ETCD_MAX_REPLY	(8U << 20)

struct mcx_etcd_url {
	char host[256];
	uint16_t port;
	char prefix[MCX_ETCD_PREFIX_MAX + 1];	/* "a/b": no '/' at either end */
};

/*
 * Parse "etcd://HOST:PORT/PREFIX" strictly: HOST an IPv4 address, [IPv6]
 * address or name, PORT 1..65535, PREFIX 1..200 characters of
 * [A-Za-z0-9._-] in segments joined by single '/'.  Nothing else (no
 * user, query or trailing '/').  -EINVAL naming var (when not NULL).
 */
int mcx__etcd_parse_url(const char *var, const char *s, struct mcx_etcd_url *out);

/* A name under the prefix: 1..128 characters of [A-Za-z0-9._-]. */
bool mcx__etcd_name_ok(const char *name);

/*
 * "/PREFIX/NAME" into buf (len bytes with the NUL): the key etcd keeps a
 * name under.  -ENAMETOOLONG when it does not fit.
 */
int mcx__etcd_key(const struct mcx_etcd_url *url, const char *name, char *buf, size_t len);

struct mcx_etcd;

/*
 * A client of the etcd at url; every request it makes ends within
 * timeout_ms (connecting included).  Nothing is sent yet.  A client makes
 * one request at a time (calls from several threads wait for each other)
 * and keeps its connection between requests.  -ELIBACC (logged) when
 * libcurl or json-c cannot be loaded, -ENOMEM.
 */
int mcx__etcd_open(const struct mcx_etcd_url *url, uint32_t timeout_ms, struct mcx_etcd **out);
void mcx__etcd_close(struct mcx_etcd *e);

/*
 * The level at which the client logs etcd being unreachable, hanging or
 * answering with an error (default MCX_LOG_ERROR).  A thread that retries
 * on its own and says so once lowers it to keep the log readable.
 */
void mcx__etcd_set_log_level(struct mcx_etcd *e, int level);

/* A lease of ttl_s seconds (etcd may round a small one up): its id. */
int mcx__etcd_grant(struct mcx_etcd *e, uint32_t ttl_s, int64_t *lease);
/* Renew the lease: 0, or -ENOENT when it has already expired. */
int mcx__etcd_keepalive(struct mcx_etcd *e, int64_t lease);
/* End the lease now: its keys go.  -ENOENT when it was already gone. */
int mcx__etcd_revoke(struct mcx_etcd *e, int64_t lease);

/* What etcd says about a key besides its value. */
struct mcx_etcd_kv {
	int64_t create_revision;	/* changes only when the key is made anew */
	int64_t mod_revision;
	int64_t lease;			/* 0: none */
};

/*
 * Put len bytes (at most MCX_ETCD_MAX_REPLY / 2) under PREFIX/name,
 * attached to lease (0: none).  -ENOENT when the lease is gone.
 */
int mcx__etcd_put(struct mcx_etcd *e, const char *name, const void *val, size_t len,
		  int64_t lease);

/*
 * The value under PREFIX/name, malloc'd into *val (the caller frees it),
 * and what etcd says of the key into *kv (may be NULL).  With val NULL
 * only the key is asked for (no value travels).  -ENOENT when there is
 * no such key.
 */
int mcx__etcd_get(struct mcx_etcd *e, const char *name, void **val, size_t *len,
		  struct mcx_etcd_kv *kv);

/* ---- etcd_dl.c: libcurl and json-c, loaded on first use ----
 *
 * The few functions used, declared with the signatures the libraries
 * document (curl_easy_setopt(3), json_object.h of json-c 0.13 and later);
 * enums travel as int, the handles are opaque.
 */
struct mcx_etcd_lib {
	/* libcurl.so.4 */
	int (*curl_global_init)(long flags);
	void *(*curl_easy_init)(void);
	int (*curl_easy_setopt)(void *curl, int option, ...);
	int (*curl_easy_perform)(void *curl);
	int (*curl_easy_getinfo)(void *curl, int info, ...);
	void (*curl_easy_cleanup)(void *curl);
	const char *(*curl_easy_strerror)(int code);
	void *(*curl_slist_append)(void *list, const char *s);
	void (*curl_slist_free_all)(void *list);
	/* libjson-c.so.5 */
	void *(*json_tokener_new_ex)(int depth);
	void (*json_tokener_free)(void *tok);
	void *(*json_tokener_parse_ex)(void *tok, const char *s, int len);
	int (*json_tokener_get_error)(void *tok);
	size_t (*json_tokener_get_parse_end)(void *tok);
	int (*json_object_put)(void *obj);
	int (*json_object_object_get_ex)(const void *obj, const char *key, void **value);
	int (*json_object_get_type)(const void *obj);
	const char *(*json_object_get_string)(void *obj);
	int (*json_object_get_string_len)(const void *obj);
	int64_t (*json_object_get_int64)(const void *obj);
	size_t (*json_object_array_length)(const void *obj);
	void *(*json_object_array_get_idx)(const void *obj, size_t idx);
};

/*
 * The loaded libraries (loaded once per process, never unloaded), or NULL
 * with *err set: -ELIBACC (logged, naming the file and why) when one
 * cannot be loaded or lacks a function.
 */
const struct mcx_etcd_lib *mcx__etcd_lib(int *err);

/*
 * Tests: load these files instead of libcurl.so.4 and libjson-c.so.5 from
 * now on (NULL: the defaults), forgetting what was loaded.
 */
void mcx__etcd_lib_set(const char *curl, const char *jsonc);

#endif /* MCXFER_LIB_CTRL_ETCD_H */
