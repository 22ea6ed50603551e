"""Watches: standard one-shot watches through kazoo, persistent and recursive ones through raw frames
(client-protocol.md §11, §7.19–§7.21)."""

import queue

from kazoo.protocol.states import EventType

import jute


class Recorder:
    """A kazoo watcher that queues (type, path) pairs."""

    def __init__(self):
        self.events = queue.Queue()

    def __call__(self, event):
        self.events.put((event.type, event.path))

    def next(self, timeout=5.0):
        return self.events.get(timeout=timeout)

    def quiet_for(self, seconds):
        try:
            event = self.events.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected event {event}")


def test_data_watch_is_one_shot(zk, clients, base):
    other = clients.kazoo()
    path = zk.create(f"{base}/d", b"0")
    watch = Recorder()
    zk.get(path, watch=watch)
    other.set(path, b"1")
    assert watch.next() == (EventType.CHANGED, path)
    other.set(path, b"2")
    zk.sync(path)
    assert watch.quiet_for(0.3)


def test_exists_watch_on_missing_node_fires_created(zk, clients, base):
    other = clients.kazoo()
    watch = Recorder()
    assert zk.exists(f"{base}/later", watch=watch) is None
    other.create(f"{base}/later")
    assert watch.next() == (EventType.CREATED, f"{base}/later")
    other.delete(f"{base}/later")
    assert watch.quiet_for(0.3)


def test_exists_watch_on_existing_node_fires_deleted(zk, clients, base):
    path = zk.create(f"{base}/x")
    watch = Recorder()
    zk.exists(path, watch=watch)
    clients.kazoo().delete(path)
    assert watch.next() == (EventType.DELETED, path)


def test_child_watch(zk, clients, base):
    other = clients.kazoo()
    watch = Recorder()
    assert zk.get_children(base, watch=watch) == []
    other.create(f"{base}/c1")
    assert watch.next() == (EventType.CHILD, base)
    other.create(f"{base}/c2")
    assert watch.quiet_for(0.3)  # one-shot
    zk.get_children(base, watch=watch)
    other.set(f"{base}/c1", b"data")  # a child's data change is not a child event
    other.delete(f"{base}/c1")
    assert watch.next() == (EventType.CHILD, base)


def test_child_watch_sees_node_deleted(zk, clients, base):
    path = zk.create(f"{base}/p")
    watch = Recorder()
    zk.get_children(path, watch=watch)
    clients.kazoo().delete(path)
    assert watch.next() == (EventType.DELETED, path)


def test_set_acl_and_failed_writes_fire_nothing(zk, clients, base):
    path = zk.create(f"{base}/n")
    watch = Recorder()
    zk.get(path, watch=watch)
    other = clients.kazoo()
    other.set_acls(path, [*zk.get_acls(path)[0]])
    raw = clients.raw()
    assert raw.set_data(path, b"x", version=5)[0] == jute.BAD_VERSION
    assert raw.create(path)[0] == jute.NODE_EXISTS
    assert watch.quiet_for(0.3)


def test_delete_events_in_order_with_change_zxid(zk, clients, base):
    zk.create(f"{base}/c")
    watcher = clients.raw()
    assert watcher.get_data(f"{base}/c", watch=True)[0] == jute.OK
    assert watcher.get_children(base, watch=True)[0] == jute.OK
    writer = clients.raw()
    delete_reply = writer.call(jute.OP_DELETE, jute.encode_string(f"{base}/c") + jute.encode_int(-1))
    assert delete_reply.err == jute.OK
    first = watcher.wait_event()
    second = watcher.wait_event()
    assert (first.type, first.path, first.state) == (jute.NODE_DELETED, f"{base}/c", jute.SYNC_CONNECTED)
    assert (second.type, second.path) == (jute.NODE_CHILDREN_CHANGED, base)
    # 3.9+ (ZOOKEEPER-4655): the notification carries the zxid of the change.
    assert first.zxid == second.zxid == delete_reply.zxid


def test_create_events_in_order(zk, clients, base):
    watcher = clients.raw()
    assert watcher.exists(f"{base}/n", watch=True)[0] == jute.NO_NODE
    watcher.get_children(base, watch=True)
    clients.kazoo().create(f"{base}/n")
    first, second = watcher.wait_event(), watcher.wait_event()
    assert (first.type, first.path) == (jute.NODE_CREATED, f"{base}/n")
    assert (second.type, second.path) == (jute.NODE_CHILDREN_CHANGED, base)


def test_own_write_event_comes_before_the_reply(clients, base):
    raw = clients.raw()
    raw.create(f"{base}/n", b"0")
    raw.get_data(f"{base}/n", watch=True)
    raw.log.clear()
    reply = raw.call(jute.OP_SET_DATA, jute.encode_string(f"{base}/n") + jute.encode_buffer(b"1") + jute.encode_int(-1))
    assert reply.err == jute.OK
    kinds = [kind for kind, _ in raw.log]
    assert kinds == ["event", "reply"]
    assert raw.log[0][1].type == jute.NODE_DATA_CHANGED


