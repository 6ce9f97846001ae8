// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The etcd v3 client of etcd.h: one HTTP POST per call to etcd's JSON
 * gateway.  The gateway writes protobuf's JSON mapping: bytes in base64,
 * 64-bit integers as strings, and fields with their zero value left out
 * (an expired lease's keepalive answers without "TTL", a missing key
 * without "kvs"), so an absent field reads as 0 here.
 *
 * Every request runs under the client's timeout, connecting included, so
 * that a stopped or unreachable etcd costs a caller timeout_ms at most;
 * libcurl is kept away from signals (threads) and from any proxy the
 * environment names (etcd is reached directly, as a TCP peer is).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl/etcd.h"
#include "util/util.h"

/* libcurl's option and info numbers (curl.h: type base + number). */
#define CURLOPT_WRITEDATA		10001
#define CURLOPT_URL			10002
#define CURLOPT_PROXY			10004
#define CURLOPT_ERRORBUFFER		10010
#define CURLOPT_WRITEFUNCTION		20011
#define CURLOPT_POSTFIELDS		10015
#define CURLOPT_HTTPHEADER		10023
#define CURLOPT_POSTFIELDSIZE		60
#define CURLOPT_NOSIGNAL		99
#define CURLOPT_TCP_NODELAY		121
#define CURLOPT_TIMEOUT_MS		155
#define CURLOPT_CONNECTTIMEOUT_MS	156
#define CURLOPT_PROTOCOLS		181
#define CURLPROTO_HTTP			1L
#define CURLINFO_RESPONSE_CODE		(0x200000 + 2)
#define CURLINFO_OS_ERRNO		(0x200000 + 25)
#define CURL_ERROR_SIZE			256
/* CURLcode values that say something about the far end. */
#define CURLE_COULDNT_RESOLVE_HOST	6
#define CURLE_COULDNT_CONNECT		7
#define CURLE_PARTIAL_FILE		18
#define CURLE_WRITE_ERROR		23
#define CURLE_OPERATION_TIMEDOUT	28
#define CURLE_GOT_NOTHING		52
#define CURLE_SEND_ERROR		55
#define CURLE_RECV_ERROR		56
/* json-c's enum json_type and json_tokener_error. */
#define JSON_TYPE_INT			3
#define JSON_TYPE_OBJECT		4
#define JSON_TYPE_ARRAY			5
#define JSON_TYPE_STRING		6
#define JSON_TOKENER_SUCCESS		0
#define JSON_DEPTH			16

struct mcx_etcd {
	const struct mcx_etcd_lib *lib;
	struct mcx_etcd_url url;
	char base[300];			/* "http://host:port" */
	uint32_t timeout_ms;
	int log_level;			/* of failed requests */
	pthread_mutex_t lock;		/* one request at a time on curl */
	void *curl;
	void *headers;
	char errbuf[CURL_ERROR_SIZE];
	/* The reply being read. */
	char *reply;
	size_t reply_len, reply_cap;
	bool reply_too_big;
};

/* ---- names ---- */

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

bool mcx__etcd_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > MCX_ETCD_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(name[i]))
			return false;
	return true;
}

/* Segments of name characters joined by single '/'. */
static bool prefix_ok(const char *p, size_t n)
{
	if (n == 0 || n > MCX_ETCD_PREFIX_MAX || p[0] == '/' || p[n - 1] == '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '/' && p[i + 1] == '/')
			return false;
		if (p[i] != '/' && !name_char(p[i]))
			return false;
	}
	return true;
}

int mcx__etcd_parse_url(const char *var, const char *s, struct mcx_etcd_url *out)
{
	static const char scheme[] = "etcd://";
	char hostport[300];
	const char *hp, *slash;
	struct mcx_etcd_url u;

	if (!s || !out)
		return -EINVAL;
	memset(&u, 0, sizeof(u));
	if (strncmp(s, scheme, sizeof(scheme) - 1))
		goto bad;
	hp = s + sizeof(scheme) - 1;
	/* The first '/' after the host (an IPv6 literal has none). */
	slash = strchr(hp, '/');
	if (!slash || (size_t)(slash - hp) >= sizeof(hostport))
		goto bad;
	memcpy(hostport, hp, (size_t)(slash - hp));
	hostport[slash - hp] = '\0';
	if (mcx__parse_hostport(NULL, hostport, u.host, sizeof(u.host), &u.port) || u.port == 0)
		goto bad;
	if (!prefix_ok(slash + 1, strlen(slash + 1)))
		goto bad;
	strcpy(u.prefix, slash + 1);
	*out = u;
	return 0;
bad:
	if (var)
		mcx__err("%s=\"%s\": expected etcd://HOST:PORT/PREFIX (an IPv4 address, [IPv6] address or host name; a port 1..65535; a prefix of 1..%d characters [A-Za-z0-9._-] in segments joined by '/', no '/' at either end)",
			 var, s, MCX_ETCD_PREFIX_MAX);
	return -EINVAL;
}

