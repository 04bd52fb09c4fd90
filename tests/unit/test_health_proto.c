/* test_health_proto.c - the GPU health messages on the wire: a heartbeat carrying telemetry and
 * XIDs survives a frame round trip; old and new peers understand each other (a heartbeat or
 * registration without the new fields decodes with none, and the new fields are skipped by a
 * decoder that only knows the old ones). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/frame.h"

static Colossus__Msg *roundtrip(const Colossus__Msg *m)
{
    uint8_t key[CL_KEY_BYTES] = {7};
    cl_sess_t tx, rx;
    cl_sess_init(&tx, key, false);
    cl_sess_init(&rx, key, true);
    cl_buf_t b = {0};
    assert_int_equal(cl_frame_encode(&tx, m, &b), 0);
    Colossus__Msg *out = NULL;
    cl_error_t err;
    assert_int_equal(cl_frame_decode(&rx, b.p, b.len, &out, &err), (ssize_t)b.len);
    cl_buf_free(&b);
    assert_non_null(out);
    return out;
}

static void test_heartbeat_with_health(void **state)
{
    (void)state;
    uint32_t ids[] = {3};
    Colossus__GpuTelemetry g = COLOSSUS__GPU_TELEMETRY__INIT, *gp = &g;
    g.index = 1;
    g.valid = 0x1ff;
    g.power_mw = 612345;
    g.energy_mj = 1ull << 40;
    g.ecc_corrected = 150;
    g.remap_pending = true;
    Colossus__XidEvent x = COLOSSUS__XID_EVENT__INIT, *xp = &x;
    x.gpu = 1;
    x.xid = 79;
    x.action = "drain-now";
    Colossus__NodeHealth h = COLOSSUS__NODE_HEALTH__INIT, *hp = &h;
    h.node = 3;
    h.action = "drain-now";
    h.reason = "GPU 1: XID 79 (GPU has fallen off the bus): fatal";
    h.gpus = &gp;
    h.n_gpus = 1;
    h.xids = &xp;
    h.n_xids = 1;
    h.check = "passed";
    h.check_seq = 9;
    Colossus__Heartbeat hb = COLOSSUS__HEARTBEAT__INIT;
    hb.nodes = ids;
    hb.n_nodes = 1;
    hb.health = &hp;
    hb.n_health = 1;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    Colossus__Msg *o = roundtrip(&m);
    assert_int_equal(o->body_case, COLOSSUS__MSG__BODY_HEARTBEAT);
    assert_int_equal(o->heartbeat->n_nodes, 1);
    assert_int_equal(o->heartbeat->n_health, 1);
    Colossus__NodeHealth *r = o->heartbeat->health[0];
    assert_string_equal(r->action, "drain-now");
    assert_string_equal(r->reason, h.reason);
    assert_int_equal(r->n_gpus, 1);
    assert_int_equal(r->gpus[0]->power_mw, 612345);
    assert_int_equal(r->gpus[0]->energy_mj, 1ull << 40);
    assert_int_equal(r->gpus[0]->ecc_corrected, 150);
    assert_true(r->gpus[0]->remap_pending);
    assert_int_equal(r->n_xids, 1);
    assert_int_equal(r->xids[0]->xid, 79);
    assert_int_equal(r->check_seq, 9);
    cl_msg_free(o);
}

static void test_old_peers(void **state)
{
    (void)state;
    /* An old agent: heartbeat and registration without any health field. */
    uint32_t ids[] = {1, 2};
    Colossus__Heartbeat hb = COLOSSUS__HEARTBEAT__INIT;
    hb.nodes = ids;
    hb.n_nodes = 2;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    Colossus__Msg *o = roundtrip(&m);
    assert_int_equal(o->heartbeat->n_health, 0);
    cl_msg_free(o);
    Colossus__Register r = COLOSSUS__REGISTER__INIT;
    r.name = "old";
    m.body_case = COLOSSUS__MSG__BODY_REGISTER;
    m.register_ = &r;
    o = roundtrip(&m);
    assert_null(o->register_->health);
    assert_string_equal(o->register_->nvlink_domain, "");
    assert_false(o->register_->nvlink_unready);
    cl_msg_free(o);

    /* An old controller: it knows Heartbeat as field 1 only. Decode the new heartbeat with a
     * Heartbeat descriptor cut down to its first field: the health reports are unknown fields,
     * kept aside and ignored, and the node ids still arrive. */
    Colossus__NodeHealth h = COLOSSUS__NODE_HEALTH__INIT, *hp = &h;
    h.action = "none";
    hb.health = &hp;
    hb.n_health = 1;
    size_t len = colossus__heartbeat__get_packed_size(&hb);
    uint8_t buf[256];
    assert_true(len <= sizeof buf);
    colossus__heartbeat__pack(&hb, buf);
    ProtobufCMessageDescriptor old = colossus__heartbeat__descriptor;
    old.n_fields = 1; /* "nodes" */
    old.n_field_ranges = 1;
    static const ProtobufCIntRange ranges[] = {{1, 0}, {0, 1}};
    old.field_ranges = ranges;
    ProtobufCMessage *d = protobuf_c_message_unpack(&old, NULL, len, buf);
    assert_non_null(d);
    Colossus__Heartbeat *oh = (Colossus__Heartbeat *)d;
    assert_int_equal(oh->n_nodes, 2);
    assert_int_equal(oh->nodes[1], 2);
    assert_true(d->n_unknown_fields >= 1);
    protobuf_c_message_free_unpacked(d, NULL);
}

int main(void)
{
    assert_int_equal(cl_crypto_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heartbeat_with_health),
        cmocka_unit_test(test_old_peers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
