/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The peer handshake's binary format (lib/ctrl/wire.c).
 *
 * Two engines talk over one TCP connection: the side that opened it sends
 * requests, the listener answers each with exactly one reply (or an ERROR)
 * carrying the request's sequence number.  Every message is a 24-byte header
 * followed by a payload; all integers are little-endian and fixed-width,
 * every variable part is preceded by an explicit count with an upper bound,
 * and nothing may follow the payload.
 *
 * Header (24 bytes):
 *   0  u32 magic    MCX_WIRE_MAGIC ("MCXW" in memory order)
 *   4  u16 version  MCX_WIRE_VERSION (2)
 *   6  u16 type     enum mcx_wire_type
 *   8  u32 length   whole message, header included,
 *                   MCX_WIRE_HDR_LEN .. MCX_WIRE_MAX_MSG
 *  12  u32 seq      request number; a reply repeats its request's
 *  16  u32 flags    none defined: must be 0
 *  20  u32 crc      CRC-32C of the whole message with this field as 0
 *
 * A connection starts with authentication (AUTH, AUTH_REPLY, AUTH_PROOF,
 * AUTH_OK; ctrl/auth.h says what it proves); a listener answers nothing
 * else before it, so a peer without the key learns nothing.  Then HELLO,
 * and CONNECT / MEM_REQ / PING as needed.
 *
 * Payloads (offsets relative to the payload):
 *   AUTH:
 *     u32 flags (MCX_WIRE_AUTH_HAS_KEY), u32 reserved (0),
 *     u8 nonce_c[32]
 *   AUTH_REPLY:
 *     u32 mode (MCX_WIRE_AUTH_OPEN: the listener has no key, the proof is
 *     all zero; MCX_WIRE_AUTH_KEY: proof_s proves the key), u32 reserved (0),
 *     u8 nonce_s[32], u8 proof_s[32]
 *   AUTH_PROOF:
 *     u8 proof_c[32]
 *   AUTH_OK, PING, PONG: empty.
 *   HELLO / HELLO_REPLY:
 *     u64 probe (HELLO: a fresh random number, never 0, that lets an engine
 *     of the same process recognise the caller locally; HELLO_REPLY: 0),
 *     u32 transport (enum mcx_wire_transport), u32 flags (0),
 *     u16 host_len (1..255), u16 ndevs (0..MCX_WIRE_MAX_NICS),
 *     host_len bytes of host name (printable, no NUL),
 *     ndevs x device (MCX_WIRE_DEV_LEN = 184 bytes each):
 *       u32 index, char name[64] (NUL-terminated, zero-padded),
 *       u8 fabric (1 IB, 2 Ethernet, 3 EFA), u8 port,
 *       u8 prefix (0..32; 0 when ipv4 is 0.0.0.0),
 *       u8 addr_len (1..MCX_WIRE_ADDR_MAX), u8 ipv4[4] (network order),
 *       u32 caps (the transport's capability bits), u64 max_msg (> 0),
 *       u8 addr[MCX_WIRE_ADDR_MAX] (addr_len bytes, then zeros)
 *     device indices are distinct.
 *   CONNECT / CONNECT_REPLY:
 *     u16 npairs (1..MCX_WIRE_MAX_PAIRS), u16 reserved (0),
 *     u32 flags (MCX_WIRE_CONNECT_REBUILD: these pairs replace the pairs
 *     with the same NIC indices made earlier on this connection),
 *     npairs x pair (12 + blob_len rounded up to a multiple of 4 bytes):
 *       u32 local_nic, u32 remote_nic (sender's and receiver's device
 *       index), u16 blob_len (1..MCX_WIRE_BLOB_MAX), u16 flags (0),
 *       blob_len bytes of transport connection blob, zeros to the next
 *       multiple of 4
 *     (local_nic, remote_nic) pairs are distinct.
 *   MEM_REQ:
 *     u32 cursor (first descriptor wanted), u32 max_descs (0: as many as
 *     fit), u64 reserved (0)
 *   MEM_REPLY:
 *     u64 generation (changes whenever the sender's registrations change),
 *     u32 total, u32 cursor, u32 count (0..MCX_WIRE_MAX_DESCS),
 *     u16 nnics (0..MCX_WIRE_MAX_NICS), u16 pad (0),
 *     nnics x u32 nic index (distinct, < MCX_WIRE_MAX_NICS),
 *     count x descriptor:
 *       u64 id, u64 addr, u64 len (> 0, addr + len must not wrap),
 *       u64 chunk_size (> 0), u32 nchunks (== ceil(len / chunk_size),
 *       <= MCX_WIRE_MAX_CHUNKS), u32 kind (enum mcx_wire_mem_kind, with
 *       MCX_WIRE_DESC_IOVA set when an iova follows, MCX_WIRE_DESC_NICS
 *       when a NIC mask follows), [u64 iova: where the MRs were
 *       registered, addr + x being iova + x; absent means iova == addr],
 *       [u32 nics: bit i set when the device with index i holds MRs of
 *       this memory (non-zero, only listed indices), u32 reserved (0);
 *       absent means every listed device does], nchunks x nnics x u64
 *       key (chunk-major; 0 for a device outside nics)
 *     cursor + count <= total.
 *   ERROR:
 *     u32 err (a positive errno, 1..4095), u16 req_type (the type refused),
 *     u16 msg_len (0..MCX_WIRE_MAX_ERRMSG), msg_len bytes (printable).
 *
 * Version 1 (before transport blobs, 64-bit keys and authentication) is
 * not spoken: mcx__wire_parse_header() refuses it with -EPROTO after
 * filling in the version, so that the caller can say what the peer runs.
 *
 * Errors of the decoders (the listener and the client both treat any of
 * them as fatal for the connection):
 *   -EBADMSG  malformed: wrong magic, bad checksum, non-zero flags, reserved
 *             fields or padding (header, HELLO and pair flags, name, address
 *             and blob padding), a flag bit or mode that is not defined (AUTH
 *             flags, AUTH_REPLY mode, CONNECT flags), a buffer shorter than
 *             the declared length (truncated) or longer (trailing bytes), a
 *             payload shorter than its counts need or with bytes left over, a
 *             field outside its domain (a zero HELLO probe or a non-zero
 *             HELLO_REPLY one, a non-zero proof with MCX_WIRE_AUTH_OPEN, a
 *             zero count or length that must be at least 1, an unknown fabric
 *             or memory kind), or counts that contradict each other (nchunks
 *             against len / chunk_size, cursor + count against total,
 *             duplicate device or NIC indices, duplicate (local_nic,
 *             remote_nic) pairs, a descriptor's NIC mask that is zero,
 *             names an unlisted device or leaves a non-zero key outside
 *             it).
 *   -EPROTO   a version other than MCX_WIRE_VERSION, an unknown type, or a
 *             type other than the one the decoder was asked for.
 *   -EMSGSIZE a declared length above MCX_WIRE_MAX_MSG (or the caller's own
 *             limit), or a count or length above its bound (devices, pairs,
 *             descriptors, chunks, max_descs, host_len, addr_len, blob_len,
 *             msg_len).
 *   -ENOMEM   (MEM_REPLY only) the bounded allocation failed.
 * The encoders check their input by the same rules (-EINVAL for what the
 * decoder would call malformed, -EMSGSIZE for a count over its bound) and
 * return -ENOBUFS when the caller's buffer is too small.
 *
 * Nothing here depends on the engine: these are pure functions over bytes
 * and the structs below, safe to call from any thread.
 */
#ifndef MCXFER_LIB_CTRL_WIRE_H
#define MCXFER_LIB_CTRL_WIRE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define MCX_WIRE_MAGIC		0x5758434dU	/* "MCXW" little-endian */
#define MCX_WIRE_VERSION	2
#define MCX_WIRE_HDR_LEN	24
#define MCX_WIRE_MAX_MSG	(16U << 20)	/* bytes, header included */

#define MCX_WIRE_MAX_NICS	32
#define MCX_WIRE_MAX_PAIRS	64
#define MCX_WIRE_MAX_DESCS	1024		/* descriptors per MEM_REPLY */
#define MCX_WIRE_MAX_CHUNKS	(1U << 20)	/* chunks per descriptor */
#define MCX_WIRE_HOST_MAX	256		/* host name, NUL included */
#define MCX_WIRE_NAME_MAX	64		/* device name, NUL included */
#define MCX_WIRE_MAX_ERRMSG	255
#define MCX_WIRE_ADDR_MAX	96		/* a device's address blob */
#define MCX_WIRE_BLOB_MAX	192		/* a pair's connection blob */
#define MCX_WIRE_NONCE_LEN	32
#define MCX_WIRE_PROOF_LEN	32

/* Fixed sizes of the repeated parts, for callers that page descriptors. */
#define MCX_WIRE_DEV_LEN	184
#define MCX_WIRE_PAIR_FIXED	12		/* a pair before its blob */
#define MCX_WIRE_MEMREP_FIXED	24		/* MEM_REPLY before the NIC list */
#define MCX_WIRE_DESC_FIXED	40		/* a descriptor before its keys */
#define MCX_WIRE_DESC_IOVA_LEN	8		/* the iova, when present */
/*
 * Descriptor kind flag: a u64 iova follows the kind.  Sent only for memory
 * whose MRs another process registered at another address, so that every
 * other descriptor is encoded as before it existed (and read by peers that
 * predate it); such a peer refuses a message with it rather than write at
 * the wrong address.
 */
#define MCX_WIRE_DESC_IOVA	(1U << 16)
/*
 * Descriptor kind flag: a u32 mask of the devices that hold MRs of the
 * memory (and a reserved u32) follows the kind and the iova.  Memory
 * registered on some NICs only (GPU memory, on those nearest its GPU) has
 * no key on the others, and no key value can say so: 0 is a valid key on
 * some providers (libfabric's fi_mr_key(), EFA).  Sent only for such
 * memory, for the same reason as the iova: an older peer refuses the
 * message instead of posting to a NIC that holds no MR of it.
 */
#define MCX_WIRE_DESC_NICS	(1U << 17)
#define MCX_WIRE_DESC_NICS_LEN	8		/* the mask and its reserved word */

enum mcx_wire_type {
	MCX_WIRE_HELLO = 1,
	MCX_WIRE_HELLO_REPLY = 2,
	MCX_WIRE_CONNECT = 3,
	MCX_WIRE_CONNECT_REPLY = 4,
	MCX_WIRE_MEM_REQ = 5,
	MCX_WIRE_MEM_REPLY = 6,
	MCX_WIRE_PING = 7,
	MCX_WIRE_PONG = 8,
	MCX_WIRE_ERROR = 9,
	MCX_WIRE_AUTH = 10,
	MCX_WIRE_AUTH_REPLY = 11,
	MCX_WIRE_AUTH_PROOF = 12,
	MCX_WIRE_AUTH_OK = 13,
};

enum mcx_wire_transport {
	MCX_WIRE_TRANSPORT_VERBS = 1,
	MCX_WIRE_TRANSPORT_FABRIC = 2,
};

enum mcx_wire_fabric {
	MCX_WIRE_FABRIC_IB = 1,
	MCX_WIRE_FABRIC_ETH = 2,
	MCX_WIRE_FABRIC_EFA = 3,
};

enum mcx_wire_mem_kind {
	MCX_WIRE_MEM_HOST = 0,		/* addresses are the owner's virtual addresses */
	MCX_WIRE_MEM_DMABUF = 1,	/* addresses are iovas the owner chose */
};

#define MCX_WIRE_AUTH_HAS_KEY	(1U << 0)	/* AUTH flags */
#define MCX_WIRE_AUTH_OPEN	0		/* AUTH_REPLY modes */
#define MCX_WIRE_AUTH_KEY	1
#define MCX_WIRE_CONNECT_REBUILD (1U << 0)	/* CONNECT flags */

struct mcx_wire_hdr {
	uint16_t version;
	uint16_t type;
	uint32_t len;			/* whole message */
	uint32_t seq;
};

struct mcx_wire_auth {
	uint32_t flags;
	uint8_t nonce[MCX_WIRE_NONCE_LEN];
};

struct mcx_wire_auth_reply {
	uint32_t mode;
	uint8_t nonce[MCX_WIRE_NONCE_LEN];
	uint8_t proof[MCX_WIRE_PROOF_LEN];
};

struct mcx_wire_auth_proof {
	uint8_t proof[MCX_WIRE_PROOF_LEN];
};

struct mcx_wire_dev {
	uint32_t index;
	char name[MCX_WIRE_NAME_MAX];
	uint8_t fabric;			/* enum mcx_wire_fabric */
	uint8_t port;
	uint8_t prefix;
	uint8_t addr_len;
	uint8_t ipv4[4];		/* network order; 0.0.0.0: none */
	uint32_t caps;
	uint64_t max_msg;
	uint8_t addr[MCX_WIRE_ADDR_MAX];
};

struct mcx_wire_hello {
	uint64_t probe;
	uint32_t transport;		/* enum mcx_wire_transport */
	char host[MCX_WIRE_HOST_MAX];
	uint32_t ndevs;
	struct mcx_wire_dev devs[MCX_WIRE_MAX_NICS];
};

struct mcx_wire_pair {
	uint32_t local_nic;		/* the sender's device index */
	uint32_t remote_nic;		/* the receiver's device index */
	uint16_t blob_len;
	uint8_t blob[MCX_WIRE_BLOB_MAX];
};

struct mcx_wire_connect {
	uint32_t flags;			/* MCX_WIRE_CONNECT_* */
	uint32_t npairs;
	struct mcx_wire_pair pairs[MCX_WIRE_MAX_PAIRS];
};

struct mcx_wire_mem_req {
	uint32_t cursor;
	uint32_t max_descs;
};

struct mcx_wire_desc {
	uint64_t id;
	uint64_t addr;
	uint64_t len;
	uint64_t chunk_size;
	uint32_t nchunks;
	uint32_t kind;			/* enum mcx_wire_mem_kind (no flag bits) */
	bool has_iova;			/* iova goes on the wire (MCX_WIRE_DESC_IOVA) */
	uint64_t iova;			/* when has_iova; decoded as addr when absent */
	bool has_nics;			/* nics goes on the wire (MCX_WIRE_DESC_NICS) */
	uint32_t nics;			/* when has_nics; decoded as every listed
					 * device when absent */
	const uint64_t *keys;		/* nchunks x nnics, chunk-major */
};

/*
 * A MEM_REPLY.  To encode, fill in every field and point descs (and each
 * descriptor's keys) at the caller's arrays.  A decoded one owns descs and
 * the keys in one allocation: release it with mcx__wire_mem_free().
 */
struct mcx_wire_mem {
	uint64_t generation;
	uint32_t total;
	uint32_t cursor;
	uint32_t count;
	uint32_t nnics;
	uint32_t nic_index[MCX_WIRE_MAX_NICS];
	struct mcx_wire_desc *descs;
};

struct mcx_wire_error {
	int32_t err;			/* positive errno */
	uint16_t req_type;
	char msg[MCX_WIRE_MAX_ERRMSG + 1];
};

/* CRC-32C (Castagnoli) of buf, as the header's crc field uses it. */
uint32_t mcx__wire_crc32c(const void *buf, size_t len);

/* Recompute the crc field of a complete message of len bytes in buf. */
void mcx__wire_seal(void *buf, size_t len);

/*
 * Check the first MCX_WIRE_HDR_LEN bytes (all that is needed to know how
 * much more to read): magic, version, known type, flags, and a length
 * between MCX_WIRE_HDR_LEN and max_len (MCX_WIRE_MAX_MSG when 0 or larger).
 * The crc is checked by the decoders, once the whole message is there.
 * With a good magic and another version, out->version is filled in and
 * the result is -EPROTO.  (Once the magic is good, *out holds the header
 * as read, version, type, len and seq alike, even when it is refused; those
 * fields are where version 1 had them too.  Before that, *out is zeroed.)
 */
int mcx__wire_parse_header(const void *buf, size_t len, size_t max_len,
			  struct mcx_wire_hdr *out);

/*
 * Check a whole message: header as above, len equal to the declared length,
 * and the crc.  The decoders below call it first.  *out as above.
 */
int mcx__wire_check(const void *buf, size_t len, struct mcx_wire_hdr *out);

/*
 * Encoders: write one complete sealed message of the given type into buf
 * (cap bytes) and return its length, or a negative errno (see above).  The
 * HELLO, CONNECT and EMPTY ones take the type because the request and the
 * reply share a layout.
 */
ssize_t mcx__wire_encode_auth(void *buf, size_t cap, uint32_t seq,
			     const struct mcx_wire_auth *a);
ssize_t mcx__wire_encode_auth_reply(void *buf, size_t cap, uint32_t seq,
				   const struct mcx_wire_auth_reply *a);
ssize_t mcx__wire_encode_auth_proof(void *buf, size_t cap, uint32_t seq,
				   const struct mcx_wire_auth_proof *a);
ssize_t mcx__wire_encode_hello(void *buf, size_t cap, uint16_t type,
			      uint32_t seq, const struct mcx_wire_hello *h);
ssize_t mcx__wire_encode_connect(void *buf, size_t cap, uint16_t type,
				uint32_t seq, const struct mcx_wire_connect *c);
ssize_t mcx__wire_encode_mem_req(void *buf, size_t cap, uint32_t seq,
				const struct mcx_wire_mem_req *r);
ssize_t mcx__wire_encode_mem(void *buf, size_t cap, uint32_t seq,
			    const struct mcx_wire_mem *m);
/* PING, PONG and AUTH_OK. */
ssize_t mcx__wire_encode_empty(void *buf, size_t cap, uint16_t type,
			      uint32_t seq);
ssize_t mcx__wire_encode_error(void *buf, size_t cap, uint32_t seq,
			      const struct mcx_wire_error *e);

/* Bytes a MEM_REPLY needs for its fixed part and one descriptor. */
size_t mcx__wire_mem_fixed_len(uint32_t nnics);
size_t mcx__wire_desc_len(uint32_t nnics, uint32_t nchunks);
/* The encoded bytes of d with nnics keys per chunk (its iova and mask included). */
size_t mcx__wire_desc_bytes(const struct mcx_wire_desc *d, uint32_t nnics);

/*
 * Decoders: check the whole message (mcx__wire_check), that its type is
 * `type` (HELLO/HELLO_REPLY, CONNECT/CONNECT_REPLY, PING/PONG/AUTH_OK),
 * then the payload; fill *out and return 0, or a negative errno (see
 * above) with *out undefined but owning nothing.
 */
int mcx__wire_decode_auth(const void *buf, size_t len, struct mcx_wire_auth *out);
int mcx__wire_decode_auth_reply(const void *buf, size_t len,
			       struct mcx_wire_auth_reply *out);
int mcx__wire_decode_auth_proof(const void *buf, size_t len,
			       struct mcx_wire_auth_proof *out);
int mcx__wire_decode_hello(const void *buf, size_t len, uint16_t type,
			  struct mcx_wire_hello *out);
int mcx__wire_decode_connect(const void *buf, size_t len, uint16_t type,
			    struct mcx_wire_connect *out);
int mcx__wire_decode_mem_req(const void *buf, size_t len,
			    struct mcx_wire_mem_req *out);
int mcx__wire_decode_mem(const void *buf, size_t len, struct mcx_wire_mem *out);
int mcx__wire_decode_empty(const void *buf, size_t len, uint16_t type);
int mcx__wire_decode_error(const void *buf, size_t len,
			  struct mcx_wire_error *out);

/* Free what mcx__wire_decode_mem() allocated (NULL-safe, idempotent). */
void mcx__wire_mem_free(struct mcx_wire_mem *m);

const char *mcx__wire_type_name(uint16_t type);

/*
 * The name of a HELLO's transport as MCX_TRANSPORT spells it ("verbs",
 * "fabric"), or "transport N" for one this build does not know, into buf.
 * For the lines that refuse a peer on another transport: both ends named.
 */
const char *mcx__wire_transport_name(uint32_t transport, char *buf, size_t len);

#endif /* MCXFER_LIB_CTRL_WIRE_H */
