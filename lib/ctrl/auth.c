// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Pre-shared-key authentication of the peer handshake: loading the key file
 * with the checks an ssh private key gets, nonces, and the HMAC-SHA256
 * proofs of the challenge-response described in auth.h.
 *
 * All the cryptography is libcrypto's: the MAC (through the EVP interface,
 * which OpenSSL 1.1.1 and 3.x both offer without deprecation warnings), the
 * constant-time comparison and the wiping.  Every buffer that held key
 * bytes or an expected proof is wiped with OPENSSL_cleanse() before it goes
 * out of scope, since a plain memset() of a dead buffer may be optimised
 * away.
 */
#define _GNU_SOURCE	/* getrandom(), strerrordesc_np(), O_NOFOLLOW */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ctrl/auth.h"
#include "util/util.h"

/*
 * The role labels.  Each is hashed with its terminating NUL, so neither is
 * a prefix of the other; the version lets a later protocol change the
 * message without any proof of this one ever matching it.
 */
static const char label_server[] = "mcxfer psk auth v1: server proof";
static const char label_client[] = "mcxfer psk auth v1: client proof";

/* mcx_strerror() gives registry meanings (ENOENT: no such entry); not here. */
static const char *errtext(int err)
{
	const char *msg = strerrordesc_np(err < 0 ? -err : err);

	return msg ? msg : "unknown error";
}

/* Log libcrypto's first queued error, and leave the thread's queue empty. */
static void log_crypto(const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		strcpy(buf, "no detail");
	ERR_clear_error();
	mcx__err("auth: %s failed: %s", what, buf);
}

/* ---- keys ---- */

void mcx__auth_key_wipe(struct mcx_auth_key *k)
{
	if (!k)
		return;
	OPENSSL_cleanse(k, sizeof(*k));
	k->len = 0;
}

int mcx__auth_key_set(struct mcx_auth_key *out, const void *bytes, size_t len)
{
	if (!out)
		return -EINVAL;
	/* Whatever key was there before goes, whether or not this one is taken. */
	mcx__auth_key_wipe(out);
	if (!bytes || len < MCX_AUTH_KEY_MIN || len > MCX_AUTH_KEY_MAX)
		return -EINVAL;
	memcpy(out->bytes, bytes, len);
	out->len = len;
	return 0;
}

/*
 * The checks on the opened file, before a byte of it is read: a key that
 * others can read may already be known, and one that someone else owns may
 * have been planted.  Done on the fd, so they are about the file we read.
 */
static int key_file_check(const char *what, const char *path, int fd)
{
	struct stat st;
	uid_t euid = geteuid();

	if (fstat(fd, &st) < 0) {
		int ret = -errno;

		mcx__err("%s: cannot stat %s: %s", what, path, errtext(ret));
		return ret;
	}
	if (S_ISDIR(st.st_mode)) {
		mcx__err("%s: %s is a directory; name the key file in it", what, path);
		return -EISDIR;
	}
	if (!S_ISREG(st.st_mode)) {
		mcx__err("%s: %s is not a regular file; the key must be kept in one",
			 what, path);
		return -EINVAL;
	}
	if (st.st_uid != euid && st.st_uid != 0) {
		mcx__err("%s: %s belongs to uid %u; a key file must belong to uid %u (this process) or root: chown %u %s",
			 what, path, (unsigned int)st.st_uid, (unsigned int)euid,
			 (unsigned int)euid, path);
		return -EACCES;
	}
	/*
	 * With a POSIX ACL the group bits are the ACL's mask, so a file that
	 * an ACL opens to someone else is refused here too.
	 */
	if (st.st_mode & 077) {
		mcx__err("%s: %s has mode %04o: group or others may read or change the key; run: chmod 600 %s",
			 what, path, (unsigned int)(st.st_mode & 07777), path);
		return -EACCES;
	}
	return 0;
}

int mcx__auth_key_load(const char *what, const char *path,
		       struct mcx_auth_key *out)
{
	/*
	 * Two bytes over the maximum: a read that fills this is too long
	 * even after one trailing newline is dropped, and nothing past it is
	 * read, however large the file.
	 */
	uint8_t buf[MCX_AUTH_KEY_MAX + 2];
	size_t n = 0;
	int fd, ret;

