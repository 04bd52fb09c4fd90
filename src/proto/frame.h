/* frame.h - Colossus wire framing: magic + version header, a protobuf-c Msg body and a
 * per-frame HMAC; the cluster key, challenge-response proofs and session keys (libsodium).
 *
 * A frame is   magic "CLS1" (4) | version (1) | flags (1) | reserved (2) | body length (4, BE)
 *              | body (protobuf Msg) | mac (32)
 * mac = HMAC-SHA256(session key, direction byte | sequence number (8, BE) | header | body).
 * Each direction counts its own sequence numbers from 0, so a replayed, reordered or
 * reflected frame fails its MAC. The handshake frames (hello, auth, auth_ok) are MAC'd with
 * an all-zero public key: they only need framing integrity, since the proofs they carry are
 * what authenticates (so a peer with a wrong key reaches the proof check and is refused and
 * logged there). Afterwards the session key is derived from the cluster key and both nonces. */
#ifndef COLOSSUS_PROTO_FRAME_H
#define COLOSSUS_PROTO_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sodium.h>

#include "colossus.pb-c.h"
#include "colossus/core.h"

#define CL_FRAME_MAGIC "CLS1"
#define CL_PROTO_VERSION 1
#define CL_FRAME_HDR 12
#define CL_FRAME_MAC 32
/* Largest body accepted; a bigger frame closes the connection. */
#define CL_FRAME_MAX (4u << 20)
/* Largest body accepted before the handshake is done (Hello, Auth, AuthOk, Refused are a few
 * hundred bytes; an Auth carrying a site's JWT up to CL_JWT_MAX): an unauthenticated peer
 * cannot make the other side hold a 4 MiB frame. */
#define CL_HANDSHAKE_MAX 8192
#define CL_KEY_BYTES 32
#define CL_NONCE_BYTES 32

typedef struct cl_sess {
    /* HMAC-SHA256 keyed with the session key, before any byte: every frame's MAC starts
     * from a copy, which saves the two key-block compressions of a fresh init (a third of a
     * small frame's MAC). The key itself is not kept. */
    crypto_auth_hmacsha256_state mac0;
    uint64_t seq_tx, seq_rx;
    bool server;       /* which direction byte this side sends */
    uint32_t max_body; /* largest body accepted: CL_HANDSHAKE_MAX, then CL_FRAME_MAX */
} cl_sess_t;

/* A growable byte buffer. Zero-initialise; free with cl_buf_free(). */
typedef struct cl_buf {
    uint8_t *p;
    size_t len, cap;
} cl_buf_t;
int cl_buf_reserve(cl_buf_t *b, size_t extra);
int cl_buf_append(cl_buf_t *b, const void *p, size_t n);
void cl_buf_consume(cl_buf_t *b, size_t n); /* drop the first n bytes */
void cl_buf_free(cl_buf_t *b);

/* Must be called once before any other function here (sodium_init). 0 or -1. */
int cl_crypto_init(void);

/* Start a session for the handshake phase (public all-zero MAC key, bodies of at most
 * CL_HANDSHAKE_MAX). */
void cl_sess_init_handshake(cl_sess_t *s, bool server);
/* Start a session with this MAC key (tests). */
void cl_sess_init(cl_sess_t *s, const uint8_t key[CL_KEY_BYTES], bool server);
/* Switch to the session key derived from the cluster key and both nonces; resets counters and
 * accepts bodies up to CL_FRAME_MAX from now on. */
void cl_sess_rekey(cl_sess_t *s, const uint8_t key[CL_KEY_BYTES],
                   const uint8_t server_nonce[CL_NONCE_BYTES],
                   const uint8_t peer_nonce[CL_NONCE_BYTES]);
/* proof = HMAC(key, label | server nonce | peer nonce); label "colossus-client"/"-server". */
void cl_auth_proof(const uint8_t key[CL_KEY_BYTES], const char *label,
                   const uint8_t server_nonce[CL_NONCE_BYTES],
                   const uint8_t peer_nonce[CL_NONCE_BYTES], uint8_t out[32]);
/* Credential handshakes (docs/protocol.md, "Credentials"): the server's Hello carries an
 * ephemeral X25519 key and its Ed25519 identity, which signs that key (cl_hello_msg); the
 * peer checks the signature with the identity it trusts, then answers with its own ephemeral
 * key and, for a token or node credential, an Ed25519 signature of the transcript below by
 * its secret. The server answers AuthOk with its identity's signature of the same transcript
 * (label "colossus-server-v1"), so each side knows the other and that nobody in between
 * swapped a key. The session key comes from the X25519 exchange (cl_kx_session_key), then
 * cl_sess_rekey as for the cluster key. */