def test_event_precedes_read_that_shows_the_change(clients, base):
    watcher = clients.raw()
    watcher.create(f"{base}/n", b"0")
    watcher.get_data(f"{base}/n", watch=True)
    clients.raw().set_data(f"{base}/n", b"1")
    watcher.log.clear()
    err, data, _ = watcher.get_data(f"{base}/n")
    assert (err, data) == (jute.OK, b"1")
    assert [kind for kind, _ in watcher.log] == ["event", "reply"]


def test_multi_fires_events_for_each_op(zk, clients, base):
    watcher = clients.raw()
    watcher.get_children(base, watch=True)
    watcher.exists(f"{base}/b", watch=True)
    ops = [(jute.OP_CREATE, jute.create_body(f"{base}/a")), (jute.OP_CREATE, jute.create_body(f"{base}/b"))]
    writer = clients.raw()
    assert writer.multi(ops)[0] == jute.OK
    events = {(e.type, e.path) for e in (watcher.wait_event(), watcher.wait_event())}
    assert events == {(jute.NODE_CHILDREN_CHANGED, base), (jute.NODE_CREATED, f"{base}/b")}


def test_persistent_watch(zk, clients, base):
    raw = clients.raw()
    node = f"{base}/p"
    assert raw.add_watch(node, jute.ADD_WATCH_PERSISTENT) == jute.OK  # on a missing path
    zk.create(node, b"0")
    zk.set(node, b"1")
    zk.set(node, b"2")
    zk.create(f"{node}/child")
    zk.set(f"{node}/child", b"x")  # a child's data: not for a non-recursive watch
    zk.delete(f"{node}/child")
    zk.delete(node)
    got = [(e.type, e.path) for e in (raw.wait_event() for _ in range(6))]
    assert got == [
        (jute.NODE_CREATED, node),
        (jute.NODE_DATA_CHANGED, node),
        (jute.NODE_DATA_CHANGED, node),
        (jute.NODE_CHILDREN_CHANGED, node),
        (jute.NODE_CHILDREN_CHANGED, node),
        (jute.NODE_DELETED, node),
    ]
    zk.create(node)  # still registered after the delete
    assert (raw.wait_event().type, raw.events) == (jute.NODE_CREATED, [])


def test_persistent_recursive_watch(zk, clients, base):
    raw = clients.raw()
    root = f"{base}/r"
    zk.create(root)
    assert raw.add_watch(root, jute.ADD_WATCH_PERSISTENT_RECURSIVE) == jute.OK
    zk.create(f"{root}/a")
    zk.create(f"{root}/a/b", b"0")
    zk.set(f"{root}/a/b", b"1")
    zk.delete(f"{root}/a/b")
    zk.create(f"{base}/outside")
    zk.set(root, b"r")
    got = [(e.type, e.path) for e in (raw.wait_event() for _ in range(5))]
    assert got == [
        (jute.NODE_CREATED, f"{root}/a"),
        (jute.NODE_CREATED, f"{root}/a/b"),
        (jute.NODE_DATA_CHANGED, f"{root}/a/b"),
        (jute.NODE_DELETED, f"{root}/a/b"),
        (jute.NODE_DATA_CHANGED, root),
    ]
    assert raw.no_event_within(0.2)  # never NodeChildrenChanged


def test_bad_add_watch_mode_is_marshalling_error(clients, base):
    assert clients.raw().add_watch(base, 7) == jute.MARSHALLING_ERROR


def test_check_and_remove_watches(zk, clients, base):
    raw = clients.raw()
    node = zk.create(f"{base}/w")
    assert raw.check_watches(node, jute.WATCHER_DATA) == jute.NO_WATCHER
    assert raw.check_watches(node, jute.WATCHER_ANY) == jute.NO_WATCHER
    raw.get_data(node, watch=True)
    raw.get_children(node, watch=True)
    assert raw.check_watches(node, jute.WATCHER_DATA) == jute.OK
    assert raw.check_watches(node, jute.WATCHER_CHILDREN) == jute.OK
    assert raw.check_watches(node, jute.WATCHER_PERSISTENT) == jute.NO_WATCHER
    assert raw.check_watches(node, jute.WATCHER_DATA) == jute.OK  # checking removes nothing
    assert raw.remove_watches(node, jute.WATCHER_DATA) == jute.OK
    assert raw.remove_watches(node, jute.WATCHER_DATA) == jute.NO_WATCHER
    assert raw.check_watches(node, jute.WATCHER_CHILDREN) == jute.OK
    zk.set(node, b"x")  # the data watch is gone: no event
    zk.create(f"{node}/c")  # the child watch fires
    event = raw.wait_event()
    assert (event.type, event.path) == (jute.NODE_CHILDREN_CHANGED, node)
    assert raw.events == []