int mcx__etcd_key(const struct mcx_etcd_url *url, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "/%s/%s", url->prefix, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* ---- base64 (RFC 4648, with padding, as protobuf's JSON writes bytes) ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

/* out must hold b64_len(n) + 1 bytes. */
static void b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

/* Strict: a multiple of 4 characters, padding only at the end.  Length or -EBADMSG. */
static ssize_t b64_decode(const char *in, size_t n, uint8_t *out)
{
	size_t o = 0;

	if (n % 4)
		return -EBADMSG;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return -EBADMSG;
			v[k] = b64_value(in[i + k]);
			if (v[k] < 0)
				return -EBADMSG;
		}
		out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (uint8_t)(v[1] << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (uint8_t)(v[2] << 6 | v[3]);
	}
	return (ssize_t)o;
}

/* ---- the client ---- */

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct mcx_etcd *e = arg;
	size_t n = size * nmemb;

	if (e->reply_len + n + 1 > MCX_ETCD_MAX_REPLY) {
		e->reply_too_big = true;
		return 0;		/* libcurl ends the transfer: CURLE_WRITE_ERROR */
	}
	if (e->reply_len + n + 1 > e->reply_cap) {
		size_t cap = e->reply_cap ? e->reply_cap : 4096;
		char *p;

		while (cap < e->reply_len + n + 1)
			cap *= 2;
		p = realloc(e->reply, cap);
		if (!p)
			return 0;
		e->reply = p;
		e->reply_cap = cap;
	}
	memcpy(e->reply + e->reply_len, data, n);
	e->reply_len += n;
	e->reply[e->reply_len] = '\0';
	return n;
}

int mcx__etcd_open(const struct mcx_etcd_url *url, uint32_t timeout_ms, struct mcx_etcd **out)
{
	struct mcx_etcd *e;
	int ret;

	*out = NULL;
	if (!url || !timeout_ms)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->lib = mcx__etcd_lib(&ret);
	if (!e->lib) {
		free(e);
		return ret;
	}
	e->url = *url;
	e->timeout_ms = timeout_ms;
	e->log_level = MCX_LOG_ERROR;
	snprintf(e->base, sizeof(e->base), strchr(url->host, ':') ? "http://[%s]:%u" :
		 "http://%s:%u", url->host, url->port);
	e->curl = e->lib->curl_easy_init();
	e->headers = e->lib->curl_slist_append(NULL, "Content-Type: application/json");
	if (!e->curl || !e->headers) {
		mcx__etcd_close(e);
		return -ENOMEM;
	}
	pthread_mutex_init(&e->lock, NULL);
	*out = e;
	return 0;
}

void mcx__etcd_close(struct mcx_etcd *e)
{
	if (!e)
		return;
	if (e->curl)
		e->lib->curl_easy_cleanup(e->curl);
	if (e->headers)
		e->lib->curl_slist_free_all(e->headers);
	if (e->curl && e->headers)
		pthread_mutex_destroy(&e->lock);
	free(e->reply);
	free(e);
}

void mcx__etcd_set_log_level(struct mcx_etcd *e, int level)
{
	if (e)
		e->log_level = level;
}

/* What a failed transfer means for the caller, logged with the URL. */
static int transfer_error(struct mcx_etcd *e, const char *url, int code)
{
	const struct mcx_etcd_lib *l = e->lib;
	long os_errno = 0;
	int err;

	switch (code) {
	case CURLE_COULDNT_CONNECT:
		/* The connect()'s own errno says refused from unreachable. */
		l->curl_easy_getinfo(e->curl, CURLINFO_OS_ERRNO, &os_errno);
		err = os_errno == EHOSTUNREACH || os_errno == ENETUNREACH ||
		      os_errno == ECONNREFUSED ? -(int)os_errno : -ECONNREFUSED;
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		err = -EHOSTUNREACH;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		err = -ETIMEDOUT;
		break;
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
		err = -ECONNRESET;
		break;
	case CURLE_WRITE_ERROR:
		err = e->reply_too_big ? -EMSGSIZE : -ENOMEM;
		break;
	default:
		err = -EIO;
		break;
	}
	mcx__log((enum mcx_log_level)e->log_level, "etcd %s: %s (%s)%s", url, mcx_strerror(err),
		 e->errbuf[0] ? e->errbuf : l->curl_easy_strerror(code),
		 err == -ETIMEDOUT ? " within the engine's timeout" : "");
	return err;
}

