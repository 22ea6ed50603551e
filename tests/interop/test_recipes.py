"""kazoo recipes with three clients each: they must behave (mutual exclusion really holds, counts add
up, every queued item comes out once)."""

import threading
import time

from kazoo.recipe.cache import TreeCache, TreeEvent

from zkserver import wait_until

CLIENTS = 3
ROUNDS = 20


def run_threads(targets):
    """Runs each callable in its own thread; re-raises the first failure."""
    errors = []

    def wrap(target):
        try:
            target()
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            errors.append(error)

    threads = [threading.Thread(target=wrap, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), "a recipe thread hung"
    if errors:
        raise errors[0]


def test_lock_gives_mutual_exclusion(clients, base):
    zks = [clients.kazoo() for _ in range(CLIENTS)]
    counter_path = zks[0].create(f"{base}/counter", b"0")
    holders = []
    overlaps = []

    def worker(zk, name):
        lock = zk.Lock(f"{base}/lock", name)
        for _ in range(ROUNDS):
            with lock:
                holders.append(name)
                if len(holders) > 1:
                    overlaps.append(list(holders))
                value = int(zk.get(counter_path)[0])
                zk.set(counter_path, str(value + 1).encode())  # unsafe without the lock
                holders.remove(name)

    run_threads([lambda zk=zk, i=i: worker(zk, f"c{i}") for i, zk in enumerate(zks)])
    assert overlaps == []
    assert zks[0].get(counter_path)[0] == str(CLIENTS * ROUNDS).encode()
    assert zks[0].get_children(f"{base}/lock") == []


def test_counter(clients, base):
    zks = [clients.kazoo() for _ in range(CLIENTS)]

    def worker(zk):
        counter = zk.Counter(f"{base}/count")
        for _ in range(ROUNDS):
            counter += 1

    run_threads([lambda zk=zk: worker(zk) for zk in zks])
    assert zks[0].Counter(f"{base}/count").value == CLIENTS * ROUNDS


def test_election_one_leader_at_a_time(clients, base):
    zks = [clients.kazoo() for _ in range(CLIENTS)]
    leaders = []
    active = []
    overlaps = []

    def lead(name):
        active.append(name)
        if len(active) > 1:
            overlaps.append(list(active))
        leaders.append(name)
        time.sleep(0.05)
        active.remove(name)

    def contend(zk, name):
        zk.Election(f"{base}/election", name).run(lead, name)

    run_threads([lambda zk=zk, i=i: contend(zk, f"c{i}") for i, zk in enumerate(zks)])
    assert sorted(leaders) == ["c0", "c1", "c2"]
    assert overlaps == []


def test_election_contenders(clients, base):
    zks = [clients.kazoo() for _ in range(CLIENTS)]
    release = threading.Event()
    elected = threading.Event()

    def lead():
        elected.set()
        release.wait(20)

    threads = []
    for i, zk in enumerate(zks):
        thread = threading.Thread(target=zk.Election(f"{base}/el", f"id{i}").run, args=(lead,))
        thread.start()
        threads.append(thread)
    try:
        assert elected.wait(10)
        observer = clients.kazoo().Election(f"{base}/el")
        wait_until(lambda: len(observer.contenders()) == CLIENTS, timeout=10, message="all contenders")
        assert sorted(observer.contenders()) == ["id0", "id1", "id2"]
    finally:
        release.set()
        for thread in threads:
            thread.join(30)


def test_barrier(clients, base):
    zks = [clients.kazoo() for _ in range(CLIENTS)]
    zks[0].Barrier(f"{base}/barrier").create()
    passed = []

    def waiter(zk, name):
        assert zk.Barrier(f"{base}/barrier").wait(20) is True
        passed.append(name)

    threads = [threading.Thread(target=waiter, args=(zk, f"w{i}")) for i, zk in enumerate(zks[1:])]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    assert passed == []  # still held
    zks[0].Barrier(f"{base}/barrier").remove()
    for thread in threads:
        thread.join(20)
    assert sorted(passed) == ["w0", "w1"]


def test_double_barrier(clients, base):
    zks = [clients.kazoo() for _ in range(CLIENTS)]
    inside = []
    seen_inside = []

    def member(zk, name):
        barrier = zk.DoubleBarrier(f"{base}/double", CLIENTS, identifier=name)
        barrier.enter()
        inside.append(name)
        seen_inside.append(len(zk.get_children(f"{base}/double")))
        barrier.leave()

    run_threads([lambda zk=zk, i=i: member(zk, f"m{i}") for i, zk in enumerate(zks)])
    assert sorted(inside) == ["m0", "m1", "m2"]
    # Nobody got through enter() before all three had arrived.
    assert all(count >= CLIENTS for count in seen_inside)
    assert zks[0].get_children(f"{base}/double") == []


def test_queue_hands_out_each_item_once(clients, base):
    zks = [clients.kazoo() for _ in range(CLIENTS)]
    producer = zks[0].Queue(f"{base}/queue")
    items = [f"item-{k}".encode() for k in range(30)]
    for k, item in enumerate(items):
        producer.put(item, priority=k % 3)
    taken = [[] for _ in zks]

    def consumer(zk, out):
        queue = zk.Queue(f"{base}/queue")
        while True:
            item = queue.get()
            if item is None:
                return
            out.append(item)

    run_threads([lambda zk=zk, out=out: consumer(zk, out) for zk, out in zip(zks, taken)])
    everything = [item for out in taken for item in out]
    assert sorted(everything) == sorted(items)
    assert len(producer) == 0


def test_locking_queue(clients, base):
    zks = [clients.kazoo() for _ in range(CLIENTS)]
    producer = zks[0].LockingQueue(f"{base}/lq")
    for k in range(15):
        producer.put(f"job-{k}".encode())
    done = [[] for _ in zks]

    def worker(zk, out):
        queue = zk.LockingQueue(f"{base}/lq")
        while True:
            item = queue.get(timeout=0.5)
            if item is None:
                return
            out.append(item)
            assert queue.consume() is True

    run_threads([lambda zk=zk, out=out: worker(zk, out) for zk, out in zip(zks, done)])
    everything = [item for out in done for item in out]
    assert sorted(everything) == sorted(f"job-{k}".encode() for k in range(15))
    assert len(producer) == 0


def test_party(clients, base):
    zks = [clients.kazoo() for _ in range(CLIENTS)]
    parties = [zk.Party(f"{base}/party", f"member-{i}") for i, zk in enumerate(zks)]
    for party in parties:
        party.join()
    assert len(parties[0]) == CLIENTS
    assert sorted(parties[1]) == ["member-0", "member-1", "member-2"]
    parties[2].leave()
    assert sorted(parties[0]) == ["member-0", "member-1"]
    shallow = zks[0].ShallowParty(f"{base}/shallow", "s0")
    shallow.join()
    assert list(zks[1].ShallowParty(f"{base}/shallow")) == ["s0"]


def test_tree_cache_sees_events(clients, base):
    zks = [clients.kazoo() for _ in range(CLIENTS)]
    root = zks[0].create(f"{base}/tc")
    cache = TreeCache(zks[0], root)
    events = []
    cache.listen(lambda event: events.append((event.event_type, event.event_data.path if event.event_data else None)))
    cache.start()
    try:
        wait_until(lambda: any(t == TreeEvent.INITIALIZED for t, _ in events), timeout=10, message="cache init")
        # One change at a time: a cache can only report a node once it watches the parent's
        # children, so a child created and deleted before the cache lists its parent is never
        # seen, on any server.
        steps = [
            (lambda: zks[1].create(f"{root}/a", b"1"), (TreeEvent.NODE_ADDED, f"{root}/a")),
            (lambda: zks[2].create(f"{root}/a/b", b"2"), (TreeEvent.NODE_ADDED, f"{root}/a/b")),
            (lambda: zks[1].set(f"{root}/a", b"3"), (TreeEvent.NODE_UPDATED, f"{root}/a")),
            (lambda: zks[2].delete(f"{root}/a/b"), (TreeEvent.NODE_REMOVED, f"{root}/a/b")),
        ]
        for change, expected in steps:
            change()
            wait_until(lambda: expected in events, timeout=10, message=f"tree cache event {expected}")
        assert cache.get_data(f"{root}/a").data == b"3"
        assert cache.get_children(root) == frozenset({"a"})
        assert cache.get_data(f"{root}/a/b") is None
    finally:
        cache.close()