#define CL_KX_BYTES 32
#define CL_SIG_BYTES 64
/* transcript = BLAKE2b-256("colossus-auth-v1" | server nonce | peer nonce | server kx | peer kx
 *                          | identity | role (1) | kind (1) | credential id) */
void cl_auth_transcript(const uint8_t server_nonce[CL_NONCE_BYTES],
                        const uint8_t peer_nonce[CL_NONCE_BYTES],
                        const uint8_t server_kx[CL_KX_BYTES],
                        const uint8_t peer_kx[CL_KX_BYTES], const uint8_t identity[32],
                        int role, int kind, const char *id, uint8_t out[32]);
/* What Hello.kx_sig signs with the identity key: BLAKE2b-256("colossus-hello-v1" | server
 * nonce | server kx). Without it an impostor could send its own kx with the real identity and
 * open a JWT sealed under that exchange before AuthOk shows it is not the controller. */
void cl_hello_msg(const uint8_t server_nonce[CL_NONCE_BYTES],
                  const uint8_t server_kx[CL_KX_BYTES], uint8_t out[32]);
/* A server's Hello, in hb's storage (the message points into it and into nonce, kx_pk and
 * identity_pk, which must outlive it): a fresh nonce, written to nonce, and with kx_pk (NULL:
 * a cluster-key-only server, a relay) that ephemeral X25519 key, the identity identity_pk (32
 * bytes) and identity_sk's signature of cl_hello_msg. Returns the message to send. */
typedef struct cl_hello {
    Colossus__Msg m;
    Colossus__Hello hello;
    uint8_t sig[CL_SIG_BYTES];
} cl_hello_t;
const Colossus__Msg *cl_hello_make(cl_hello_t *hb, uint8_t nonce[CL_NONCE_BYTES],
                                   const uint8_t *kx_pk, const uint8_t *identity_pk,
                                   const uint8_t *identity_sk);
/* What the server signs: BLAKE2b-256("colossus-server-v1" | transcript). */
void cl_auth_server_msg(const uint8_t transcript[32], uint8_t out[32]);
/* The X25519 exchange's session key, the same on both sides: BLAKE2b-256(client-to-server key
 * | server-to-client key) of libsodium's crypto_kx. 0, or -1 when the peer's key is bad. */
int cl_kx_session_key(bool server, const uint8_t my_pk[CL_KX_BYTES],
                      const uint8_t my_sk[CL_KX_BYTES], const uint8_t peer_pk[CL_KX_BYTES],
                      uint8_t key[CL_KEY_BYTES]);
/* Constant-time comparison of two 32-byte proofs: true when equal. */
bool cl_auth_equal(const uint8_t *a, const uint8_t *b, size_t n);

/* Append one frame holding m to out. 0, or -1 (too large / no memory). */
int cl_frame_encode(cl_sess_t *s, const Colossus__Msg *m, cl_buf_t *out);
/* Append one frame holding body bytes already packed (a Colossus__Msg packed earlier, as the
 * controller's held replies are; or, in tests and fuzzing, bytes that are not a Msg). */
int cl_frame_encode_raw(cl_sess_t *s, const uint8_t *body, size_t n, cl_buf_t *out);

/* Decode the first frame of buf[0..len): returns the bytes it used (> 0) with *out set (free
 * it with cl_msg_free()), 0 when more bytes are needed, or -1 with a sentence in err when the
 * frame is bad (magic, version, size, MAC, body); the connection must then be closed. */
ssize_t cl_frame_decode(cl_sess_t *s, const uint8_t *buf, size_t len, Colossus__Msg **out,
                        cl_error_t *err);
void cl_msg_free(Colossus__Msg *m);

/* The cluster key: "colossus-key-v1 <64 hex digits>\n". */
int cl_key_generate(char *line, size_t len); /* writes the line; 0 or -1 */
/* Read a key file; -1 with a sentence naming the file on failure. */
int cl_key_load(const char *path, uint8_t key[CL_KEY_BYTES], cl_error_t *err);

/* Split "HOST:PORT" (HOST may be [v6]). -1 with a sentence on failure. */
int cl_addr_parse(const char *s, char *host, size_t hostlen, int *port, cl_error_t *err);

#endif
