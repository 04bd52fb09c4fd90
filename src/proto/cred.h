/* cred.h - the credentials a client presents (docs/security.md, "Credentials"): the cluster
 * key (bootstrap), a user's token, a node credential, or a JWT from the site's OIDC provider.
 *
 * A token or node credential is an Ed25519 key pair made by the client (`colossus token
 * create`): the secret (a 32-byte seed) never leaves the client, the controller stores only
 * the public key, so its journal cannot be used to log in. The string a person keeps is
 *     colossus-token-v1.ID.SEED.IDENTITY    (a user token)
 *     colossus-node-v1.ID.SEED.IDENTITY     (a node credential)
 * with SEED and IDENTITY (the controller's Ed25519 identity key, so the holder can check it
 * talks to the right controller) in unpadded base64url. ID is the controller's name for it
 * ("tk-" or "nd-" and 16 hex digits). The same string is the REST API's bearer token. */
#ifndef COLOSSUS_PROTO_CRED_H
#define COLOSSUS_PROTO_CRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "colossus/core.h"
#include "proto/frame.h"

#define CL_CRED_ID_MAX 31
#define CL_SIGN_PK_BYTES 32
#define CL_SIGN_SEED_BYTES 32
/* The longest credential string (a JWT is read separately, up to CL_JWT_MAX). */
#define CL_CRED_STR_MAX 160
#define CL_JWT_MAX 6144

typedef enum cl_cred_kind {
    CL_CRED_KEY,   /* the cluster key */
    CL_CRED_TOKEN, /* a user's token */
    CL_CRED_NODE,  /* a node credential */
    CL_CRED_JWT,   /* a JWT (bearer) */
} cl_cred_kind_t;

typedef struct cl_cred {
    cl_cred_kind_t kind;
    uint8_t key[CL_KEY_BYTES];        /* KEY */
    char id[CL_CRED_ID_MAX + 1];      /* TOKEN, NODE */
    uint8_t seed[CL_SIGN_SEED_BYTES]; /* TOKEN, NODE: the secret */
    /* TOKEN, NODE: the controller's identity key it names; JWT: the one pinned by the caller
     * (all zero: none, and the JWT is not sent: anyone answering could replay it) */
    uint8_t identity[CL_SIGN_PK_BYTES];
    char jwt[CL_JWT_MAX + 1]; /* JWT */
} cl_cred_t;

/* A cluster-key credential. */
void cl_cred_from_key(cl_cred_t *c, const uint8_t key[CL_KEY_BYTES]);
/* Parse a token or node credential string (surrounding white space ignored), or a JWT
 * (three base64url parts). -1 with a sentence that never repeats the secret. */
int cl_cred_parse(const char *s, cl_cred_t *c, cl_error_t *err);
/* Read a file holding one credential: a token, a node credential, a JWT or a cluster key
 * line ("colossus-key-v1 ..."). -1 with a sentence naming the file. */
int cl_cred_load(const char *path, cl_cred_t *c, cl_error_t *err);
/* The string of a TOKEN or NODE credential into buf (CL_CRED_STR_MAX + 1 bytes is enough);
 * 0, or -1 for another kind or a short buffer. */
int cl_cred_format(const cl_cred_t *c, char *buf, size_t len);
/* Make a new secret for a TOKEN or NODE credential (id and identity filled in later, from the
 * controller's answer) and give its public key. */
void cl_cred_new(cl_cred_t *c, cl_cred_kind_t kind, uint8_t pk[CL_SIGN_PK_BYTES]);
/* The public key of a TOKEN or NODE credential's secret. */
void cl_cred_public(const cl_cred_t *c, uint8_t pk[CL_SIGN_PK_BYTES]);
/* Wipe the secret. */
void cl_cred_clear(cl_cred_t *c);
/* "cluster key", "token tk-...", "node credential nd-...", "JWT" (for messages). */
const char *cl_cred_describe(const cl_cred_t *c, char *buf, size_t len);

/* The controller's identity key pair, in a file "colossus-identity-v1 <64 hex digits of the
 * seed>": loaded, or made (mode 0600, atomically) when the file does not exist. -1 with a
 * sentence naming the file. */
int cl_identity_load(const char *path, bool create, uint8_t pk[CL_SIGN_PK_BYTES],
                     uint8_t sk[64], cl_error_t *err);

/* The controller's identity public key, what a client pins to send a JWT (docs/security.md):
 * the file STATE-DIR/identity.pub, "colossus-identity-pub-v1 <64 hex digits>\n" (mode
 * 0644). 0, or -1 with a sentence naming the file. */
int cl_identity_pub_write(const char *path, const uint8_t pk[CL_SIGN_PK_BYTES],
                          cl_error_t *err);
/* Parse that line, or 64 bare hex digits (surrounding white space ignored). 0, or -1 with a
 * sentence (the text itself is not repeated: it may be a secret given by mistake). */
int cl_identity_pub_parse(const char *s, uint8_t pk[CL_SIGN_PK_BYTES], cl_error_t *err);
/* Read an identity.pub file (cl_identity_pub_parse). -1 with a sentence naming the file. */
int cl_identity_pub_load(const char *path, uint8_t pk[CL_SIGN_PK_BYTES], cl_error_t *err);

/* A credential id as the controller makes them: prefix ("tk-", "nd-") and 16 hex digits. */
void cl_cred_make_id(const char *prefix, char out[CL_CRED_ID_MAX + 1]);
/* Whether s is a well-formed id (what the parser accepts): prefix, 16 lower-case hex. */
bool cl_cred_id_valid(const char *s);

#endif