def test_remove_persistent_watches_by_type(zk, clients, base):
    raw = clients.raw()
    node = f"{base}/pw"
    assert raw.add_watch(node, jute.ADD_WATCH_PERSISTENT) == jute.OK
    assert raw.add_watch(base, jute.ADD_WATCH_PERSISTENT_RECURSIVE) == jute.OK
    assert raw.check_watches(node, jute.WATCHER_PERSISTENT) == jute.OK
    assert raw.check_watches(node, jute.WATCHER_PERSISTENT_RECURSIVE) == jute.NO_WATCHER
    assert raw.check_watches(base, jute.WATCHER_PERSISTENT_RECURSIVE) == jute.OK
    assert raw.remove_watches(node, jute.WATCHER_PERSISTENT) == jute.OK
    assert raw.remove_watches(node, jute.WATCHER_PERSISTENT) == jute.NO_WATCHER
    assert raw.remove_watches(base, jute.WATCHER_ANY) == jute.OK
    assert raw.check_watches(base, jute.WATCHER_ANY) == jute.NO_WATCHER
    zk.create(node)
    assert raw.no_event_within(0.3)


def test_several_modes_on_one_path_give_one_event(zk, clients, base):
    """3.9+ (ZOOKEEPER-4466): modes coexist; still one notification per table per trigger."""
    raw = clients.raw()
    node = zk.create(f"{base}/m")
    raw.get_data(node, watch=True)
    raw.add_watch(node, jute.ADD_WATCH_PERSISTENT)
    zk.set(node, b"1")
    assert (raw.wait_event().type, raw.no_event_within(0.2)) == (jute.NODE_DATA_CHANGED, True)
    assert raw.check_watches(node, jute.WATCHER_DATA) == jute.NO_WATCHER  # the standard one is used up
    zk.set(node, b"2")
    assert raw.wait_event().type == jute.NODE_DATA_CHANGED  # the persistent one stays


def set_watches_body(relative_zxid, data=(), exist=(), child=()):
    return (
        jute.encode_long(relative_zxid)
        + jute.encode_strings(list(data))
        + jute.encode_strings(list(exist))
        + jute.encode_strings(list(child))
    )


def test_set_watches_fires_missed_events_before_its_reply(zk, clients, base):
    """What a Java/C client sends after reconnecting (§7.19): missed changes fire at once."""
    zk.create(f"{base}/changed", b"0")
    zk.create(f"{base}/same", b"0")
    zk.create(f"{base}/kids")
    raw = clients.raw()
    relative = raw.exists(base)[1].pzxid
    relative = max(relative, zk.exists(f"{base}/kids").czxid)
    zk.set(f"{base}/changed", b"1")
    zk.create(f"{base}/born")
    zk.create(f"{base}/kids/k")
    raw.log.clear()
    body = set_watches_body(
        relative,
        data=[f"{base}/changed", f"{base}/same", f"{base}/gone"],
        exist=[f"{base}/born", f"{base}/unborn"],
        child=[f"{base}/kids"],
    )
    reply = raw.call(101, body, xid=-8)
    assert (reply.xid, reply.err) == (-8, jute.OK)
    fired = [frame for kind, frame in raw.log if kind == "event"]
    assert raw.log[-1][0] == "reply"  # every event came before the reply
    assert {(e.type, e.path) for e in fired} == {
        (jute.NODE_DATA_CHANGED, f"{base}/changed"),
        (jute.NODE_DELETED, f"{base}/gone"),
        (jute.NODE_CREATED, f"{base}/born"),
        (jute.NODE_CHILDREN_CHANGED, f"{base}/kids"),
    }
    assert all(e.zxid == -1 for e in fired)
    raw.events.clear()
    # The ones that did not fire are registered now.
    zk.set(f"{base}/same", b"1")
    zk.create(f"{base}/unborn")
    got = {(e.type, e.path) for e in (raw.wait_event(), raw.wait_event())}
    assert got == {(jute.NODE_DATA_CHANGED, f"{base}/same"), (jute.NODE_CREATED, f"{base}/unborn")}
    # The fired ones were not registered (one-shot).
    zk.set(f"{base}/changed", b"2")
    assert raw.no_event_within(0.2)


def test_notifications_need_read_permission(zk, clients, base):
    """3.8.4+/3.9.2+ (CVE-2024-23944): no READ on the node, no event; the standard watch is used up."""
    from kazoo.security import make_acl

    node = zk.create(f"{base}/private", b"0")
    raw = clients.raw()
    raw.get_data(node, watch=True)
    raw.add_watch(base, jute.ADD_WATCH_PERSISTENT_RECURSIVE)
    zk.set_acls(node, [make_acl("world", "anyone", write=True, admin=True)])
    zk.set(node, b"1")
    zk.create(f"{base}/public")
    event = raw.wait_event()
    assert (event.type, event.path) == (jute.NODE_CREATED, f"{base}/public")
    assert raw.no_event_within(0.2)
    assert raw.check_watches(node, jute.WATCHER_DATA) == jute.NO_WATCHER
