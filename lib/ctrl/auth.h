/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Pre-shared-key authentication of the peer handshake (lib/ctrl/auth.c).
 *
 * Both ends hold the same secret key (a file, see mcx__auth_key_load()).
 * Before anything else crosses the TCP connection they run a mutual
 * challenge-response:
 *
 *   client -> server   nonce_c                     (32 random bytes)
 *   server -> client   nonce_s, proof_s            (32 random bytes, a MAC)
 *   client -> server   proof_c
 *
 *   proof_s = HMAC-SHA256(key, LABEL_SERVER || nonce_c || nonce_s || ctx)
 *   proof_c = HMAC-SHA256(key, LABEL_CLIENT || nonce_c || nonce_s || ctx)
 *
 * The client checks proof_s before it sends proof_c; the server checks
 * proof_c before it answers any other request.  LABEL_SERVER and
 * LABEL_CLIENT are distinct fixed ASCII strings, each with its terminating
 * NUL, so that neither is a prefix of the other and the message parses one
 * way only (nonces have a fixed length, ctx is the rest).  ctx is an
 * optional byte string that both ends must build identically; the handshake
 * passes the wire version and the listener's address, so that a proof made
 * for one listener or protocol version is worth nothing for another.
 *
 * What it proves: each end learns that the other holds the key, for this
 * exchange.  Both nonces are in both MACs, so a proof recorded from an
 * earlier handshake never matches a fresh nonce (no replay).  The role label
 * is in the MAC, so a server proof can never be passed off as a client
 * proof: an attacker without the key who connects to a server and reflects
 * its challenge, or relays it to another server, gets only server proofs,
 * which no server accepts.  Checks also refuse nonces that are equal or all
 * zero, the signs of a reflected or broken challenge.  Someone without the
 * key can neither complete a handshake nor learn anything from one beyond
 * the nonces (HMAC-SHA256 is a PRF: its outputs reveal nothing of the key,
 * and comparisons are constant-time).
 *
 * What it does not do: the TCP stream is neither encrypted nor bound to the
 * handshake.  An attacker on the path can read everything that follows, and
 * can relay a whole handshake between a real client and a real server and
 * then inject or alter messages on the authenticated connection.  This keeps
 * strangers from using a listener; it is not a secure channel (for that, run
 * the connection inside TLS, WireGuard, IPsec, or a private fabric).  The
 * key's strength is the key file's: 16 bytes at least, used as-is (a
 * base64-encoded random file such as `head -c 32 /dev/urandom | base64`
 * gives 256 bits).
 *
 * Everything here is thread-safe and keeps no state outside the caller's
 * structs.  The library links libcrypto (OpenSSL 1.1.1 or 3.x) for the HMAC
 * and the constant-time comparison.
 */
#ifndef MCXFER_LIB_CTRL_AUTH_H
#define MCXFER_LIB_CTRL_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define MCX_AUTH_NONCE_LEN	32
#define MCX_AUTH_MAC_LEN	32	/* HMAC-SHA256 */
#define MCX_AUTH_KEY_MIN	16	/* bytes, trailing newline not counted */
#define MCX_AUTH_KEY_MAX	4096

/*
 * A loaded key.  len == 0 means "no key": every function refuses it, and it
 * is the state a failed load leaves behind.  Wipe it with
 * mcx__auth_key_wipe() when done (it sits in the caller's memory, which
 * may be a stack frame).
 */
struct mcx_auth_key {
	size_t len;
	uint8_t bytes[MCX_AUTH_KEY_MAX];
};

/*
 * Which end computes (or is checked for) a proof.  0 is no role, so a
 * zeroed variable is refused rather than taken for one side.
 */
enum mcx_auth_role {
	MCX_AUTH_SERVER = 1,	/* the listener: proof_s */
	MCX_AUTH_CLIENT = 2,	/* the end that connected: proof_c */
};

/* A part of an HMAC's message, for mcx__auth_hmac(). */
struct mcx_auth_seg {
	const void *p;
	size_t len;
};

