/* fuzz_frame.c - libFuzzer target for the frame decoder (cl_frame_decode) and, through frames
 * with a valid MAC, for the generated protobuf-c message decoder behind it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"

static const uint8_t key[CL_KEY_BYTES] = {7, 7, 7};

/* Decode a stream of frames as a connection would, until error or need-more. */
static void decode_stream(cl_sess_t *rx, const uint8_t *p, size_t n)
{
    cl_error_t err;
    while (n) {
        Colossus__Msg *m = NULL;
        ssize_t used = cl_frame_decode(rx, p, n, &m, &err);
        if (used <= 0) return;
        /* a decoded message must re-encode and decode to the same bytes */
        cl_sess_t tx2, rx2;
        cl_sess_init(&tx2, key, false);
        cl_sess_init(&rx2, key, true);
        cl_buf_t b = {0};
        if (cl_frame_encode(&tx2, m, &b) == 0) {
            Colossus__Msg *m2 = NULL;
            if (cl_frame_decode(&rx2, b.p, b.len, &m2, &err) <= 0) abort();
            size_t l1 = colossus__msg__get_packed_size(m),
                   l2 = colossus__msg__get_packed_size(m2);
            if (l1 != l2) abort();
            cl_msg_free(m2);
        }
        cl_buf_free(&b);
        cl_msg_free(m);
        p += used;
        n -= (size_t)used;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    cl_sess_t tx, rx;
    cl_sess_init(&tx, key, false);
    cl_sess_init(&rx, key, true);
    if (data[0] & 1) {
        /* raw bytes off the wire */
        decode_stream(&rx, data + 1, size - 1);
    } else {
        /* bodies from a peer that holds the key: each chunk (split at 0xff 0xfe) is framed
         * with a valid MAC, so the protobuf decoder sees arbitrary input */
        cl_buf_t b = {0};
        const uint8_t *p = data + 1, *end = data + size;
        while (p <= end) {
            const uint8_t *q = p;
            while (q + 1 < end && !(q[0] == 0xff && q[1] == 0xfe))
                q++;
            if (q + 1 >= end) q = end;
            cl_frame_encode_raw(&tx, p, (size_t)(q - p), &b);
            p = q + 2;
        }
        decode_stream(&rx, b.p, b.len);
        cl_buf_free(&b);
    }
    return 0;
}
