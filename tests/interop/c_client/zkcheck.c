/*
 * zkcheck <host:port> <scenario>: drives a server with Apache ZooKeeper's C client library
 * (libzookeeper_mt) through one named scenario and checks the exact values ZooKeeper gives.
 * Every check that holds prints "ok ..." on stdout; the first one that does not prints
 * "FAIL [scenario] ..." on stderr and exits 1. Exit 2 is a usage error.
 *
 * Build: gcc -Wall -Wextra -o zkcheck zkcheck.c -lzookeeper_mt
 */

#define _GNU_SOURCE
/* The synchronous API is only declared for the multi-threaded library. */
#define THREADED
#include <zookeeper/zookeeper.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 10000
/* How long "no further event" is waited for. */
#define QUIET_MS 300
#define MAX_EVENTS 32

/* digest ACL id of user:pw: "user:" + base64(sha1("user:pw")). */
#define USER_DIGEST_ID "user:2Om+GBbT2q/tS6pdvACZbbm7/1A="

static const char *host;
static const char *scenario;
static char base[128];
static int checks;

/* ---- reporting ---------------------------------------------------------------------- */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "FAIL [%s] ", scenario);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void pass(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void pass(const char *fmt, ...)
{
    va_list ap;
    printf("ok   ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    checks++;
}

/* A formatted string that stays valid for the next few calls (main thread only). */
static const char *S(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *S(const char *fmt, ...)
{
    static char bufs[8][512];
    static int next;
    char *buf = bufs[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return buf;
}

/* A path that lives until exit (paths are kept across many S() calls). */
static const char *P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *P(const char *fmt, ...)
{
    char *path = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&path, fmt, ap) < 0)
        fail("out of memory");
    va_end(ap);
    return path;
}

static void check_rc(int got, int want, const char *what)
{
    if (got != want)
        fail("%s: expected %s (%d), got %s (%d)", what, zerror(want), want, zerror(got), got);
    pass("%s -> %s", what, zerror(want));
}

static void check_int(long long got, long long want, const char *what)
{
    if (got != want)
        fail("%s: expected %lld, got %lld", what, want, got);
    pass("%s == %lld", what, want);
}

static void check_true(int cond, const char *what)
{
    if (!cond)
        fail("%s: does not hold", what);
    pass("%s", what);
}

static void check_str(const char *got, const char *want, const char *what)
{
    if (got == NULL || strcmp(got, want) != 0)
        fail("%s: expected \"%s\", got %s%s%s", what, want, got ? "\"" : "", got ? got : "NULL",
             got ? "\"" : "");
    pass("%s == \"%s\"", what, want);
}

static void check_data(const char *buf, int len, const char *want, const char *what)
{
    int want_len = (int)strlen(want);
    if (len != want_len || memcmp(buf, want, want_len) != 0)
        fail("%s: expected \"%s\" (%d bytes), got \"%.*s\" (%d bytes)", what, want, want_len,
             len > 0 ? len : 0, buf, len);
    pass("%s == \"%s\"", what, want);
}

/* The fields that must not move between two reads of an unchanged node. */
static void check_same_stat(const struct Stat *got, const struct Stat *want, const char *what)
{
    if (got->czxid != want->czxid || got->mzxid != want->mzxid || got->pzxid != want->pzxid ||
        got->ctime != want->ctime || got->mtime != want->mtime ||
        got->version != want->version || got->cversion != want->cversion ||
        got->aversion != want->aversion || got->ephemeralOwner != want->ephemeralOwner ||
        got->dataLength != want->dataLength || got->numChildren != want->numChildren)
        fail("%s: stat differs (czxid %lld/%lld mzxid %lld/%lld version %d/%d)", what,
             (long long)got->czxid, (long long)want->czxid, (long long)got->mzxid,
             (long long)want->mzxid, got->version, want->version);
    pass("%s: same stat", what);
}

static const char *event_name(int type)
{
    if (type == ZOO_CREATED_EVENT) return "CREATED";
    if (type == ZOO_DELETED_EVENT) return "DELETED";
    if (type == ZOO_CHANGED_EVENT) return "CHANGED";
    if (type == ZOO_CHILD_EVENT) return "CHILD";
    if (type == ZOO_SESSION_EVENT) return "SESSION";
    if (type == ZOO_NOTWATCHING_EVENT) return "NOTWATCHING";
    return "?";
}

static const char *state_name(int state)
{
    if (state == ZOO_CONNECTED_STATE) return "CONNECTED";
    if (state == ZOO_CONNECTING_STATE) return "CONNECTING";
    if (state == ZOO_ASSOCIATING_STATE) return "ASSOCIATING";
    if (state == ZOO_EXPIRED_SESSION_STATE) return "EXPIRED_SESSION";
    if (state == ZOO_AUTH_FAILED_STATE) return "AUTH_FAILED";
    if (state == ZOO_READONLY_STATE) return "READONLY";
    if (state == ZOO_NOTCONNECTED_STATE) return "NOTCONNECTED";
    return "?";
}

/* ---- waiting ------------------------------------------------------------------------ */

static struct timespec deadline_in(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* What one watcher saw: node events, and session states apart. */
struct event {
    int type;
    int state;
    char path[256];
};

struct watch_log {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int nevents;
    struct event events[MAX_EVENTS];
    int nstates;
    int states[MAX_EVENTS];
};

static void log_init(struct watch_log *log)
{
    memset(log, 0, sizeof *log);
    pthread_mutex_init(&log->mu, NULL);
    pthread_cond_init(&log->cv, NULL);
}

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct watch_log *log = ctx;
    (void)zh;
    pthread_mutex_lock(&log->mu);
    if (type == ZOO_SESSION_EVENT) {
        if (log->nstates < MAX_EVENTS)
            log->states[log->nstates++] = state;
    } else if (log->nevents < MAX_EVENTS) {
        struct event *e = &log->events[log->nevents++];
        e->type = type;
        e->state = state;
        snprintf(e->path, sizeof e->path, "%s", path ? path : "");
    }
    pthread_cond_broadcast(&log->cv);
    pthread_mutex_unlock(&log->mu);
}

/* Waits until the log holds more than `n` node events; 1 if it does. */
static int wait_events(struct watch_log *log, int n, int timeout_ms)
{
    struct timespec until = deadline_in(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&log->mu);
    while (log->nevents <= n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&log->cv, &log->mu, &until);
    int got = log->nevents > n;
    pthread_mutex_unlock(&log->mu);
    return got;
}

static int has_state(struct watch_log *log, int state)
{
    for (int i = 0; i < log->nstates; i++)
        if (log->states[i] == state)
            return 1;
    return 0;
}

static int wait_state(struct watch_log *log, int state, int timeout_ms)
{
    struct timespec until = deadline_in(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&log->mu);
    while (!has_state(log, state) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&log->cv, &log->mu, &until);
    int got = has_state(log, state);
    pthread_mutex_unlock(&log->mu);
    return got;
}

static const char *states_seen(struct watch_log *log)
{
    static char buf[512];
    size_t used = 0;
    buf[0] = '\0';
    pthread_mutex_lock(&log->mu);
    for (int i = 0; i < log->nstates && used < sizeof buf; i++)
        used += snprintf(buf + used, sizeof buf - used, "%s%s", i ? "," : "",
                         state_name(log->states[i]));
    pthread_mutex_unlock(&log->mu);
    return used ? buf : "none";
}

/* Event number `i` of `log` is `type` on `path`, delivered while connected. */
static void expect_event(struct watch_log *log, int i, int type, const char *path, const char *what)
{
    if (!wait_events(log, i, TIMEOUT_MS))
        fail("%s: no %s event on %s within %d ms", what, event_name(type), path, TIMEOUT_MS);
    struct event *e = &log->events[i];
    if (e->type != type || strcmp(e->path, path) != 0 || e->state != ZOO_CONNECTED_STATE)
        fail("%s: expected %s on %s (CONNECTED), got %s on %s (%s)", what, event_name(type), path,
             event_name(e->type), e->path, state_name(e->state));
    pass("%s: %s on %s", what, event_name(type), path);
}

/* The log holds exactly `n` node events and no more arrive for a while. */
static void expect_quiet(struct watch_log *log, int n, const char *what)
{
    if (wait_events(log, n, QUIET_MS)) {
        struct event *e = &log->events[n];
        fail("%s: expected %d event(s), got another: %s on %s", what, n, event_name(e->type),
             e->path);
    }
    pthread_mutex_lock(&log->mu);
    int count = log->nevents;
    pthread_mutex_unlock(&log->mu);
    if (count != n)
        fail("%s: expected %d event(s), got %d", what, n, count);
    pass("%s: %d event(s), no more", what, n);
}

/* ---- sessions ----------------------------------------------------------------------- */

/* Starts a handle for `id` (NULL: a new session) and waits for `want_state`. */
static zhandle_t *open_handle(struct watch_log *log, const clientid_t *id, int want_state)
{
    log_init(log);
    zhandle_t *zh = zookeeper_init(host, watcher, TIMEOUT_MS, id, log, 0);
    if (zh == NULL)
        fail("zookeeper_init(%s): %s", host, strerror(errno));
    if (!wait_state(log, want_state, 15000))
        fail("session did not reach state %s within 15 s (states seen: %s)",
             state_name(want_state), states_seen(log));
    return zh;
}

static zhandle_t *connect_new(struct watch_log *log)
{
    return open_handle(log, NULL, ZOO_CONNECTED_STATE);
}

struct result {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int rc;
};

static void void_done(int rc, const void *data)
{
    struct result *r = (struct result *)data;
    pthread_mutex_lock(&r->mu);
    r->rc = rc;
    r->done = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* zoo_add_auth answers through a completion: waits for it and returns its code. */
static int add_auth(zhandle_t *zh, const char *scheme, const char *cred)
{
    struct result r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    int rc = zoo_add_auth(zh, scheme, cred, (int)strlen(cred), void_done, &r);
    if (rc != ZOK)
        return rc;
    struct timespec until = deadline_in(TIMEOUT_MS);
    pthread_mutex_lock(&r.mu);
    while (!r.done && pthread_cond_timedwait(&r.cv, &r.mu, &until) != ETIMEDOUT)
        ;
    int done = r.done;
    rc = r.rc;
    pthread_mutex_unlock(&r.mu);
    if (!done)
        fail("zoo_add_auth(%s): no completion within %d ms", scheme, TIMEOUT_MS);
    return rc;
}

static void close_handle(zhandle_t *zh, const char *what)
{
    check_rc(zookeeper_close(zh), ZOK, what);
}

static int create(zhandle_t *zh, const char *path, const char *data, int flags)
{
    return zoo_create(zh, path, data, data ? (int)strlen(data) : -1, &ZOO_OPEN_ACL_UNSAFE, flags,
                      NULL, 0);
}

static int is_seq_path(const char *path, const char *prefix, int number)
{
    return strcmp(path, S("%s%010d", prefix, number)) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Children sorted and joined with ",", for one exact comparison. */
static const char *joined(struct String_vector *v)
{
    static char buf[1024];
    size_t used = 0;
    buf[0] = '\0';
    qsort(v->data, v->count, sizeof v->data[0], cmp_str);
    for (int i = 0; i < v->count && used < sizeof buf; i++)
        used += snprintf(buf + used, sizeof buf - used, "%s%s", i ? "," : "", v->data[i]);
    return buf;
}

/* ---- scenarios ---------------------------------------------------------------------- */

static void scenario_crud(void)
{
    struct watch_log log;
    zhandle_t *zh = connect_new(&log);
    struct Stat created, stat, set;
    char path[256], buf[64];
    int len;

    check_rc(zoo_exists(zh, "/zookeeper", 0, &stat), ZOK, "exists /zookeeper");

    check_rc(zoo_create2(zh, base, "hello", 5, &ZOO_OPEN_ACL_UNSAFE, 0, path, sizeof path,
                         &created),
             ZOK, "create2 base");
    check_str(path, base, "create2 path");
    check_int(created.version, 0, "create2 stat.version");
    check_int(created.cversion, 0, "create2 stat.cversion");
    check_int(created.aversion, 0, "create2 stat.aversion");
    check_int(created.dataLength, 5, "create2 stat.dataLength");
    check_int(created.numChildren, 0, "create2 stat.numChildren");
    check_int(created.ephemeralOwner, 0, "create2 stat.ephemeralOwner");
    check_true(created.czxid > 0, "create2 stat.czxid > 0");
    check_int(created.mzxid, created.czxid, "create2 stat.mzxid (== czxid)");
    check_int(created.pzxid, created.czxid, "create2 stat.pzxid (== czxid)");
    check_true(created.ctime > 0 && created.mtime == created.ctime, "create2 mtime == ctime > 0");
    check_rc(create(zh, base, "again", 0), ZNODEEXISTS, "create base again");

    len = sizeof buf;
    check_rc(zoo_get(zh, base, 0, buf, &len, &stat), ZOK, "get base");
    check_data(buf, len, "hello", "get data");
    check_same_stat(&stat, &created, "get stat vs create2 stat");
    check_rc(zoo_exists(zh, base, 0, &stat), ZOK, "exists base");
    check_same_stat(&stat, &created, "exists stat vs create2 stat");

    check_rc(zoo_set2(zh, base, "world!", 6, 0, &set), ZOK, "set2 base version 0");
    check_int(set.version, 1, "set2 stat.version");
    check_int(set.dataLength, 6, "set2 stat.dataLength");
    check_int(set.czxid, created.czxid, "set2 stat.czxid");
    check_true(set.mzxid > set.czxid, "set2 stat.czxid < mzxid");
    check_int(set.pzxid, created.pzxid, "set2 stat.pzxid (unchanged)");
    check_true(set.mtime >= set.ctime, "set2 stat.mtime >= ctime");
    check_rc(zoo_set2(zh, base, "stale", 5, 0, &stat), ZBADVERSION, "set2 base version 0 again");
    check_rc(zoo_set(zh, base, "x", 1, 7), ZBADVERSION, "set base version 7");
    len = sizeof buf;
    check_rc(zoo_get(zh, base, 0, buf, &len, &stat), ZOK, "get base after set");
    check_data(buf, len, "world!", "data after set");
    check_same_stat(&stat, &set, "get stat vs set2 stat");

    struct Stat child;
    const char *a = P("%s/a", base);
    check_rc(zoo_create2(zh, a, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0, &child), ZOK,
             "create2 base/a");
    check_int(child.dataLength, 0, "base/a stat.dataLength");
    check_rc(zoo_exists(zh, base, 0, &stat), ZOK, "exists base with a child");
    check_int(stat.numChildren, 1, "parent stat.numChildren");
    check_int(stat.cversion, 1, "parent stat.cversion");
    check_int(stat.pzxid, child.czxid, "parent stat.pzxid (== child czxid)");
    check_int(stat.version, 1, "parent stat.version (unchanged)");
    check_int(stat.mzxid, set.mzxid, "parent stat.mzxid (unchanged)");

    struct String_vector children;
    check_rc(zoo_get_children2(zh, base, 0, &children, &stat), ZOK, "get_children2 base");
    check_str(joined(&children), "a", "children of base");
    deallocate_String_vector(&children);
    check_int(stat.numChildren, 1, "get_children2 stat.numChildren");
    check_rc(zoo_delete(zh, base, -1), ZNOTEMPTY, "delete base with a child");

    const char *missing = P("%s/missing", base);
    len = sizeof buf;
    check_rc(zoo_get(zh, missing, 0, buf, &len, &stat), ZNONODE, "get missing");
    check_rc(zoo_exists(zh, missing, 0, &stat), ZNONODE, "exists missing");
    check_rc(zoo_set(zh, missing, "x", 1, -1), ZNONODE, "set missing");
    check_rc(zoo_delete(zh, missing, -1), ZNONODE, "delete missing");
    check_rc(zoo_get_children2(zh, missing, 0, &children, &stat), ZNONODE, "get_children2 missing");
    check_rc(create(zh, P("%s/x", missing), "x", 0), ZNONODE, "create under missing parent");

    /* NULL data (length -1) comes back as length -1, an empty value as length 0. */
    const char *null_node = P("%s/null", base), *empty_node = P("%s/empty", base);
    check_rc(create(zh, null_node, NULL, 0), ZOK, "create base/null with NULL data");
    len = sizeof buf;
    check_rc(zoo_get(zh, null_node, 0, buf, &len, &stat), ZOK, "get base/null");
    check_int(len, -1, "base/null data length");
    check_int(stat.dataLength, 0, "base/null stat.dataLength");
    check_rc(create(zh, empty_node, "", 0), ZOK, "create base/empty with empty data");
    len = sizeof buf;
    check_rc(zoo_get(zh, empty_node, 0, buf, &len, &stat), ZOK, "get base/empty");
    check_int(len, 0, "base/empty data length");

    check_rc(zoo_delete(zh, a, 5), ZBADVERSION, "delete base/a version 5");
    check_rc(zoo_delete(zh, a, 0), ZOK, "delete base/a version 0");
    check_rc(zoo_delete(zh, null_node, -1), ZOK, "delete base/null");
    check_rc(zoo_delete(zh, empty_node, -1), ZOK, "delete base/empty");
    check_rc(zoo_exists(zh, base, 0, &stat), ZOK, "exists base after deleting children");
    check_int(stat.numChildren, 0, "parent stat.numChildren");
    check_int(stat.cversion, 6, "parent stat.cversion (3 creates, 3 deletes)");
    check_true(stat.pzxid > child.czxid, "parent stat.pzxid moved past the first child");
    check_rc(zoo_delete(zh, base, 0), ZBADVERSION, "delete base version 0");
    check_rc(zoo_delete(zh, base, 1), ZOK, "delete base version 1");
    check_rc(zoo_exists(zh, base, 0, &stat), ZNONODE, "exists deleted base");
    close_handle(zh, "close");
}

static void scenario_sequential(void)
{
    struct watch_log log, log2, eph_watch;
    zhandle_t *zh = connect_new(&log);
    int64_t session = zoo_client_id(zh)->client_id;
    struct Stat stat;
    char path[256];

    check_true(session != 0, "zoo_client_id is not 0");
    check_rc(create(zh, base, NULL, 0), ZOK, "create base");
    const char *s = P("%s/s-", base), *e = P("%s/e-", base);

    check_rc(zoo_create(zh, s, "1", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT_SEQUENTIAL, path,
                        sizeof path),
             ZOK, "create persistent sequential");
    check_true(is_seq_path(path, s, 0), S("sequential path %s is s-0000000000", path));
    check_rc(zoo_create(zh, s, "2", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT_SEQUENTIAL, path,
                        sizeof path),
             ZOK, "create persistent sequential again");
    check_true(is_seq_path(path, s, 1), S("sequential path %s is s-0000000001", path));
    check_rc(zoo_exists(zh, path, 0, &stat), ZOK, "exists s-0000000001");
    check_int(stat.ephemeralOwner, 0, "persistent stat.ephemeralOwner");

    check_rc(zoo_create(zh, e, "3", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL_SEQUENTIAL, path,
                        sizeof path),
             ZOK, "create ephemeral sequential");
    check_true(is_seq_path(path, e, 2), S("sequential path %s is e-0000000002", path));
    char eph_seq[256];
    snprintf(eph_seq, sizeof eph_seq, "%s", path);
    check_rc(zoo_exists(zh, eph_seq, 0, &stat), ZOK, "exists e-0000000002");
    check_int(stat.ephemeralOwner, session, "ephemeral sequential stat.ephemeralOwner");

    const char *eph = P("%s/eph", base);
    check_rc(zoo_create(zh, eph, "4", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, path, sizeof path),
             ZOK, "create ephemeral");
    check_str(path, eph, "ephemeral path");
    check_rc(zoo_exists(zh, eph, 0, &stat), ZOK, "exists ephemeral");
    check_int(stat.ephemeralOwner, session, "ephemeral stat.ephemeralOwner (== zoo_client_id)");
    check_rc(create(zh, P("%s/child", eph), "x", 0), ZNOCHILDRENFOREPHEMERALS,
             "create child of ephemeral");

    zhandle_t *zh2 = connect_new(&log2);
    check_true(zoo_client_id(zh2)->client_id != session, "second handle has its own session");
    log_init(&eph_watch);
    check_rc(zoo_wexists(zh2, eph, watcher, &eph_watch, &stat), ZOK,
             "second handle: wexists ephemeral");
    check_int(stat.ephemeralOwner, session, "second handle: ephemeral owner is the first session");

    close_handle(zh, "close first handle");
    /* zookeeper_close returns once the server answered closeSession, ephemerals gone by then. */
    check_rc(zoo_exists(zh2, eph, 0, &stat), ZNONODE, "second handle: ephemeral after close");
    check_rc(zoo_exists(zh2, eph_seq, 0, &stat), ZNONODE,
             "second handle: ephemeral sequential after close");
    expect_event(&eph_watch, 0, ZOO_DELETED_EVENT, eph, "exists watch on the ephemeral");

    struct String_vector children;
    check_rc(zoo_get_children2(zh2, base, 0, &children, &stat), ZOK, "get_children2 base");
    check_str(joined(&children), "s-0000000000,s-0000000001", "children left");
    deallocate_String_vector(&children);
    check_int(stat.numChildren, 2, "base stat.numChildren");
    check_int(stat.cversion, 6, "base stat.cversion (4 creates, 2 deletes)");
    close_handle(zh2, "close second handle");
}

static void scenario_watches(void)
{
    struct watch_log log, log2, w_data, w_child, w_data2, w_exists, w_get_new, w_exists_new,
        w_child2;
    zhandle_t *zh = connect_new(&log);
    zhandle_t *writer = connect_new(&log2);
    struct Stat stat;
    struct String_vector children;
    char buf[64];
    int len;

    check_rc(create(writer, base, "v0", 0), ZOK, "create base");

    log_init(&w_data);
    len = sizeof buf;
    check_rc(zoo_wget(zh, base, watcher, &w_data, buf, &len, &stat), ZOK, "wget base");
    check_rc(zoo_set(writer, base, "v1", 2, -1), ZOK, "writer: set base");
    expect_event(&w_data, 0, ZOO_CHANGED_EVENT, base, "data watch");
    check_rc(zoo_set(writer, base, "v2", 2, -1), ZOK, "writer: set base again");
    expect_quiet(&w_data, 1, "data watch fires once");

    log_init(&w_child);
    log_init(&w_data2);
    check_rc(zoo_wget_children2(zh, base, watcher, &w_child, &children, &stat), ZOK,
             "wget_children2 base");
    check_int(children.count, 0, "children of base");
    deallocate_String_vector(&children);
    len = sizeof buf;
    check_rc(zoo_wget(zh, base, watcher, &w_data2, buf, &len, &stat), ZOK, "wget base again");
    const char *c = P("%s/c", base);
    check_rc(create(writer, c, "c", 0), ZOK, "writer: create base/c");
    expect_event(&w_child, 0, ZOO_CHILD_EVENT, base, "child watch");

    const char *node = P("%s/new", base);
    log_init(&w_exists);
    check_rc(zoo_wexists(zh, node, watcher, &w_exists, &stat), ZNONODE, "wexists base/new");
    check_rc(create(writer, node, "n", 0), ZOK, "writer: create base/new");
    expect_event(&w_exists, 0, ZOO_CREATED_EVENT, node, "exists watch");

    log_init(&w_get_new);
    log_init(&w_exists_new);
    log_init(&w_child2);
    len = sizeof buf;
    check_rc(zoo_wget(zh, node, watcher, &w_get_new, buf, &len, &stat), ZOK, "wget base/new");
    check_rc(zoo_wexists(zh, node, watcher, &w_exists_new, &stat), ZOK, "wexists base/new");
    check_rc(zoo_wget_children2(zh, base, watcher, &w_child2, &children, &stat), ZOK,
             "wget_children2 base again");
    check_str(joined(&children), "c,new", "children of base");
    deallocate_String_vector(&children);
    check_rc(zoo_delete(writer, node, 0), ZOK, "writer: delete base/new");
    expect_event(&w_get_new, 0, ZOO_DELETED_EVENT, node, "data watch on deletion");
    expect_event(&w_exists_new, 0, ZOO_DELETED_EVENT, node, "exists watch on deletion");
    expect_event(&w_child2, 0, ZOO_CHILD_EVENT, base, "child watch on deletion");

    /* The data watch set beside the child watch was not fired by the child changes. */
    check_rc(zoo_set(writer, base, "v3", 2, -1), ZOK, "writer: set base");
    expect_event(&w_data2, 0, ZOO_CHANGED_EVENT, base, "second data watch");

    /* watch=1 leaves the watch for the handle's own watcher. */
    check_rc(zoo_exists(zh, c, 1, &stat), ZOK, "exists base/c with the default watcher");
    check_rc(zoo_set(writer, c, "c2", 2, 0), ZOK, "writer: set base/c");
    expect_event(&log, 0, ZOO_CHANGED_EVENT, c, "default watcher");

    expect_quiet(&w_data2, 1, "second data watch");
    expect_quiet(&w_child, 1, "child watch");
    expect_quiet(&w_exists, 1, "exists watch");
    expect_quiet(&w_get_new, 1, "data watch on deletion");
    expect_quiet(&w_exists_new, 1, "exists watch on deletion");
    expect_quiet(&w_child2, 1, "child watch on deletion");
    expect_quiet(&log, 1, "default watcher");
    expect_quiet(&log2, 0, "writer's watcher");
    close_handle(writer, "close writer");
    close_handle(zh, "close");
}

static void scenario_multi(void)
{
    struct watch_log log;
    zhandle_t *zh = connect_new(&log);
    zoo_op_t ops[5];
    zoo_op_result_t results[5];
    struct Stat set_stat, stat;
    char created[256], buf[64];
    int len;

    check_rc(create(zh, base, NULL, 0), ZOK, "create base");
    const char *m = P("%s/m", base), *gone = P("%s/gone", base), *f = P("%s/f", base);

    zoo_create_op_init(&ops[0], m, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, created, sizeof created);
    zoo_set_op_init(&ops[1], m, "yy", 2, 0, &set_stat);
    zoo_check_op_init(&ops[2], m, 1);
    zoo_create_op_init(&ops[3], gone, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    zoo_delete_op_init(&ops[4], gone, 0);
    memset(results, 0x7f, sizeof results);
    check_rc(zoo_multi(zh, 5, ops, results), ZOK, "multi create+set+check+create+delete");
    for (int i = 0; i < 5; i++)
        check_rc(results[i].err, ZOK, S("multi result %d", i));
    check_str(created, m, "multi create path");
    check_int(set_stat.version, 1, "multi set stat.version");
    check_int(set_stat.dataLength, 2, "multi set stat.dataLength");
    /* All ops of a multi share one zxid. */
    check_int(set_stat.mzxid, set_stat.czxid, "multi set stat.mzxid (== czxid)");
    len = sizeof buf;
    check_rc(zoo_get(zh, m, 0, buf, &len, &stat), ZOK, "get base/m");
    check_data(buf, len, "yy", "base/m data");
    check_int(stat.version, 1, "base/m stat.version");
    check_rc(zoo_exists(zh, gone, 0, &stat), ZNONODE, "exists base/gone");
    check_rc(zoo_exists(zh, base, 0, &stat), ZOK, "exists base");
    check_int(stat.cversion, 3, "base stat.cversion (2 creates, 1 delete)");
    check_int(stat.pzxid, set_stat.czxid, "base stat.pzxid (the multi's zxid)");

    /* A failing check: the ops before it are rolled back and reported ZOK, the ones after it
     * ZRUNTIMEINCONSISTENCY; zoo_multi returns the failing op's error. */
    zoo_create_op_init(&ops[0], f, "f", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    zoo_set_op_init(&ops[1], m, "zz", 2, -1, NULL);
    zoo_check_op_init(&ops[2], m, 5);
    zoo_delete_op_init(&ops[3], m, -1);
    memset(results, 0x7f, sizeof results);
    check_rc(zoo_multi(zh, 4, ops, results), ZBADVERSION, "multi with a wrong check version");
    check_rc(results[0].err, ZOK, "failed multi result 0 (create)");
    check_rc(results[1].err, ZOK, "failed multi result 1 (set)");
    check_rc(results[2].err, ZBADVERSION, "failed multi result 2 (check)");
    check_rc(results[3].err, ZRUNTIMEINCONSISTENCY, "failed multi result 3 (delete)");
    check_rc(zoo_exists(zh, f, 0, &stat), ZNONODE, "exists base/f (create rolled back)");
    len = sizeof buf;
    check_rc(zoo_get(zh, m, 0, buf, &len, &stat), ZOK, "get base/m (not deleted)");
    check_data(buf, len, "yy", "base/m data (set rolled back)");
    check_int(stat.version, 1, "base/m stat.version");

    /* The first op failing: every later op is ZRUNTIMEINCONSISTENCY. */
    zoo_create_op_init(&ops[0], m, "again", 5, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    zoo_delete_op_init(&ops[1], m, 1);
    memset(results, 0x7f, sizeof results);
    check_rc(zoo_multi(zh, 2, ops, results), ZNODEEXISTS, "multi creating an existing node");
    check_rc(results[0].err, ZNODEEXISTS, "failed multi result 0 (create)");
    check_rc(results[1].err, ZRUNTIMEINCONSISTENCY, "failed multi result 1 (delete)");
    check_rc(zoo_exists(zh, m, 0, &stat), ZOK, "exists base/m (delete not applied)");
    check_rc(zoo_exists(zh, base, 0, &stat), ZOK, "exists base");
    check_int(stat.cversion, 3, "base stat.cversion (unchanged by failed multis)");
    close_handle(zh, "close");
}

/* Entry `i` of an ACL of `count` entries. */
static void check_acl(struct ACL_vector *acl, int count, int i, int perms, const char *scheme,
                      const char *id, const char *what)
{
    check_int(acl->count, count, S("%s: ACL count", what));
    check_int(acl->data[i].perms, perms, S("%s: entry %d perms", what, i));
    check_str(acl->data[i].id.scheme, scheme, S("%s: entry %d scheme", what, i));
    check_str(acl->data[i].id.id, id, S("%s: entry %d id", what, i));
}

static void scenario_acl(void)
{
    struct watch_log log, log2, log3, log4, log5;
    zhandle_t *zh = connect_new(&log);
    struct ACL_vector acl;
    struct Stat stat;
    char buf[64];
    int len;

    check_rc(add_auth(zh, "digest", "user:pw"), ZOK, "add_auth digest user:pw");
    check_rc(zoo_create(zh, base, "secret", 6, &ZOO_CREATOR_ALL_ACL, 0, NULL, 0), ZOK,
             "create base with CREATOR_ALL_ACL");
    check_rc(zoo_get_acl(zh, base, &acl, &stat), ZOK, "owner: get_acl base");
    check_acl(&acl, 1, 0, ZOO_PERM_ALL, "digest", USER_DIGEST_ID, "owner: get_acl");
    deallocate_ACL_vector(&acl);
    check_int(stat.aversion, 0, "get_acl stat.aversion");
    len = sizeof buf;
    check_rc(zoo_get(zh, base, 0, buf, &len, &stat), ZOK, "owner: get base");
    check_data(buf, len, "secret", "owner: data");

    zhandle_t *other = connect_new(&log2);
    len = sizeof buf;
    check_rc(zoo_get(other, base, 0, buf, &len, &stat), ZNOAUTH, "no auth: get base");
    check_rc(zoo_set(other, base, "x", 1, -1), ZNOAUTH, "no auth: set base");
    check_rc(create(other, P("%s/c", base), "x", 0), ZNOAUTH, "no auth: create base/c");
    struct String_vector children;
    check_rc(zoo_get_children(other, base, 0, &children), ZNOAUTH, "no auth: get_children base");
    check_rc(zoo_get_acl(other, base, &acl, &stat), ZNOAUTH, "no auth: get_acl base");
    check_rc(zoo_create(other, P("%s-x", base), "x", 1, &ZOO_CREATOR_ALL_ACL, 0, NULL, 0),
             ZINVALIDACL, "no auth: create with CREATOR_ALL_ACL");

    zhandle_t *wrong = connect_new(&log3);
    check_rc(add_auth(wrong, "digest", "user:wrong"), ZOK, "add_auth digest user:wrong");
    len = sizeof buf;
    check_rc(zoo_get(wrong, base, 0, buf, &len, &stat), ZNOAUTH, "wrong password: get base");

    zhandle_t *super = connect_new(&log4);
    check_rc(add_auth(super, "digest", "super:test"), ZOK, "add_auth digest super:test");
    len = sizeof buf;
    check_rc(zoo_get(super, base, 0, buf, &len, &stat), ZOK, "super: get base");
    check_data(buf, len, "secret", "super: data");

    struct ACL entries[2] = {
        {ZOO_PERM_READ, {"world", "anyone"}},
        {ZOO_PERM_ALL, {"digest", USER_DIGEST_ID}},
    };
    struct ACL_vector read_and_owner = {2, entries};
    check_rc(zoo_set_acl(zh, base, 1, &read_and_owner), ZBADVERSION, "owner: set_acl version 1");
    check_rc(zoo_set_acl(zh, base, 0, &read_and_owner), ZOK,
             "owner: set_acl version 0 to world READ + digest ALL");
    check_rc(zoo_get_acl(zh, base, &acl, &stat), ZOK, "owner: get_acl base");
    check_acl(&acl, 2, 0, ZOO_PERM_READ, "world", "anyone", "owner: get_acl");
    check_acl(&acl, 2, 1, ZOO_PERM_ALL, "digest", USER_DIGEST_ID, "owner: get_acl");
    deallocate_ACL_vector(&acl);
    check_int(stat.aversion, 1, "get_acl stat.aversion");
    check_int(stat.version, 0, "get_acl stat.version");
    /* READ without ADMIN: the digest's hash is hidden. */
    check_rc(zoo_get_acl(other, base, &acl, &stat), ZOK, "no auth: get_acl base now");
    check_acl(&acl, 2, 0, ZOO_PERM_READ, "world", "anyone", "no auth: get_acl");
    check_acl(&acl, 2, 1, ZOO_PERM_ALL, "digest", "user:x", "no auth: get_acl");
    deallocate_ACL_vector(&acl);
    len = sizeof buf;
    check_rc(zoo_get(other, base, 0, buf, &len, &stat), ZOK, "no auth: get base now");
    check_rc(zoo_set(other, base, "x", 1, -1), ZNOAUTH, "no auth: set base");
    check_rc(zoo_set(zh, base, "mine", 4, -1), ZOK, "owner: set base");

    check_rc(zoo_set_acl(zh, base, 1, &ZOO_READ_ACL_UNSAFE), ZOK,
             "owner: set_acl version 1 to READ_ACL_UNSAFE");
    check_rc(zoo_set(zh, base, "x", 1, -1), ZNOAUTH, "owner: set a read-only node");
    check_rc(zoo_set_acl(zh, base, 2, &ZOO_OPEN_ACL_UNSAFE), ZNOAUTH,
             "owner: set_acl without ADMIN");
    /* Deleting needs DELETE on the parent (the root), not on the node. */
    check_rc(zoo_delete(other, base, -1), ZOK, "no auth: delete base");

    zhandle_t *bad = connect_new(&log5);
    check_rc(add_auth(bad, "nosuchscheme", "x"), ZAUTHFAILED, "add_auth with an unknown scheme");
    check_true(wait_state(&log5, ZOO_AUTH_FAILED_STATE, TIMEOUT_MS),
               S("unknown scheme: watcher saw AUTH_FAILED (states seen: %s)", states_seen(&log5)));
    check_rc(zoo_exists(bad, "/", 0, &stat), ZINVALIDSTATE, "exists after auth failed");
    zookeeper_close(bad);

    close_handle(super, "close super");
    close_handle(wrong, "close wrong password");
    close_handle(other, "close no auth");
    close_handle(zh, "close owner");
}

/* Each async call's completion appends to one log; the tag is the call's submission order. */
struct completion {
    int tag;
    int rc;
    char value[256];
    int value_len;
    struct Stat stat;
    int nchildren;
    char children[256];
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    struct completion c[32];
} done_log = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {{0}}};

static int tags[32];

static struct completion *record_start(const void *data, int rc)
{
    pthread_mutex_lock(&done_log.mu);
    struct completion *c = &done_log.c[done_log.n < 32 ? done_log.n : 31];
    memset(c, 0, sizeof *c);
    c->tag = *(const int *)data;
    c->rc = rc;
    c->value_len = -2;
    return c;
}

static void record_end(void)
{
    if (done_log.n < 32)
        done_log.n++;
    pthread_cond_broadcast(&done_log.cv);
    pthread_mutex_unlock(&done_log.mu);
}

static void on_string(int rc, const char *value, const void *data)
{
    struct completion *c = record_start(data, rc);
    if (value)
        snprintf(c->value, sizeof c->value, "%s", value);
    record_end();
}

static void on_data(int rc, const char *value, int value_len, const struct Stat *stat,
                    const void *data)
{
    struct completion *c = record_start(data, rc);
    c->value_len = value_len;
    if (value && value_len > 0)
        snprintf(c->value, sizeof c->value, "%.*s", value_len, value);
    if (stat)
        c->stat = *stat;
    record_end();
}

static void on_stat(int rc, const struct Stat *stat, const void *data)
{
    struct completion *c = record_start(data, rc);
    if (stat)
        c->stat = *stat;
    record_end();
}

static void on_void(int rc, const void *data)
{
    record_start(data, rc);
    record_end();
}

static void on_children(int rc, const struct String_vector *strings, const struct Stat *stat,
                        const void *data)
{
    struct completion *c = record_start(data, rc);
    if (strings) {
        struct String_vector copy = *strings;
        char *names[16];
        copy.count = strings->count < 16 ? strings->count : 16;
        memcpy(names, strings->data, copy.count * sizeof names[0]);
        copy.data = names;
        c->nchildren = strings->count;
        snprintf(c->children, sizeof c->children, "%s", joined(&copy));
    }
    if (stat)
        c->stat = *stat;
    record_end();
}

static struct completion *completion_at(int i)
{
    struct timespec until = deadline_in(TIMEOUT_MS);
    pthread_mutex_lock(&done_log.mu);
    while (done_log.n <= i && pthread_cond_timedwait(&done_log.cv, &done_log.mu, &until) != ETIMEDOUT)
        ;
    int got = done_log.n > i;
    pthread_mutex_unlock(&done_log.mu);
    if (!got)
        fail("completion %d did not arrive within %d ms (%d arrived)", i, TIMEOUT_MS, done_log.n);
    struct completion *c = &done_log.c[i];
    if (c->tag != i)
        fail("completion %d out of order: it belongs to call %d", i, c->tag);
    return c;
}

static void scenario_async(void)
{
    struct watch_log log;
    zhandle_t *zh = connect_new(&log);
    struct Stat stat;
    const char *node[3];
    int n = 0;

    for (int i = 0; i < 32; i++)
        tags[i] = i;
    check_rc(create(zh, base, NULL, 0), ZOK, "create base");
    for (int i = 0; i < 3; i++)
        node[i] = P("%s/a%d", base, i);
    const char *seq = P("%s/s-", base);

    /* All in flight at once; each get is sent before the create ahead of it completed. */
    for (int i = 0; i < 3; i++) {
        const char *value = S("d%d", i);
        check_rc(zoo_acreate(zh, node[i], value, 2, &ZOO_OPEN_ACL_UNSAFE, 0, on_string,
                             &tags[n++]),
                 ZOK, S("acreate a%d submitted", i));
        check_rc(zoo_aget(zh, node[i], 0, on_data, &tags[n++]), ZOK, S("aget a%d submitted", i));
    }
    check_rc(zoo_acreate(zh, node[0], "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, on_string, &tags[n++]), ZOK,
             "acreate a0 again submitted");
    /* The sequential create goes ahead of the delete: ZooKeeper numbers it from the parent's
     * pending change, which a delete still in flight leaves without its cversion bump. */
    check_rc(zoo_acreate(zh, seq, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_SEQUENCE, on_string, &tags[n++]),
             ZOK, "acreate sequential submitted");
    check_rc(zoo_adelete(zh, node[1], 0, on_void, &tags[n++]), ZOK, "adelete a1 submitted");
    check_rc(zoo_aexists(zh, node[1], 0, on_stat, &tags[n++]), ZOK, "aexists a1 submitted");
    check_rc(zoo_aset(zh, node[2], "new", 3, 0, on_stat, &tags[n++]), ZOK, "aset a2 submitted");
    check_rc(zoo_aget_children2(zh, base, 0, on_children, &tags[n++]), ZOK,
             "aget_children2 base submitted");
    check_rc(zoo_async(zh, base, on_string, &tags[n++]), ZOK, "zoo_async (sync) submitted");

    struct completion *c;
    int i = 0;
    for (int k = 0; k < 3; k++) {
        c = completion_at(i++);
        check_rc(c->rc, ZOK, S("completion %d: acreate a%d", i - 1, k));
        check_str(c->value, node[k], S("completion %d: created path", i - 1));
        c = completion_at(i++);
        check_rc(c->rc, ZOK, S("completion %d: aget a%d", i - 1, k));
        check_int(c->value_len, 2, S("completion %d: data length", i - 1));
        check_str(c->value, S("d%d", k), S("completion %d: data", i - 1));
        check_int(c->stat.version, 0, S("completion %d: stat.version", i - 1));
    }
    c = completion_at(i++);
    check_rc(c->rc, ZNODEEXISTS, S("completion %d: acreate a0 again", i - 1));
    c = completion_at(i++);
    check_rc(c->rc, ZOK, S("completion %d: acreate sequential", i - 1));
    check_true(is_seq_path(c->value, seq, 3),
               S("completion %d: path %s is s-0000000003", i - 1, c->value));
    c = completion_at(i++);
    check_rc(c->rc, ZOK, S("completion %d: adelete a1", i - 1));
    c = completion_at(i++);
    check_rc(c->rc, ZNONODE, S("completion %d: aexists a1", i - 1));
    c = completion_at(i++);
    check_rc(c->rc, ZOK, S("completion %d: aset a2", i - 1));
    check_int(c->stat.version, 1, S("completion %d: stat.version", i - 1));
    check_int(c->stat.dataLength, 3, S("completion %d: stat.dataLength", i - 1));
    c = completion_at(i++);
    check_rc(c->rc, ZOK, S("completion %d: aget_children2 base", i - 1));
    check_str(c->children, "a0,a2,s-0000000003", S("completion %d: children", i - 1));
    check_int(c->stat.numChildren, 3, S("completion %d: stat.numChildren", i - 1));
    check_int(c->stat.cversion, 5, S("completion %d: stat.cversion", i - 1));
    c = completion_at(i++);
    check_rc(c->rc, ZOK, S("completion %d: zoo_async (sync)", i - 1));
    check_str(c->value, base, S("completion %d: sync path", i - 1));
    check_int(i, n, "completions checked");
    usleep(QUIET_MS * 1000);
    pthread_mutex_lock(&done_log.mu);
    int arrived = done_log.n;
    pthread_mutex_unlock(&done_log.mu);
    check_int(arrived, n, "no further completions");

    check_rc(zoo_exists(zh, base, 0, &stat), ZOK, "exists base");
    check_int(stat.numChildren, 3, "base stat.numChildren");
    close_handle(zh, "close");
}

/* A session outlives its connection: a forked child opens it, leaves an ephemeral and exits
 * without closing; the parent takes the session over with the child's id and password. */
static void scenario_session(void)
{
    int fds[2];
    clientid_t id;
    const char *eph = P("%s/eph", base);

    if (pipe(fds) != 0)
        fail("pipe: %s", strerror(errno));
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        fail("fork: %s", strerror(errno));
    if (child == 0) {
        struct watch_log log;
        close(fds[0]);
        zhandle_t *zh = connect_new(&log);
        check_rc(create(zh, base, NULL, 0), ZOK, "child: create base");
        check_rc(create(zh, eph, "e", ZOO_EPHEMERAL), ZOK, "child: create base/eph ephemeral");
        id = *zoo_client_id(zh);
        if (write(fds[1], &id, sizeof id) != (ssize_t)sizeof id)
            fail("child: write: %s", strerror(errno));
        fflush(stdout);
        _exit(0); /* no zookeeper_close: the session stays open */
    }
    close(fds[1]);
    ssize_t got = read(fds[0], &id, sizeof id);
    int status;
    waitpid(child, &status, 0);
    close(fds[0]);
    if (got != (ssize_t)sizeof id || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("the child did not hand over its session");

    struct watch_log bad_log, log, log2, log3;
    clientid_t bad = id;
    bad.passwd[0] ^= 1;
    zhandle_t *zh = open_handle(&bad_log, &bad, ZOO_EXPIRED_SESSION_STATE);
    pass("wrong password: session expired (states seen: %s)", states_seen(&bad_log));
    zookeeper_close(zh);

    zh = open_handle(&log, &id, ZOO_CONNECTED_STATE);
    check_int(zoo_client_id(zh)->client_id, id.client_id, "reattached session id");
    check_int(zoo_recv_timeout(zh), TIMEOUT_MS, "negotiated session timeout");
    struct Stat stat;
    check_rc(zoo_exists(zh, eph, 0, &stat), ZOK, "ephemeral still there");
    check_int(stat.ephemeralOwner, id.client_id, "ephemeral stat.ephemeralOwner");
    close_handle(zh, "close the session");

    zhandle_t *observer = connect_new(&log2);
    check_rc(zoo_exists(observer, eph, 0, &stat), ZNONODE, "ephemeral after close");
    zh = open_handle(&log3, &id, ZOO_EXPIRED_SESSION_STATE);
    pass("closed session: reattaching expires (states seen: %s)", states_seen(&log3));
    check_rc(zoo_exists(zh, eph, 0, &stat), ZINVALIDSTATE, "exists on the expired handle");
    zookeeper_close(zh);
    close_handle(observer, "close observer");
}

static const struct {
    const char *name;
    void (*run)(void);
} scenarios[] = {
    {"crud", scenario_crud},
    {"sequential", scenario_sequential},
    {"watches", scenario_watches},
    {"multi", scenario_multi},
    {"acl", scenario_acl},
    {"async", scenario_async},
    {"session", scenario_session},
};

int main(int argc, char **argv)
{
    size_t count = sizeof scenarios / sizeof scenarios[0];
    if (argc != 3) {
        fprintf(stderr, "usage: %s <host:port> <scenario>\nscenarios:", argv[0]);
        for (size_t i = 0; i < count; i++)
            fprintf(stderr, " %s", scenarios[i].name);
        fputc('\n', stderr);
        return 2;
    }
    host = argv[1];
    scenario = argv[2];
    setvbuf(stdout, NULL, _IOLBF, 0);
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
    /* A fresh base path per run, so reruns against one server do not collide. */
    snprintf(base, sizeof base, "/zkcheck-%s-%d", scenario, (int)getpid());
    for (size_t i = 0; i < count; i++) {
        if (strcmp(scenarios[i].name, scenario) == 0) {
            scenarios[i].run();
            printf("PASS [%s] %d checks\n", scenario, checks);
            return 0;
        }
    }
    fprintf(stderr, "unknown scenario: %s\n", scenario);
    return 2;
}
