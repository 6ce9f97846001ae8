// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Pre-shared-key authentication (lib/ctrl/auth.c): the HMAC against RFC
 * 4231, the proofs against an HMAC computed here over the message layout
 * that auth.h documents (with libcrypto's one-shot HMAC(), not the
 * library's code) and against fixed vectors made with another
 * implementation (Python's hmac), so that a wrong digest or a changed
 * layout cannot pass; that any change of key, role, nonce, context or proof
 * is refused, reflected and broken challenges included; and the key file
 * rules, each refusal with its errno and a message that names the setting,
 * the file and the fix.
 *
 * The key file tests work in a mkdtemp() directory that is removed whether
 * they pass or fail: their body runs in a child process, and the parent
 * cleans up after it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util.h"
#include "ctrl/auth.h"

/* The labels as auth.h describes them, typed again rather than shared. */
#define LABEL_SERVER "mcxfer psk auth v1: server proof"
#define LABEL_CLIENT "mcxfer psk auth v1: client proof"

static const char test_ctx[] = "mcxfer/1 192.0.2.1:18515";

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void unhex(const char *hex, uint8_t *out, size_t len)
{
	ASSERT_EQ(strlen(hex), 2 * len);
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		ASSERT_TRUE(hi >= 0 && lo >= 0);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
}

static int all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return 0;
	return 1;
}

/* The fixed exchange of the known-answer tests. */
static void fixed_exchange(struct mcx_auth_key *k, uint8_t nc[MCX_AUTH_NONCE_LEN],
			   uint8_t ns[MCX_AUTH_NONCE_LEN])
{
	ASSERT_ERR(mcx__auth_key_set(k, "0123456789abcdef0123456789abcdef", 32), 0);
	for (int i = 0; i < MCX_AUTH_NONCE_LEN; i++) {
		nc[i] = (uint8_t)(i + 1);
		ns[i] = (uint8_t)(i + 33);
	}
}

/* A fresh exchange: a random key and nonces. */
static void random_exchange(struct mcx_auth_key *k, uint8_t nc[MCX_AUTH_NONCE_LEN],
			    uint8_t ns[MCX_AUTH_NONCE_LEN])
{
	uint8_t raw[MCX_AUTH_NONCE_LEN];

	ASSERT_ERR(mcx__auth_nonce(raw), 0);
	ASSERT_ERR(mcx__auth_key_set(k, raw, sizeof(raw)), 0);
	ASSERT_ERR(mcx__auth_nonce(nc), 0);
	ASSERT_ERR(mcx__auth_nonce(ns), 0);
}

/* ---- HMAC and known answers ---- */

TEST(auth_hmac_rfc4231)
{
	static const struct {
		uint8_t key_byte;	/* the key is key_len copies of it ... */
		size_t key_len;
		const char *key;	/* ... unless this is set */
		const char *data;	/* else data_len copies of data_byte */
		uint8_t data_byte;
		size_t data_len;
		const char *mac;
	} tc[] = {
		/* RFC 4231 test cases 1, 2, 3 and 6 (a key over a block). */
		{ 0x0b, 20, NULL, "Hi There", 0, 0,
		  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
		{ 0, 4, "Jefe", "what do ya want for nothing?", 0, 0,
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
		{ 0xaa, 20, NULL, NULL, 0xdd, 50,
		  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
		{ 0xaa, 131, NULL, "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
		  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
	};

	for (size_t t = 0; t < sizeof(tc) / sizeof(tc[0]); t++) {
		uint8_t key[256], data[256], want[MCX_AUTH_MAC_LEN], got[MCX_AUTH_MAC_LEN];
		size_t data_len;

		if (tc[t].key)
			memcpy(key, tc[t].key, tc[t].key_len);
		else
			memset(key, tc[t].key_byte, tc[t].key_len);
		if (tc[t].data) {
			data_len = strlen(tc[t].data);
			memcpy(data, tc[t].data, data_len);
		} else {
			data_len = tc[t].data_len;
			memset(data, tc[t].data_byte, data_len);
		}
		unhex(tc[t].mac, want, sizeof(want));

		/* In one piece. */
		struct mcx_auth_seg one = { data, data_len };

		ASSERT_ERR(mcx__auth_hmac(key, tc[t].key_len, &one, 1, got), 0);
		ASSERT_TRUE(!memcmp(got, want, sizeof(want)));

		/* Split anywhere, with an empty NULL segment in the middle. */
		for (size_t cut = 0; cut <= data_len; cut++) {
			struct mcx_auth_seg segs[3] = {
				{ data, cut }, { NULL, 0 }, { data + cut, data_len - cut },
			};

			memset(got, 0, sizeof(got));
			ASSERT_ERR(mcx__auth_hmac(key, tc[t].key_len, segs, 3, got), 0);
			ASSERT_TRUE(!memcmp(got, want, sizeof(want)));
		}
	}
}

TEST(auth_hmac_bad_args)
{
	uint8_t out[MCX_AUTH_MAC_LEN];
	struct mcx_auth_seg bad = { NULL, 1 };

	memset(out, 0xff, sizeof(out));
	ASSERT_ERR(mcx__auth_hmac("k", 0, NULL, 0, out), -EINVAL);
	ASSERT_TRUE(all_zero(out, sizeof(out)));
	ASSERT_ERR(mcx__auth_hmac(NULL, 4, NULL, 0, out), -EINVAL);
	ASSERT_ERR(mcx__auth_hmac("Jefe", 4, NULL, 1, out), -EINVAL);
	memset(out, 0xff, sizeof(out));
	ASSERT_ERR(mcx__auth_hmac("Jefe", 4, &bad, 1, out), -EINVAL);
	ASSERT_TRUE(all_zero(out, sizeof(out)));
	ASSERT_ERR(mcx__auth_hmac("Jefe", 4, NULL, 0, NULL), -EINVAL);
	/* No segments at all is the MAC of the empty message, not an error. */
	ASSERT_ERR(mcx__auth_hmac("Jefe", 4, NULL, 0, out), 0);
	ASSERT_TRUE(!all_zero(out, sizeof(out)));
}

/*
 * The proofs are HMAC-SHA256(key, label NUL nonce_c nonce_s ctx), checked
 * with libcrypto's one-shot HMAC() over the message assembled here.
 */
TEST(auth_proof_layout)
{
	static const char *const labels[] = {
		[MCX_AUTH_SERVER] = LABEL_SERVER, [MCX_AUTH_CLIENT] = LABEL_CLIENT,
	};
	struct mcx_auth_key k;
	uint8_t nc[MCX_AUTH_NONCE_LEN], ns[MCX_AUTH_NONCE_LEN];

	for (int round = 0; round < 2; round++) {
		if (round == 0)
			fixed_exchange(&k, nc, ns);
		else
			random_exchange(&k, nc, ns);
		for (int role = MCX_AUTH_SERVER; role <= MCX_AUTH_CLIENT; role++) {
			for (int with_ctx = 0; with_ctx <= 1; with_ctx++) {
				size_t ctx_len = with_ctx ? strlen(test_ctx) : 0;
				const char *ctx = with_ctx ? test_ctx : NULL;
				uint8_t msg[256], want[EVP_MAX_MD_SIZE], got[MCX_AUTH_MAC_LEN];
				size_t lab = strlen(labels[role]) + 1, len = 0;
				unsigned int want_len = 0;

				memcpy(msg + len, labels[role], lab);
				len += lab;
				memcpy(msg + len, nc, sizeof(nc));
				len += sizeof(nc);
				memcpy(msg + len, ns, sizeof(ns));
				len += sizeof(ns);
				memcpy(msg + len, test_ctx, ctx_len);
				len += ctx_len;
				ASSERT_TRUE(HMAC(EVP_sha256(), k.bytes, (int)k.len, msg, len,
						 want, &want_len) != NULL);
				ASSERT_EQ(want_len, MCX_AUTH_MAC_LEN);

				ASSERT_ERR(mcx__auth_proof(&k, role, nc, ns, ctx, ctx_len, got), 0);
				ASSERT_TRUE(!memcmp(got, want, MCX_AUTH_MAC_LEN));
				ASSERT_ERR(mcx__auth_check(&k, role, nc, ns, ctx, ctx_len, want), 0);
			}
		}
	}
	mcx__auth_key_wipe(&k);
}

/*
 * Fixed answers from an independent implementation (Python's hmac module),
 * which pin protocol v1: an interoperating peer computes exactly these.
 */
TEST(auth_proof_known_answers)
{
	static const struct {
		enum mcx_auth_role role;
		int with_ctx;
		const char *mac;
	} kat[] = {
		{ MCX_AUTH_SERVER, 1, "106869712f70a20652a0653d84a11a8ce5802e949a41d5c114e0dd28ce1cb8bf" },
		{ MCX_AUTH_SERVER, 0, "f98b2bb660f4d1d4b11b117e248670629c3d7797636f922c6a12db971a451fc1" },
		{ MCX_AUTH_CLIENT, 1, "4e67509bfc9c9831bf77813521a89f7d9faea5f2021e3a1e3c5b2fff6cd081cb" },
		{ MCX_AUTH_CLIENT, 0, "bb29d0a9d63c1bb28b34024e2638756b6a965ba364ce0efd81688e35d37af5cc" },
	};
	struct mcx_auth_key k;
	uint8_t nc[MCX_AUTH_NONCE_LEN], ns[MCX_AUTH_NONCE_LEN];

	fixed_exchange(&k, nc, ns);
	for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		uint8_t want[MCX_AUTH_MAC_LEN], got[MCX_AUTH_MAC_LEN];
		size_t ctx_len = kat[i].with_ctx ? strlen(test_ctx) : 0;

		unhex(kat[i].mac, want, sizeof(want));
		ASSERT_ERR(mcx__auth_proof(&k, kat[i].role, nc, ns, test_ctx, ctx_len, got), 0);
		ASSERT_TRUE(!memcmp(got, want, sizeof(want)));
		ASSERT_ERR(mcx__auth_check(&k, kat[i].role, nc, ns, test_ctx, ctx_len, want), 0);
	}
	mcx__auth_key_wipe(&k);
}

/* ---- the exchange ---- */

TEST(auth_exchange_succeeds)
{
	struct mcx_auth_key ck, sk;
	uint8_t nc[MCX_AUTH_NONCE_LEN], ns[MCX_AUTH_NONCE_LEN];
	uint8_t proof_s[MCX_AUTH_MAC_LEN], proof_c[MCX_AUTH_MAC_LEN];

	/* Two ends, each with its own copy of the key. */
	random_exchange(&ck, nc, ns);
	ASSERT_ERR(mcx__auth_key_set(&sk, ck.bytes, ck.len), 0);

	ASSERT_ERR(mcx__auth_proof(&sk, MCX_AUTH_SERVER, nc, ns, test_ctx,
				   strlen(test_ctx), proof_s), 0);
	ASSERT_ERR(mcx__auth_check(&ck, MCX_AUTH_SERVER, nc, ns, test_ctx,
				   strlen(test_ctx), proof_s), 0);
	ASSERT_ERR(mcx__auth_proof(&ck, MCX_AUTH_CLIENT, nc, ns, test_ctx,
				   strlen(test_ctx), proof_c), 0);
	ASSERT_ERR(mcx__auth_check(&sk, MCX_AUTH_CLIENT, nc, ns, test_ctx,
				   strlen(test_ctx), proof_c), 0);
	/* The two proofs of one exchange differ. */
	ASSERT_TRUE(memcmp(proof_s, proof_c, MCX_AUTH_MAC_LEN) != 0);
	/* No context: NULL and an empty one are the same. */
	ASSERT_ERR(mcx__auth_proof(&sk, MCX_AUTH_SERVER, nc, ns, NULL, 0, proof_s), 0);
	ASSERT_ERR(mcx__auth_check(&ck, MCX_AUTH_SERVER, nc, ns, "", 0, proof_s), 0);

	mcx__auth_key_wipe(&ck);
	mcx__auth_key_wipe(&sk);
}

TEST(auth_wrong_key_fails)
{
	struct mcx_auth_key k, other;
	uint8_t nc[MCX_AUTH_NONCE_LEN], ns[MCX_AUTH_NONCE_LEN], proof[MCX_AUTH_MAC_LEN];

	random_exchange(&k, nc, ns);
	ASSERT_ERR(mcx__auth_proof(&k, MCX_AUTH_SERVER, nc, ns, test_ctx,
				   strlen(test_ctx), proof), 0);

	/* One bit off anywhere in the key. */
	for (size_t bit = 0; bit < 8 * k.len; bit++) {
		ASSERT_ERR(mcx__auth_key_set(&other, k.bytes, k.len), 0);
		other.bytes[bit / 8] ^= (uint8_t)(1U << (bit % 8));
		ASSERT_ERR(mcx__auth_check(&other, MCX_AUTH_SERVER, nc, ns, test_ctx,
					   strlen(test_ctx), proof), -EACCES);
	}
	/*
	 * A prefix of the key, and the key with a byte more.  Not a zero
	 * byte: HMAC pads a key shorter than SHA-256's block with zeros, so
	 * K and K || 0 are the same HMAC key by design.  For the same reason
	 * the prefix is cut after the last non-zero byte of the random key
	 * (one key in 256 ends in a zero byte, and its prefix would be it).
	 */
	size_t cut = k.len - 1;

	while (cut && !k.bytes[cut])
		cut--;
	ASSERT_ERR(mcx__auth_key_set(&other, k.bytes, cut), 0);
	ASSERT_ERR(mcx__auth_check(&other, MCX_AUTH_SERVER, nc, ns, test_ctx,
				   strlen(test_ctx), proof), -EACCES);
	memcpy(other.bytes, k.bytes, k.len);
	other.bytes[k.len] = 'x';
	other.len = k.len + 1;
	ASSERT_ERR(mcx__auth_check(&other, MCX_AUTH_SERVER, nc, ns, test_ctx,
				   strlen(test_ctx), proof), -EACCES);
	/* The right key still works after all that. */
	ASSERT_ERR(mcx__auth_check(&k, MCX_AUTH_SERVER, nc, ns, test_ctx,
				   strlen(test_ctx), proof), 0);
	mcx__auth_key_wipe(&k);
	mcx__auth_key_wipe(&other);
}

/* Every single-bit change of a nonce, the context or the proof is refused. */
TEST(auth_flipped_bit_fails)
{
	struct mcx_auth_key k;
	uint8_t nc[MCX_AUTH_NONCE_LEN], ns[MCX_AUTH_NONCE_LEN], proof[MCX_AUTH_MAC_LEN];
	uint8_t x[MCX_AUTH_NONCE_LEN], ctx[sizeof(test_ctx)];
	const size_t ctx_len = strlen(test_ctx);

	random_exchange(&k, nc, ns);
	memcpy(ctx, test_ctx, sizeof(ctx));
	for (int role = MCX_AUTH_SERVER; role <= MCX_AUTH_CLIENT; role++) {
		ASSERT_ERR(mcx__auth_proof(&k, role, nc, ns, ctx, ctx_len, proof), 0);
		for (size_t bit = 0; bit < 8 * MCX_AUTH_NONCE_LEN; bit++) {
			uint8_t m = (uint8_t)(1U << (bit % 8));

			memcpy(x, nc, sizeof(x));
			x[bit / 8] ^= m;
			ASSERT_ERR(mcx__auth_check(&k, role, x, ns, ctx, ctx_len, proof), -EACCES);
			memcpy(x, ns, sizeof(x));
			x[bit / 8] ^= m;
			ASSERT_ERR(mcx__auth_check(&k, role, nc, x, ctx, ctx_len, proof), -EACCES);
		}
		for (size_t bit = 0; bit < 8 * MCX_AUTH_MAC_LEN; bit++) {
			proof[bit / 8] ^= (uint8_t)(1U << (bit % 8));
			ASSERT_ERR(mcx__auth_check(&k, role, nc, ns, ctx, ctx_len, proof), -EACCES);
			proof[bit / 8] ^= (uint8_t)(1U << (bit % 8));
		}
		for (size_t bit = 0; bit < 8 * ctx_len; bit++) {
			ctx[bit / 8] ^= (uint8_t)(1U << (bit % 8));
			ASSERT_ERR(mcx__auth_check(&k, role, nc, ns, ctx, ctx_len, proof), -EACCES);
			ctx[bit / 8] ^= (uint8_t)(1U << (bit % 8));
		}
		/* A context cut short, one byte longer, or left out. */
		ASSERT_ERR(mcx__auth_check(&k, role, nc, ns, ctx, ctx_len - 1, proof), -EACCES);
		ASSERT_ERR(mcx__auth_check(&k, role, nc, ns, ctx, ctx_len + 1, proof), -EACCES);
		ASSERT_ERR(mcx__auth_check(&k, role, nc, ns, NULL, 0, proof), -EACCES);
		/* The nonces swapped. */
		ASSERT_ERR(mcx__auth_check(&k, role, ns, nc, ctx, ctx_len, proof), -EACCES);
		/* Nothing above changed the inputs: the proof itself is good. */
		ASSERT_ERR(mcx__auth_check(&k, role, nc, ns, ctx, ctx_len, proof), 0);
	}
	mcx__auth_key_wipe(&k);
}

/*
 * A server's proof is worth nothing as a client's, and the other way
 * round: whoever gets a server to prove itself on a challenge of their
 * choosing (by connecting to it with the nonce a client sent them) cannot
 * hand that proof back as their own.
 */
TEST(auth_wrong_role_and_reflection_fail)
{
	struct mcx_auth_key k;
	uint8_t nc[MCX_AUTH_NONCE_LEN], ns[MCX_AUTH_NONCE_LEN];
	uint8_t proof_s[MCX_AUTH_MAC_LEN], proof_c[MCX_AUTH_MAC_LEN];
	const size_t ctx_len = strlen(test_ctx);

	for (int i = 0; i < 64; i++) {
		random_exchange(&k, nc, ns);
		ASSERT_ERR(mcx__auth_proof(&k, MCX_AUTH_SERVER, nc, ns, test_ctx, ctx_len,
					   proof_s), 0);
		ASSERT_ERR(mcx__auth_proof(&k, MCX_AUTH_CLIENT, nc, ns, test_ctx, ctx_len,
					   proof_c), 0);
		ASSERT_TRUE(memcmp(proof_s, proof_c, MCX_AUTH_MAC_LEN) != 0);
		/* Reflected: the server's own proof offered back as a client's. */
		ASSERT_ERR(mcx__auth_check(&k, MCX_AUTH_CLIENT, nc, ns, test_ctx, ctx_len,
					   proof_s), -EACCES);
		ASSERT_ERR(mcx__auth_check(&k, MCX_AUTH_SERVER, nc, ns, test_ctx, ctx_len,
					   proof_c), -EACCES);
		/* ... and with the nonces' places exchanged as well. */
		ASSERT_ERR(mcx__auth_check(&k, MCX_AUTH_CLIENT, ns, nc, test_ctx, ctx_len,
					   proof_s), -EACCES);
	}
	mcx__auth_key_wipe(&k);
}

/*
 * Equal or all-zero nonces are refused even with a proof that is the right
 * MAC over them (made here with HMAC()), and no proof is made for them.
 */
TEST(auth_reflected_or_zero_nonces_fail)
{
	struct mcx_auth_key k;
	uint8_t nc[MCX_AUTH_NONCE_LEN], ns[MCX_AUTH_NONCE_LEN], zero[MCX_AUTH_NONCE_LEN] = { 0 };
	const uint8_t *pairs[][2] = { { nc, nc }, { zero, ns }, { nc, zero }, { zero, zero } };

	random_exchange(&k, nc, ns);
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		for (int role = MCX_AUTH_SERVER; role <= MCX_AUTH_CLIENT; role++) {
			const char *label = role == MCX_AUTH_SERVER ? LABEL_SERVER : LABEL_CLIENT;
			uint8_t msg[128], mac[EVP_MAX_MD_SIZE], out[MCX_AUTH_MAC_LEN];
			size_t lab = strlen(label) + 1;
			unsigned int mac_len = 0;

			memcpy(msg, label, lab);
			memcpy(msg + lab, pairs[i][0], MCX_AUTH_NONCE_LEN);
			memcpy(msg + lab + MCX_AUTH_NONCE_LEN, pairs[i][1], MCX_AUTH_NONCE_LEN);
			ASSERT_TRUE(HMAC(EVP_sha256(), k.bytes, (int)k.len, msg,
					 lab + 2 * MCX_AUTH_NONCE_LEN, mac, &mac_len) != NULL);
			ASSERT_ERR(mcx__auth_check(&k, role, pairs[i][0], pairs[i][1], NULL, 0,
						   mac), -EACCES);
			memset(out, 0xff, sizeof(out));
			ASSERT_ERR(mcx__auth_proof(&k, role, pairs[i][0], pairs[i][1], NULL, 0,
						   out), -EACCES);
			ASSERT_TRUE(all_zero(out, sizeof(out)));
		}
	}
	mcx__auth_key_wipe(&k);
}

TEST(auth_bad_args)
{
	struct mcx_auth_key k, none;
	uint8_t nc[MCX_AUTH_NONCE_LEN], ns[MCX_AUTH_NONCE_LEN], out[MCX_AUTH_MAC_LEN];

	random_exchange(&k, nc, ns);
	memset(&none, 0, sizeof(none));
	log_capture();

	/* Caller errors: -EINVAL from proof (logged), -EACCES from check. */
	memset(out, 0xff, sizeof(out));
	ASSERT_ERR(mcx__auth_proof(&none, MCX_AUTH_SERVER, nc, ns, NULL, 0, out), -EINVAL);
	ASSERT_TRUE(all_zero(out, sizeof(out)));
	ASSERT_CONTAINS(captured_log, "no key");
	ASSERT_ERR(mcx__auth_check(&none, MCX_AUTH_SERVER, nc, ns, NULL, 0, out), -EACCES);
	ASSERT_ERR(mcx__auth_proof(NULL, MCX_AUTH_SERVER, nc, ns, NULL, 0, out), -EINVAL);
	ASSERT_ERR(mcx__auth_check(NULL, MCX_AUTH_SERVER, nc, ns, NULL, 0, out), -EACCES);

	ASSERT_ERR(mcx__auth_proof(&k, (enum mcx_auth_role)0, nc, ns, NULL, 0, out), -EINVAL);
	ASSERT_ERR(mcx__auth_proof(&k, (enum mcx_auth_role)3, nc, ns, NULL, 0, out), -EINVAL);
	ASSERT_CONTAINS(captured_log, "unknown role");
	/* A zero proof must not pass as the answer to a refused request. */
	memset(out, 0, sizeof(out));
	ASSERT_ERR(mcx__auth_check(&k, (enum mcx_auth_role)0, nc, ns, NULL, 0, out), -EACCES);
	ASSERT_ERR(mcx__auth_check(&k, (enum mcx_auth_role)3, nc, ns, NULL, 0, out), -EACCES);

	ASSERT_ERR(mcx__auth_proof(&k, MCX_AUTH_SERVER, NULL, ns, NULL, 0, out), -EINVAL);
	ASSERT_ERR(mcx__auth_proof(&k, MCX_AUTH_SERVER, nc, NULL, NULL, 0, out), -EINVAL);
	ASSERT_ERR(mcx__auth_proof(&k, MCX_AUTH_SERVER, nc, ns, NULL, 5, out), -EINVAL);
	ASSERT_ERR(mcx__auth_proof(&k, MCX_AUTH_SERVER, nc, ns, NULL, 0, NULL), -EINVAL);
	ASSERT_ERR(mcx__auth_check(&k, MCX_AUTH_SERVER, NULL, ns, NULL, 0, out), -EACCES);
	ASSERT_ERR(mcx__auth_check(&k, MCX_AUTH_SERVER, nc, ns, NULL, 5, out), -EACCES);
	ASSERT_ERR(mcx__auth_check(&k, MCX_AUTH_SERVER, nc, ns, NULL, 0, NULL), -EACCES);

	/* A key whose length was corrupted past the maximum. */
	k.len = MCX_AUTH_KEY_MAX + 1;
	ASSERT_ERR(mcx__auth_proof(&k, MCX_AUTH_SERVER, nc, ns, NULL, 0, out), -EINVAL);
	mcx__auth_key_wipe(&k);
}

/* ---- keys in memory, nonces ---- */

TEST(auth_key_set_and_wipe)
{
	static uint8_t big[MCX_AUTH_KEY_MAX + 1];
	struct mcx_auth_key k;

	memset(big, 'k', sizeof(big));
	ASSERT_ERR(mcx__auth_key_set(&k, big, MCX_AUTH_KEY_MIN), 0);
	ASSERT_EQ(k.len, MCX_AUTH_KEY_MIN);
	ASSERT_ERR(mcx__auth_key_set(&k, big, MCX_AUTH_KEY_MAX), 0);
	ASSERT_EQ(k.len, MCX_AUTH_KEY_MAX);
	ASSERT_TRUE(!memcmp(k.bytes, big, MCX_AUTH_KEY_MAX));

	/* A refused key also wipes the one that was there. */
	ASSERT_ERR(mcx__auth_key_set(&k, big, MCX_AUTH_KEY_MIN - 1), -EINVAL);
	ASSERT_TRUE(all_zero(&k, sizeof(k)));
	ASSERT_ERR(mcx__auth_key_set(&k, big, MCX_AUTH_KEY_MAX), 0);
	ASSERT_ERR(mcx__auth_key_set(&k, big, MCX_AUTH_KEY_MAX + 1), -EINVAL);
	ASSERT_TRUE(all_zero(&k, sizeof(k)));
	ASSERT_ERR(mcx__auth_key_set(&k, NULL, 32), -EINVAL);
	ASSERT_ERR(mcx__auth_key_set(NULL, big, 32), -EINVAL);

	ASSERT_ERR(mcx__auth_key_set(&k, big, 32), 0);
	mcx__auth_key_wipe(&k);
	ASSERT_TRUE(all_zero(&k, sizeof(k)));
	mcx__auth_key_wipe(NULL);
}

TEST(auth_nonces_differ)
{
	uint8_t a[MCX_AUTH_NONCE_LEN], b[MCX_AUTH_NONCE_LEN];

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	ASSERT_ERR(mcx__auth_nonce(a), 0);
	ASSERT_TRUE(!all_zero(a, sizeof(a)));
	for (int i = 0; i < 100; i++) {
		ASSERT_ERR(mcx__auth_nonce(b), 0);
		ASSERT_TRUE(!all_zero(b, sizeof(b)));
		ASSERT_TRUE(memcmp(a, b, sizeof(a)) != 0);
		memcpy(a, b, sizeof(a));
	}
	ASSERT_ERR(mcx__auth_nonce(NULL), -EINVAL);
}

/* ---- key files ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/*
 * Run body(dir) in a child, in a fresh mkdtemp() directory, and remove the
 * directory whatever the child did; then pass its verdict on.
 */
static void in_tmpdir(void (*body)(const char *dir))
{
	char dir[] = "/tmp/mcx-auth-XXXXXX";
	struct stat st;
	int status;
	pid_t pid;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	fflush(NULL);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		/*
		 * Alarms are not inherited: without its own, a body stuck
		 * (in open() of a FIFO, say) would outlive the harness's.
		 */
		alarm(15);
		body(dir);
		fflush(NULL);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		ASSERT_EQ(errno, EINTR);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	ASSERT_TRUE(stat(dir, &st) < 0 && errno == ENOENT);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		SKIP("the key file test skipped (reason above)");
	if (WIFSIGNALED(status))
		harness_fail(__FILE__, __LINE__, "the key file test was killed by signal %s",
			     strsignal(WTERMSIG(status)));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		harness_fail(__FILE__, __LINE__, "the key file test failed (above)");
}

/* dir/name with len bytes of data and exactly this mode. */
static const char *put_file(const char *dir, const char *name, const void *data,
			    size_t len, mode_t mode)
{
	static char paths[8][512];
	static unsigned int next;
	char *path = paths[next++ % 8];
	int fd;

	snprintf(path, sizeof(paths[0]), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(write(fd, data, len), (ssize_t)len);
	ASSERT_EQ(fchmod(fd, mode), 0);	/* whatever the umask */
	ASSERT_EQ(close(fd), 0);
	return path;
}

/* The lowest free fd: the same before and after means no fd was leaked. */
static int next_fd(void)
{
	int fd = dup(0);

	ASSERT_TRUE(fd >= 0);
	close(fd);
	return fd;
}

/* A failed load leaves *k all zero, whatever was there before. */
static void load_fails(const char *what, const char *path, int err)
{
	struct mcx_auth_key k;

	memset(&k, 0xaa, sizeof(k));
	ASSERT_ERR(mcx__auth_key_load(what, path, &k), err);
	ASSERT_TRUE(all_zero(&k, sizeof(k)));
}

static void good_files(const char *dir)
{
	static const char b64[] = "q3d0Z0V0Yk9uVUJ6bW1hN3FJd1pXc2k0cVJkV2dGUm0=";
	static uint8_t big[MCX_AUTH_KEY_MAX + 1];
	const uint8_t bin[20] = { 0, 1, '\n', '\r', 0xff, 0, 7, 8, 9, 10, 11, 12, 13,
				  14, 15, 16, 17, 18, 19, '\r' };
	struct mcx_auth_key k;
	char text[128];
	const char *p;
	int fd0 = next_fd();

	/* What `head -c 32 /dev/urandom | base64 > f` makes: newline dropped. */
	snprintf(text, sizeof(text), "%s\n", b64);
	p = put_file(dir, "b64", text, strlen(text), 0600);
	ASSERT_ERR(mcx__auth_key_load("MCX_AUTH_KEY_FILE", p, &k), 0);
	ASSERT_EQ(k.len, strlen(b64));
	ASSERT_TRUE(!memcmp(k.bytes, b64, k.len));

	/* No newline: all of it.  Two: only the last one goes. */
	p = put_file(dir, "b64-bare", b64, strlen(b64), 0600);
	ASSERT_ERR(mcx__auth_key_load("MCX_AUTH_KEY_FILE", p, &k), 0);
	ASSERT_EQ(k.len, strlen(b64));
	ASSERT_TRUE(!memcmp(k.bytes, b64, k.len));
	snprintf(text, sizeof(text), "%s\n\n", b64);
	p = put_file(dir, "b64-2nl", text, strlen(text), 0600);
	ASSERT_ERR(mcx__auth_key_load("MCX_AUTH_KEY_FILE", p, &k), 0);
	ASSERT_EQ(k.len, strlen(b64) + 1);
	ASSERT_TRUE(!memcmp(k.bytes, text, k.len));

	/* Binary bytes as they are: NULs, CRs, an inner newline. */
	p = put_file(dir, "bin", bin, sizeof(bin), 0400);
	ASSERT_ERR(mcx__auth_key_load(NULL, p, &k), 0);
	ASSERT_EQ(k.len, sizeof(bin));
	ASSERT_TRUE(!memcmp(k.bytes, bin, sizeof(bin)));

	/* The bounds: 16 bytes, and 4096 with and without a newline. */
	memset(big, 'x', sizeof(big));
	p = put_file(dir, "min", big, MCX_AUTH_KEY_MIN, 0600);
	ASSERT_ERR(mcx__auth_key_load("k", p, &k), 0);
	ASSERT_EQ(k.len, MCX_AUTH_KEY_MIN);
	p = put_file(dir, "max", big, MCX_AUTH_KEY_MAX, 0600);
	ASSERT_ERR(mcx__auth_key_load("k", p, &k), 0);
	ASSERT_EQ(k.len, MCX_AUTH_KEY_MAX);
	big[MCX_AUTH_KEY_MAX] = '\n';
	p = put_file(dir, "max-nl", big, MCX_AUTH_KEY_MAX + 1, 0600);
	ASSERT_ERR(mcx__auth_key_load("k", p, &k), 0);
	ASSERT_EQ(k.len, MCX_AUTH_KEY_MAX);
	ASSERT_TRUE(k.bytes[MCX_AUTH_KEY_MAX - 1] == 'x');

	/* A loaded key works. */
	uint8_t nc[MCX_AUTH_NONCE_LEN], ns[MCX_AUTH_NONCE_LEN], proof[MCX_AUTH_MAC_LEN];

	ASSERT_ERR(mcx__auth_nonce(nc), 0);
	ASSERT_ERR(mcx__auth_nonce(ns), 0);
	ASSERT_ERR(mcx__auth_proof(&k, MCX_AUTH_CLIENT, nc, ns, NULL, 0, proof), 0);
	ASSERT_ERR(mcx__auth_check(&k, MCX_AUTH_CLIENT, nc, ns, NULL, 0, proof), 0);
	mcx__auth_key_wipe(&k);
	ASSERT_EQ(next_fd(), fd0);
}

TEST(auth_key_load_good)
{
	in_tmpdir(good_files);
}

#define KEY_LEN 32	/* of key[] below, its NUL left out */

static void open_files(const char *dir)
{
	static const char key[] = "0123456789abcdef0123456789abcdef";
	/* Group or others have some access: refused, whichever bit it is. */
	static const mode_t bad_modes[] = {
		0644, 0640, 0604, 0620, 0602, 0610, 0601, 0660, 0666, 0700 | 04,
	};
	char path[512];
	const char *good;
	int fd0 = next_fd();

	log_capture();
	for (size_t i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
		char name[32];
		const char *p;

		snprintf(name, sizeof(name), "mode%o", (unsigned int)bad_modes[i]);
		p = put_file(dir, name, key, KEY_LEN, bad_modes[i]);
		captured_log[0] = '\0';
		load_fails("MCX_AUTH_KEY_FILE", p, -EACCES);
		ASSERT_CONTAINS(captured_log, "MCX_AUTH_KEY_FILE");
		ASSERT_CONTAINS(captured_log, p);
		ASSERT_CONTAINS(captured_log, "chmod 600");
	}
	snprintf(path, sizeof(path), "%s/mode644", dir);
	captured_log[0] = '\0';
	load_fails("opts.auth_key_file", path, -EACCES);
	ASSERT_CONTAINS(captured_log, "mode 0644");
	ASSERT_CONTAINS(captured_log, "opts.auth_key_file");

	/* A link to a good key file is still refused: the file itself. */
	good = put_file(dir, "good", key, KEY_LEN, 0600);

	snprintf(path, sizeof(path), "%s/link", dir);
	ASSERT_EQ(symlink(good, path), 0);
	captured_log[0] = '\0';
	load_fails("MCX_AUTH_KEY_FILE", path, -ELOOP);
	ASSERT_CONTAINS(captured_log, "symbolic link");
	ASSERT_CONTAINS(captured_log, path);
	/* A dangling one too. */
	snprintf(path, sizeof(path), "%s/dangling", dir);
	ASSERT_EQ(symlink("/nonexistent/mcx-key", path), 0);
	load_fails("MCX_AUTH_KEY_FILE", path, -ELOOP);

	/* A directory, and a FIFO (which must not block the open). */
	snprintf(path, sizeof(path), "%s/subdir", dir);
	ASSERT_EQ(mkdir(path, 0700), 0);
	captured_log[0] = '\0';
	load_fails("MCX_AUTH_KEY_FILE", path, -EISDIR);
	ASSERT_CONTAINS(captured_log, "directory");
	load_fails("MCX_AUTH_KEY_FILE", dir, -EISDIR);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	ASSERT_EQ(mkfifo(path, 0600), 0);
	captured_log[0] = '\0';
	load_fails("MCX_AUTH_KEY_FILE", path, -EINVAL);
	ASSERT_CONTAINS(captured_log, "not a regular file");
	load_fails("MCX_AUTH_KEY_FILE", "/dev/null", -EINVAL);

	/* Missing, and under a missing directory. */
	snprintf(path, sizeof(path), "%s/missing", dir);
	captured_log[0] = '\0';
	load_fails("MCX_AUTH_KEY_FILE", path, -ENOENT);
	ASSERT_CONTAINS(captured_log, "MCX_AUTH_KEY_FILE");
	ASSERT_CONTAINS(captured_log, path);
	snprintf(path, sizeof(path), "%s/missing/key", dir);
	load_fails("MCX_AUTH_KEY_FILE", path, -ENOENT);

	/* Not absolute: refused before anything is opened. */
	ASSERT_EQ(chdir(dir), 0);
	captured_log[0] = '\0';
	load_fails("MCX_AUTH_KEY_FILE", "good", -EINVAL);
	ASSERT_CONTAINS(captured_log, "absolute");
	load_fails("MCX_AUTH_KEY_FILE", "./good", -EINVAL);
	load_fails("MCX_AUTH_KEY_FILE", "", -EINVAL);
	load_fails("MCX_AUTH_KEY_FILE", NULL, -EINVAL);
	ASSERT_ERR(mcx__auth_key_load("MCX_AUTH_KEY_FILE", good, NULL), -EINVAL);

	ASSERT_EQ(next_fd(), fd0);
}

TEST(auth_key_load_refuses_unsafe_files)
{
	in_tmpdir(open_files);
}

static void size_files(const char *dir)
{
	static uint8_t big[100000];
	const char *p;
	int fd0 = next_fd();

	log_capture();
	memset(big, 'y', sizeof(big));
	p = put_file(dir, "short", big, MCX_AUTH_KEY_MIN - 1, 0600);
	load_fails("MCX_AUTH_KEY_FILE", p, -EINVAL);
	ASSERT_CONTAINS(captured_log, "MCX_AUTH_KEY_FILE");
	ASSERT_CONTAINS(captured_log, p);
	ASSERT_CONTAINS(captured_log, "fewer than 16");
	ASSERT_CONTAINS(captured_log, "/dev/urandom");
	/* The newline does not count towards the minimum. */
	big[MCX_AUTH_KEY_MIN - 1] = '\n';
	p = put_file(dir, "short-nl", big, MCX_AUTH_KEY_MIN, 0600);
	load_fails("MCX_AUTH_KEY_FILE", p, -EINVAL);
	p = put_file(dir, "empty", big, 0, 0600);
	load_fails("MCX_AUTH_KEY_FILE", p, -EINVAL);
	p = put_file(dir, "only-nl", "\n", 1, 0600);
	load_fails("MCX_AUTH_KEY_FILE", p, -EINVAL);

	big[MCX_AUTH_KEY_MIN - 1] = 'y';
	captured_log[0] = '\0';
	p = put_file(dir, "long", big, MCX_AUTH_KEY_MAX + 1, 0600);
	load_fails("MCX_AUTH_KEY_FILE", p, -EINVAL);
	ASSERT_CONTAINS(captured_log, "longer than 4096");
	ASSERT_CONTAINS(captured_log, p);
	/* One byte over the maximum, then a newline: still too long. */
	big[MCX_AUTH_KEY_MAX + 1] = '\n';
	p = put_file(dir, "long-nl", big, MCX_AUTH_KEY_MAX + 2, 0600);
	load_fails("MCX_AUTH_KEY_FILE", p, -EINVAL);
	/* A full key, its newline, then more: not a key and a newline. */
	big[MCX_AUTH_KEY_MAX + 1] = 'y';
	big[MCX_AUTH_KEY_MAX] = '\n';
	p = put_file(dir, "max-nl-more", big, MCX_AUTH_KEY_MAX + 2, 0600);
	load_fails("MCX_AUTH_KEY_FILE", p, -EINVAL);
	big[MCX_AUTH_KEY_MAX] = 'y';
	p = put_file(dir, "huge", big, sizeof(big), 0600);
	load_fails("MCX_AUTH_KEY_FILE", p, -EINVAL);

	ASSERT_EQ(next_fd(), fd0);
}

TEST(auth_key_load_size_limits)
{
	in_tmpdir(size_files);
}

/*
 * Ownership: a file of another user is refused, one of the effective uid
 * is taken.  Needs root, to give files away and to change the euid.
 */
static void owner_files(const char *dir)
{
	static const char key[] = "0123456789abcdef0123456789abcdef";
	struct mcx_auth_key k;
	const char *theirs, *mine;

	if (geteuid() != 0)
		SKIP("needs root to give a file to another uid");
	log_capture();
	theirs = put_file(dir, "theirs", key, KEY_LEN, 0600);
	ASSERT_EQ(chown(theirs, 65534, 65534), 0);
	load_fails("MCX_AUTH_KEY_FILE", theirs, -EACCES);
	ASSERT_CONTAINS(captured_log, "belongs to uid 65534");
	ASSERT_CONTAINS(captured_log, "chown");
	ASSERT_CONTAINS(captured_log, theirs);

	/* Root's own file is taken when we are root. */
	mine = put_file(dir, "root", key, KEY_LEN, 0600);
	ASSERT_ERR(mcx__auth_key_load("MCX_AUTH_KEY_FILE", mine, &k), 0);
	ASSERT_EQ(k.len, KEY_LEN);

	/* As uid 65534: its file is taken, 0's refused by open() itself. */
	ASSERT_EQ(chmod(dir, 0711), 0);
	if (setegid(65534) || seteuid(65534))
		SKIP("cannot drop to uid 65534");
	ASSERT_ERR(mcx__auth_key_load("MCX_AUTH_KEY_FILE", theirs, &k), 0);
	ASSERT_EQ(k.len, KEY_LEN);
	ASSERT_TRUE(!memcmp(k.bytes, key, KEY_LEN));
	load_fails("MCX_AUTH_KEY_FILE", mine, -EACCES);
	mcx__auth_key_wipe(&k);
}

TEST(auth_key_load_owner)
{
	in_tmpdir(owner_files);
}
