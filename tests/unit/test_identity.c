/* test_identity.c - who a launch's ranks run as (src/agent/identity.h): root refused unless
 * allowed, an agent that is not root runs only itself, bad ids and names refused with a
 * sentence, the names and HOME the ranks get. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "agent/identity.h"

static const ag_identity_policy_t as_root = {false, 0, 0};
static const ag_identity_policy_t as_root_allowed = {true, 0, 0};
static const ag_identity_policy_t as_user = {false, 1000, 1000};

static void test_root_refused_unless_allowed(void **state)
{
    ag_identity_t id;
    cl_error_t err;
    uint32_t ids[][2] = {{0, 0}, {0, 5}, {5, 0}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            ag_identity_resolve(&as_root, 42, ids[i][0], ids[i][1], "bob", &id, &err), -1);
        char want[300];
        snprintf(want, sizeof want,
                 "refused: job 42 would run as uid %u gid %u, and this agent runs no ranks as "
                 "root (uid 0 or gid 0) unless it was started with --allow-root-jobs",
                 ids[i][0], ids[i][1]);
        assert_string_equal(err.msg, want);
        assert_int_equal(
            ag_identity_resolve(&as_root_allowed, 42, ids[i][0], ids[i][1], "bob", &id, &err),
            0);
        assert_true(id.switch_ids);
        assert_int_equal(id.uid, ids[i][0]);
        assert_int_equal(id.gid, ids[i][1]);
    }
}

static void test_not_root_runs_only_itself(void **state)
{
    ag_identity_t id;
    cl_error_t err;
    assert_int_equal(ag_identity_resolve(&as_user, 7, 1000, 1000, "me", &id, &err), 0);
    assert_false(id.switch_ids); /* nothing to switch */
    assert_string_equal(id.user, "me");
    assert_int_equal(ag_identity_resolve(&as_user, 7, 1001, 1000, "you", &id, &err), -1);
    assert_string_equal(err.msg,
                        "refused: job 7 would run as uid 1001 gid 1000, but this agent runs as "
                        "uid 1000 gid 1000 and is not root: it can run ranks only as uid 1000 "
                        "gid 1000");
    assert_int_equal(ag_identity_resolve(&as_user, 7, 1000, 27, "me", &id, &err), -1);
    assert_non_null(strstr(err.msg, "would run as uid 1000 gid 27, but"));
    /* Root is refused as root, even by an agent that is not root and allows it. */
    ag_identity_policy_t allowed = as_user;
    allowed.allow_root = true;
    assert_int_equal(ag_identity_resolve(&allowed, 7, 0, 0, "", &id, &err), -1);
    assert_non_null(strstr(err.msg, "is not root: it can run ranks only as uid 1000"));
}

static void test_bad_ids_and_names(void **state)
{
    ag_identity_t id;
    cl_error_t err;
    assert_int_equal(ag_identity_resolve(&as_root, 3, UINT32_MAX, 5, "x", &id, &err), -1);
    assert_string_equal(err.msg, "job 3: uid 4294967295 gid 5: 4294967295 is not a valid id");
    assert_int_equal(ag_identity_resolve(&as_root, 3, 5, UINT32_MAX, "x", &id, &err), -1);
    const char *bad[] = {
        "a b", "evil\nFORGED",
        "-rf", "a=b",
        "x/y", "$x",
        "é",   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ag_identity_resolve(&as_root, 3, 5, 5, bad[i], &id, &err), -1);
        assert_non_null(strstr(err.msg, "refused: job 3: its user name ("));
        assert_null(strstr(err.msg, bad[i])); /* never quoted: it could forge a line */
    }
    const char *good[] = {"alice", "a.b_c-d", "ann@example.org", "HOST$", "x"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(ag_identity_resolve(&as_root, 3, 5, 5, good[i], &id, &err), 0);
        assert_string_equal(id.user, good[i]);
    }
}

/* No name from the controller: this node's passwd name, else the number. HOME: passwd's, else
 * "" (the caller uses the working directory). */
static void test_names_and_home(void **state)
{
    ag_identity_t id;
    cl_error_t err;
    assert_int_equal(ag_identity_resolve(&as_root_allowed, 1, 0, 0, "", &id, &err), 0);
    struct passwd *pw = getpwuid(0);
    assert_non_null(pw);
    assert_string_equal(id.user, pw->pw_name);
    assert_string_equal(id.home, pw->pw_dir);
    assert_int_equal(ag_identity_resolve(&as_root_allowed, 1, 0, 0, "admin", &id, &err), 0);
    assert_string_equal(id.user, "admin"); /* the controller's word wins */
    uid_t nobody = 54329;
    if (!getpwuid(nobody)) {
        assert_int_equal(ag_identity_resolve(&as_root, 1, nobody, nobody, NULL, &id, &err), 0);
        assert_string_equal(id.user, "54329");
        assert_string_equal(id.home, "");
    }
}

/* A uid's passwd answer is kept for the cache's time: one lookup for many launches, the same
 * answer; other uids and an expired entry are looked up again. */
static void test_passwd_cached(void **state)
{
    ag_identity_t id, again;
    cl_error_t err;
    ag_identity_cache_ttl(60);
    unsigned long n0 = ag_identity_lookups;
    assert_int_equal(ag_identity_resolve(&as_root_allowed, 1, 0, 0, "", &id, &err), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ag_identity_resolve(&as_root_allowed, 1, 0, 0, "", &again, &err), 0);
    assert_int_equal(ag_identity_lookups - n0, 1);
    assert_string_equal(again.user, id.user);
    assert_string_equal(again.home, id.home);
    assert_int_equal(ag_identity_resolve(&as_root, 1, 54329, 54329, NULL, &again, &err), 0);
    assert_int_equal(ag_identity_lookups - n0, 2);
    ag_identity_cache_ttl(0); /* nothing kept */
    assert_int_equal(ag_identity_resolve(&as_root_allowed, 1, 0, 0, "", &again, &err), 0);
    assert_int_equal(ag_identity_resolve(&as_root_allowed, 1, 0, 0, "", &again, &err), 0);
    assert_int_equal(ag_identity_lookups - n0, 4);
    assert_string_equal(again.home, id.home);
    ag_identity_cache_ttl(AG_PASSWD_TTL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_refused_unless_allowed),
        cmocka_unit_test(test_not_root_runs_only_itself),
        cmocka_unit_test(test_bad_ids_and_names),
        cmocka_unit_test(test_names_and_home),
        cmocka_unit_test(test_passwd_cached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