/*
 * Read the key file `path`.  `what` names the setting it came from
 * ("MCX_AUTH_KEY_FILE", "opts.auth_key_file") in the error messages
 * (NULL: "auth key file").
 *
 * The path must be absolute; its last component must not be a symbolic
 * link (opened with O_NOFOLLOW; directories above it may be links).  The
 * file must be a regular file owned by the effective uid or by root, with
 * no permission bits for group or others (mode & 077 == 0).  Its content,
 * less one trailing '\n' if there is one, is the key, used byte for byte:
 * MCX_AUTH_KEY_MIN..MCX_AUTH_KEY_MAX bytes.
 *
 * 0 with *out set, or (each logged, naming `what`, the path and the fix):
 *   -EINVAL  a relative or empty path; something that is neither a
 *            regular file nor a directory (a FIFO, a device); a key too
 *            short or too long;
 *   -ENOENT  no such file (or a directory above it is missing);
 *   -ELOOP   the file is a symbolic link;
 *   -EISDIR  the path is a directory;
 *   -EACCES  group or others have access, the owner is someone else, or
 *            open() itself was refused;
 *   other -errno of open(2), fstat(2) or read(2).
 * On error *out is zeroed (len 0) and no key byte is left anywhere.
 */
int mcx__auth_key_load(const char *what, const char *path,
		       struct mcx_auth_key *out);

/*
 * Set *out to the len bytes at bytes (a key given in memory rather than in a
 * file).  0, or -EINVAL when len is outside MCX_AUTH_KEY_MIN..MAX, with *out
 * zeroed.  Not logged: the caller knows where the bytes came from.
 */
int mcx__auth_key_set(struct mcx_auth_key *out, const void *bytes, size_t len);

/* Overwrite the whole key (bytes and length) in a way the compiler keeps. */
void mcx__auth_key_wipe(struct mcx_auth_key *k);

/*
 * Fill out with MCX_AUTH_NONCE_LEN bytes from the kernel's CSPRNG
 * (getrandom(2); libcrypto's RAND_bytes() where that system call is missing
 * or filtered).  0, or -EIO (logged) when neither gives randomness; out is
 * zeroed then, which every check refuses.
 */
int mcx__auth_nonce(uint8_t out[MCX_AUTH_NONCE_LEN]);

/*
 * The proof that `role` sends for this exchange (see the top of this file),
 * into out.  ctx may be NULL when ctx_len is 0.
 *   0
 *   -EACCES  nonce_c and nonce_s are equal, or one is all zero: a
 *            reflected or broken challenge, which no proof is made for;
 *   -EINVAL  no key (len 0), a role other than the two, ctx NULL with a
 *            length (logged: the caller is wrong);
 *   -ENOMEM, -EIO  libcrypto failed (logged).
 * On error out is zeroed.
 */
int mcx__auth_proof(const struct mcx_auth_key *k, enum mcx_auth_role role,
		    const uint8_t nonce_c[MCX_AUTH_NONCE_LEN],
		    const uint8_t nonce_s[MCX_AUTH_NONCE_LEN],
		    const void *ctx, size_t ctx_len,
		    uint8_t out[MCX_AUTH_MAC_LEN]);

/*
 * Check a proof that the peer, playing `role`, sent: 0 when it is the one
 * mcx__auth_proof() gives for these arguments, compared in constant time.
 * Everything else is -EACCES, so that no error path can read as success:
 * a wrong proof, equal or all-zero nonces, and the caller errors and
 * libcrypto failures of mcx__auth_proof() (which those log).
 */
int mcx__auth_check(const struct mcx_auth_key *k, enum mcx_auth_role role,
		    const uint8_t nonce_c[MCX_AUTH_NONCE_LEN],
		    const uint8_t nonce_s[MCX_AUTH_NONCE_LEN],
		    const void *ctx, size_t ctx_len,
		    const uint8_t proof[MCX_AUTH_MAC_LEN]);

/*
 * HMAC-SHA256 of the concatenation of segs[0..nsegs-1] under the key_len
 * bytes at key, into out (what the proofs are made with; the unit tests
 * check it against RFC 4231).  A segment of length 0 may have p NULL.
 * 0, or -EINVAL (key_len 0, or p NULL with a length), -ENOMEM or -EIO
 * (libcrypto failed; logged), with out zeroed.
 */
int mcx__auth_hmac(const void *key, size_t key_len,
		   const struct mcx_auth_seg *segs, size_t nsegs,
		   uint8_t out[MCX_AUTH_MAC_LEN]);

#endif /* MCXFER_LIB_CTRL_AUTH_H */