/*
 * The JSON object of the reply, or NULL with *err set (-EBADMSG for
 * anything but one object and blanks).
 */
static void *parse_reply(struct mcx_etcd *e, const char *url, int *err)
{
	const struct mcx_etcd_lib *l = e->lib;
	void *tok, *obj = NULL;
	size_t end;

	*err = -EBADMSG;
	if (!e->reply_len || e->reply_len > (size_t)INT32_MAX)
		goto bad;
	tok = l->json_tokener_new_ex(JSON_DEPTH);
	if (!tok) {
		*err = -ENOMEM;
		return NULL;
	}
	obj = l->json_tokener_parse_ex(tok, e->reply, (int)e->reply_len);
	end = l->json_tokener_get_parse_end(tok);
	if (!obj || l->json_tokener_get_error(tok) != JSON_TOKENER_SUCCESS ||
	    l->json_object_get_type(obj) != JSON_TYPE_OBJECT) {
		l->json_tokener_free(tok);
		goto bad;
	}
	l->json_tokener_free(tok);
	for (; end < e->reply_len; end++)
		if (!strchr(" \t\r\n", e->reply[end]))
			goto bad;
	*err = 0;
	return obj;
bad:
	if (obj)
		l->json_object_put(obj);
	mcx__err("etcd %s: the answer is not etcd's JSON (%zu bytes)", url, e->reply_len);
	return NULL;
}

/* The HTTP status of an error, as the gateway maps gRPC codes. */
static int status_error(struct mcx_etcd *e, const char *url, long status)
{
	const struct mcx_etcd_lib *l = e->lib;
	const char *msg = NULL;
	void *obj, *m;
	int err;

	switch (status) {
	case 404:
		err = -ENOENT;		/* NotFound: a lease that is gone */
		break;
	case 400:
		err = -EINVAL;
		break;
	case 401:
	case 403:
		err = -EACCES;
		break;
	case 413:
		err = -EMSGSIZE;
		break;
	case 429:
	case 503:
		err = -EAGAIN;
		break;
	default:
		err = -EPROTO;
		break;
	}
	obj = parse_reply(e, url, &(int){ 0 });
	if (obj && (l->json_object_object_get_ex(obj, "message", &m) ||
		    l->json_object_object_get_ex(obj, "error", &m)) &&
	    l->json_object_get_type(m) == JSON_TYPE_STRING)
		msg = l->json_object_get_string(m);
	/* A lease that is gone is an answer the callers expect, not an error. */
	mcx__log(err == -ENOENT ? MCX_LOG_DEBUG : (enum mcx_log_level)e->log_level,
		 "etcd %s: HTTP %ld: %s", url, status, msg ? msg : "(no message)");
	if (obj)
		l->json_object_put(obj);
	return err;
}

/*
 * POST body to path; on 0, *obj is the reply's JSON object (the caller
 * puts it).  Called with e->lock held.
 */
static int post(struct mcx_etcd *e, const char *path, const char *body, void **obj)
{
	const struct mcx_etcd_lib *l = e->lib;
	char url[sizeof(e->base) + 32];
	long status = 0;
	int code, err;

	*obj = NULL;
	snprintf(url, sizeof(url), "%s%s", e->base, path);
	e->reply_len = 0;
	e->reply_too_big = false;
	e->errbuf[0] = '\0';
	l->curl_easy_setopt(e->curl, CURLOPT_URL, url);
	l->curl_easy_setopt(e->curl, CURLOPT_PROTOCOLS, CURLPROTO_HTTP);
	l->curl_easy_setopt(e->curl, CURLOPT_PROXY, "");
	l->curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	l->curl_easy_setopt(e->curl, CURLOPT_TCP_NODELAY, 1L);
	l->curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)e->timeout_ms);
	l->curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)e->timeout_ms);
	l->curl_easy_setopt(e->curl, CURLOPT_ERRORBUFFER, e->errbuf);
	l->curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, e->headers);
	l->curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	l->curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	l->curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_data);
	l->curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, e);
	code = l->curl_easy_perform(e->curl);
	if (code)
		return transfer_error(e, url, code);
	l->curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		return status_error(e, url, status);
	*obj = parse_reply(e, url, &err);
	return err;
}