	if (!out)
		return -EINVAL;
	mcx__auth_key_wipe(out);
	if (!what)
		what = "auth key file";
	if (!path || path[0] != '/') {
		mcx__err("%s: \"%s\" is not an absolute path; give the key file's full path",
			 what, path ? path : "");
		return -EINVAL;
	}

	/*
	 * O_NOFOLLOW: the file itself, not what a link (perhaps someone
	 * else's) points at.  O_NONBLOCK: a FIFO put there cannot hang us in
	 * open(); it is refused as not a regular file, and on a regular file
	 * the flag changes nothing.
	 */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ELOOP)
			mcx__err("%s: %s is a symbolic link; name the key file itself",
				 what, path);
		else
			mcx__err("%s: cannot open %s: %s", what, path, errtext(ret));
		return ret;
	}

	ret = key_file_check(what, path, fd);
	if (ret)
		goto out;

	while (n < sizeof(buf)) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			mcx__err("%s: cannot read %s: %s", what, path, errtext(ret));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}

	/* One newline only: `base64 > file` adds it; anything else is key. */
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > MCX_AUTH_KEY_MAX) {
		mcx__err("%s: %s is longer than %d bytes; a key file holds the key and at most one trailing newline",
			 what, path, MCX_AUTH_KEY_MAX);
		ret = -EINVAL;
		goto out;
	}
	if (n < MCX_AUTH_KEY_MIN) {
		mcx__err("%s: %s holds %zu key bytes, fewer than %d; make a key with: (umask 077; head -c 32 /dev/urandom | base64 > %s)",
			 what, path, n, MCX_AUTH_KEY_MIN, path);
		ret = -EINVAL;
		goto out;
	}
	ret = mcx__auth_key_set(out, buf, n);
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return ret;
}

/* ---- nonces ---- */

int mcx__auth_nonce(uint8_t out[MCX_AUTH_NONCE_LEN])
{
	size_t n = 0;

	if (!out)
		return -EINVAL;
	/*
	 * getrandom(2) first: the kernel's generator, no state in this
	 * process that a fork() could duplicate.  Up to 256 bytes it never
	 * returns short once the pool is ready, but loop anyway.
	 */
	while (n < MCX_AUTH_NONCE_LEN) {
		ssize_t r = getrandom(out + n, MCX_AUTH_NONCE_LEN - n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (n == MCX_AUTH_NONCE_LEN)
		return 0;
	/* An old kernel or a seccomp filter: libcrypto's DRBG (fork-safe). */
	if (RAND_bytes(out, MCX_AUTH_NONCE_LEN) == 1)
		return 0;
	log_crypto("RAND_bytes");
	memset(out, 0, MCX_AUTH_NONCE_LEN);
	return -EIO;
}

/* ---- MACs ---- */

int mcx__auth_hmac(const void *key, size_t key_len,
		   const struct mcx_auth_seg *segs, size_t nsegs,
		   uint8_t out[MCX_AUTH_MAC_LEN])
{
	EVP_MD_CTX *md = NULL;
	EVP_PKEY *pkey = NULL;
	size_t out_len = MCX_AUTH_MAC_LEN;
	int ret = -EIO;

	if (!out)
		return -EINVAL;
	memset(out, 0, MCX_AUTH_MAC_LEN);
	if (!key || !key_len || (nsegs && !segs))
		return -EINVAL;
	for (size_t i = 0; i < nsegs; i++)
		if (segs[i].len && !segs[i].p)
			return -EINVAL;

	/* libcrypto copies the key and wipes its copy in EVP_PKEY_free(). */
	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_HMAC, NULL, key, key_len);
	md = EVP_MD_CTX_new();
	if (!pkey || !md) {
		log_crypto("allocating an HMAC context");
		ret = -ENOMEM;
		goto out;
	}
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1) {
		log_crypto("HMAC-SHA256 init");
		goto out;
	}
	for (size_t i = 0; i < nsegs; i++) {
		if (!segs[i].len)
			continue;
		if (EVP_DigestSignUpdate(md, segs[i].p, segs[i].len) != 1) {
			log_crypto("HMAC-SHA256 update");
			goto out;
		}
	}
	if (EVP_DigestSignFinal(md, out, &out_len) != 1 ||
	    out_len != MCX_AUTH_MAC_LEN) {
		log_crypto("HMAC-SHA256 final");
		goto out;
	}
	ret = 0;
out:
	if (ret)
		OPENSSL_cleanse(out, MCX_AUTH_MAC_LEN);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return ret;
}