/* ---- reading replies ---- */

/* obj[key] as an int64 (absent: 0); -EBADMSG for anything else. */
static int get_i64(const struct mcx_etcd_lib *l, void *obj, const char *key, int64_t *out)
{
	void *v;

	*out = 0;
	if (!l->json_object_object_get_ex(obj, key, &v))
		return 0;
	switch (l->json_object_get_type(v)) {
	case JSON_TYPE_STRING:
		return mcx__parse_i64(NULL, l->json_object_get_string(v), INT64_MIN,
				      INT64_MAX, out) ? -EBADMSG : 0;
	case JSON_TYPE_INT:
		*out = l->json_object_get_int64(v);
		return 0;
	default:
		return -EBADMSG;
	}
}

/* The id of an int64 for a request body. */
#define I64_FMT	"\"%" PRId64 "\""

int mcx__etcd_grant(struct mcx_etcd *e, uint32_t ttl_s, int64_t *lease)
{
	char body[64];
	int64_t id = 0, ttl = 0;
	void *obj;
	int ret;

	if (!e || !ttl_s || !lease)
		return -EINVAL;
	snprintf(body, sizeof(body), "{\"TTL\":" I64_FMT "}", (int64_t)ttl_s);
	pthread_mutex_lock(&e->lock);
	ret = post(e, "/v3/lease/grant", body, &obj);
	if (!ret) {
		ret = get_i64(e->lib, obj, "ID", &id);
		if (!ret)
			ret = get_i64(e->lib, obj, "TTL", &ttl);
		if (!ret && (id == 0 || ttl <= 0))
			ret = -EBADMSG;
		if (ret)
			mcx__err("etcd %s: lease grant: an answer without a lease", e->base);
		e->lib->json_object_put(obj);
	}
	pthread_mutex_unlock(&e->lock);
	if (!ret)
		*lease = id;
	return ret;
}

int mcx__etcd_keepalive(struct mcx_etcd *e, int64_t lease)
{
	char body[64];
	int64_t ttl = 0;
	void *obj, *res;
	int ret;

	if (!e || !lease)
		return -EINVAL;
	snprintf(body, sizeof(body), "{\"ID\":" I64_FMT "}", lease);
	pthread_mutex_lock(&e->lock);
	ret = post(e, "/v3/lease/keepalive", body, &obj);
	if (!ret) {
		/* A streaming call: the gateway wraps each answer in "result". */
		if (!e->lib->json_object_object_get_ex(obj, "result", &res))
			res = obj;
		ret = get_i64(e->lib, res, "TTL", &ttl);
		if (ret)
			mcx__err("etcd %s: lease keepalive: a malformed answer", e->base);
		else if (ttl <= 0)
			ret = -ENOENT;	/* expired: etcd answers with no TTL */
		e->lib->json_object_put(obj);
	}
	pthread_mutex_unlock(&e->lock);
	return ret;
}

int mcx__etcd_revoke(struct mcx_etcd *e, int64_t lease)
{
	char body[64];
	void *obj;
	int ret;

	if (!e || !lease)
		return -EINVAL;
	snprintf(body, sizeof(body), "{\"ID\":" I64_FMT "}", lease);
	pthread_mutex_lock(&e->lock);
	ret = post(e, "/v3/lease/revoke", body, &obj);
	if (!ret)
		e->lib->json_object_put(obj);
	pthread_mutex_unlock(&e->lock);
	return ret;
}

/* {"key":"<base64 of /PREFIX/name>" into a malloc'd body with room for more. */
static char *body_with_key(struct mcx_etcd *e, const char *name, size_t extra)
{
	char key[MCX_ETCD_PREFIX_MAX + MCX_ETCD_NAME_MAX + 3];
	size_t klen, cap;
	char *body;

	if (!mcx__etcd_name_ok(name) || mcx__etcd_key(&e->url, name, key, sizeof(key)))
		return NULL;
	klen = strlen(key);
	cap = 16 + b64_len(klen) + extra;
	body = malloc(cap);
	if (!body)
		return NULL;
	strcpy(body, "{\"key\":\"");
	b64_encode((const uint8_t *)key, klen, body + strlen(body));
	strcat(body, "\"");
	return body;
}

int mcx__etcd_put(struct mcx_etcd *e, const char *name, const void *val, size_t len,
		  int64_t lease)
{
	size_t extra = 64 + b64_len(len);
	char *body, *p;
	void *obj;
	int ret;

	if (!e || (!val && len) || len > MCX_ETCD_MAX_REPLY / 2)
		return -EINVAL;
	if (!mcx__etcd_name_ok(name))
		return -EINVAL;
	body = body_with_key(e, name, extra);
	if (!body)
		return -ENOMEM;
	p = body + strlen(body);
	strcpy(p, ",\"value\":\"");
	p += strlen(p);
	b64_encode(val, len, p);
	p += strlen(p);
	if (lease)
		sprintf(p, "\",\"lease\":" I64_FMT "}", lease);
	else
		strcpy(p, "\"}");
	pthread_mutex_lock(&e->lock);
	ret = post(e, "/v3/kv/put", body, &obj);
	if (!ret)
		e->lib->json_object_put(obj);
	pthread_mutex_unlock(&e->lock);
	free(body);
	return ret;
}

/* One kv of a range answer: its revisions, lease and (with val) value. */
static int read_kv(struct mcx_etcd *e, void *kvobj, void **val, size_t *len,
		   struct mcx_etcd_kv *kv)
{
	const struct mcx_etcd_lib *l = e->lib;
	const char *s = "";
	size_t n = 0;
	void *v;
	uint8_t *buf;
	ssize_t got;
	int ret;

	if (l->json_object_get_type(kvobj) != JSON_TYPE_OBJECT)
		return -EBADMSG;
	ret = get_i64(l, kvobj, "create_revision", &kv->create_revision);
	if (!ret)
		ret = get_i64(l, kvobj, "mod_revision", &kv->mod_revision);
	if (!ret)
		ret = get_i64(l, kvobj, "lease", &kv->lease);
	if (ret || kv->create_revision <= 0)
		return -EBADMSG;
	if (!val)
		return 0;
	if (l->json_object_object_get_ex(kvobj, "value", &v)) {
		if (l->json_object_get_type(v) != JSON_TYPE_STRING)
			return -EBADMSG;
		s = l->json_object_get_string(v);
		n = (size_t)l->json_object_get_string_len(v);
	}
	buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	got = b64_decode(s, n, buf);
	if (got < 0) {
		free(buf);
		return (int)got;
	}
	*val = buf;
	*len = (size_t)got;
	return 0;
}

int mcx__etcd_get(struct mcx_etcd *e, const char *name, void **val, size_t *len,
		  struct mcx_etcd_kv *kv)
{
	struct mcx_etcd_kv k = { 0 };
	int64_t count = 0;
	void *obj, *kvs = NULL;
	char *body;
	int ret;

	if (val)
		*val = NULL;
	if (!e || (val && !len) || !mcx__etcd_name_ok(name))
		return -EINVAL;
	body = body_with_key(e, name, 32);
	if (!body)
		return -ENOMEM;
	strcat(body, val ? "}" : ",\"keys_only\":true}");
	pthread_mutex_lock(&e->lock);
	ret = post(e, "/v3/kv/range", body, &obj);
	if (!ret) {
		const struct mcx_etcd_lib *l = e->lib;

		ret = get_i64(l, obj, "count", &count);
		if (!ret && l->json_object_object_get_ex(obj, "kvs", &kvs) &&
		    (l->json_object_get_type(kvs) != JSON_TYPE_ARRAY ||
		     l->json_object_array_length(kvs) > 1))
			ret = -EBADMSG;
		if (!ret && (count == 0 || !kvs || !l->json_object_array_length(kvs)))
			ret = count == 0 ? -ENOENT : -EBADMSG;
		if (!ret)
			ret = read_kv(e, l->json_object_array_get_idx(kvs, 0), val, len, &k);
		if (ret == -EBADMSG)
			mcx__err("etcd %s: range of %s: a malformed answer", e->base, name);
		l->json_object_put(obj);
	}
	pthread_mutex_unlock(&e->lock);
	free(body);
	if (!ret && kv)
		*kv = k;
	return ret;
}