/*
 * Equal nonces mean the peer sent ours back (or both ends' generators are
 * broken the same way); an all-zero one is what a failed generator or an
 * uninitialised buffer gives.  Nonces are public: no need for constant time.
 */
static bool nonces_ok(const uint8_t *nonce_c, const uint8_t *nonce_s)
{
	static const uint8_t zero[MCX_AUTH_NONCE_LEN];

	return memcmp(nonce_c, nonce_s, MCX_AUTH_NONCE_LEN) &&
	       memcmp(nonce_c, zero, MCX_AUTH_NONCE_LEN) &&
	       memcmp(nonce_s, zero, MCX_AUTH_NONCE_LEN);
}

int mcx__auth_proof(const struct mcx_auth_key *k, enum mcx_auth_role role,
		    const uint8_t nonce_c[MCX_AUTH_NONCE_LEN],
		    const uint8_t nonce_s[MCX_AUTH_NONCE_LEN],
		    const void *ctx, size_t ctx_len,
		    uint8_t out[MCX_AUTH_MAC_LEN])
{
	struct mcx_auth_seg segs[4];

	if (!out)
		return -EINVAL;
	memset(out, 0, MCX_AUTH_MAC_LEN);
	if (!k || k->len < MCX_AUTH_KEY_MIN || k->len > MCX_AUTH_KEY_MAX) {
		mcx__err("auth: no key loaded");
		return -EINVAL;
	}
	if (!nonce_c || !nonce_s || (ctx_len && !ctx)) {
		mcx__err("auth: missing nonce or context");
		return -EINVAL;
	}
	switch (role) {
	case MCX_AUTH_SERVER:
		segs[0] = (struct mcx_auth_seg){ label_server, sizeof(label_server) };
		break;
	case MCX_AUTH_CLIENT:
		segs[0] = (struct mcx_auth_seg){ label_client, sizeof(label_client) };
		break;
	default:
		mcx__err("auth: unknown role %d", (int)role);
		return -EINVAL;
	}
	if (!nonces_ok(nonce_c, nonce_s)) {
		mcx__dbg("auth: refusing a challenge whose nonces are equal or zero");
		return -EACCES;
	}
	segs[1] = (struct mcx_auth_seg){ nonce_c, MCX_AUTH_NONCE_LEN };
	segs[2] = (struct mcx_auth_seg){ nonce_s, MCX_AUTH_NONCE_LEN };
	segs[3] = (struct mcx_auth_seg){ ctx, ctx_len };
	return mcx__auth_hmac(k->bytes, k->len, segs, 4, out);
}

int mcx__auth_check(const struct mcx_auth_key *k, enum mcx_auth_role role,
		    const uint8_t nonce_c[MCX_AUTH_NONCE_LEN],
		    const uint8_t nonce_s[MCX_AUTH_NONCE_LEN],
		    const void *ctx, size_t ctx_len,
		    const uint8_t proof[MCX_AUTH_MAC_LEN])
{
	uint8_t want[MCX_AUTH_MAC_LEN];
	int ret;

	if (!proof)
		return -EACCES;
	ret = mcx__auth_proof(k, role, nonce_c, nonce_s, ctx, ctx_len, want);
	/*
	 * CRYPTO_memcmp() takes the same time wherever the first difference
	 * is, so timing does not tell an attacker how much of a forged proof
	 * was right.
	 */
	if (!ret && CRYPTO_memcmp(want, proof, MCX_AUTH_MAC_LEN))
		ret = -EACCES;
	OPENSSL_cleanse(want, sizeof(want));
	return ret ? -EACCES : 0;
}
