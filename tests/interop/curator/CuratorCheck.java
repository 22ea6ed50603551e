import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.api.transaction.OperationType;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.framework.recipes.queue.DistributedQueue;
import org.apache.curator.framework.recipes.queue.QueueBuilder;
import org.apache.curator.framework.recipes.queue.QueueConsumer;
import org.apache.curator.framework.recipes.queue.QueueSerializer;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Stat;

/**
 * Apache Curator against a server: {@code CuratorCheck <connect-string> <scenario>} runs one
 * scenario, prints what it checked, and exits non-zero (with the reason) at the first check
 * that does not hold. Every scenario works under its own root so that they can share a server.
 */
public final class CuratorCheck {
    private static final long WAIT_S = 15;

    private final String connect;
    private final String root;
    private final List<CuratorFramework> clients = new ArrayList<>();

    private CuratorCheck(String connect, String scenario) {
        this.connect = connect;
        this.root = "/curator-" + scenario + "-" + System.nanoTime();
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: CuratorCheck <connect-string> <scenario>");
            System.exit(2);
        }
        CuratorCheck check = new CuratorCheck(args[0], args[1]);
        try {
            check.run(args[1]);
            System.out.println("OK " + args[1]);
        } catch (CheckFailed failed) {
            System.err.println("FAILED " + args[1] + ": " + failed.getMessage());
            System.exit(1);
        } finally {
            check.closeAll();
        }
        System.exit(0);
    }

    private void run(String scenario) throws Exception {
        switch (scenario) {
            case "crud": crud(); break;
            case "transaction": transaction(); break;
            case "watchers": watchers(); break;
            case "cache": cache(); break;
            case "lock": lock(); break;
            case "leader": leader(); break;
            case "counters": counters(); break;
            case "barrier_queue": barrierAndQueue(); break;
            case "semaphore": semaphore(); break;
            case "acl": acl(); break;
            case "restart": restart(); break;
            case "tracker": tracker(); break;
            default: throw new CheckFailed("unknown scenario " + scenario);
        }
    }

    // ---- scenarios ----

    /** Paths, data, Stat versions and the errors Curator turns into exceptions. */
    private void crud() throws Exception {
        CuratorFramework c = client();
        String path = root + "/a/b/c";
        check(path.equals(c.create().creatingParentsIfNeeded().forPath(path, bytes("one"))),
                "create with parents returns the path");
        Stat stat = new Stat();
        check(text(c.getData().storingStatIn(stat).forPath(path)).equals("one"), "data read back");
        check(stat.getVersion() == 0 && stat.getDataLength() == 3, "fresh Stat: " + stat);
        Stat set = c.setData().withVersion(0).forPath(path, bytes("two"));
        check(set.getVersion() == 1 && set.getMzxid() > set.getCzxid(), "setData Stat: " + set);
        expect(KeeperException.BadVersionException.class,
                () -> c.setData().withVersion(0).forPath(path, bytes("three")));
        expect(KeeperException.NodeExistsException.class, () -> c.create().forPath(path));
        expect(KeeperException.NoNodeException.class, () -> c.getData().forPath(root + "/none"));
        expect(KeeperException.NotEmptyException.class, () -> c.delete().forPath(root + "/a"));

        Stat created = new Stat();
        c.create().storingStatIn(created).forPath(root + "/a/stat", bytes("xy"));
        check(created.getDataLength() == 2 && created.getCzxid() == created.getMzxid(),
                "create2 Stat: " + created);
        c.create().orSetData().forPath(root + "/a/stat", bytes("xyz"));
        check(text(c.getData().forPath(root + "/a/stat")).equals("xyz"), "create orSetData");

        String seq = c.create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(root + "/a/s-");
        check(seq.matches(".*/s-\\d{10}"), "sequential name " + seq);
        String protectedPath = c.create().withProtection().withMode(CreateMode.EPHEMERAL_SEQUENTIAL)
                .forPath(root + "/a/p-");
        check(protectedPath.contains("_c_") && c.checkExists().forPath(protectedPath) != null,
                "protected ephemeral sequential " + protectedPath);
        Stat ephemeral = c.checkExists().forPath(protectedPath);
        long session = c.getZookeeperClient().getZooKeeper().getSessionId();
        check(ephemeral.getEphemeralOwner() == session, "ephemeral owner is our session");

        c.create().creatingParentContainersIfNeeded().forPath(root + "/box/item");
        check(c.checkExists().forPath(root + "/box") != null, "container parent created");

        List<String> children = c.getChildren().forPath(root + "/a");
        Collections.sort(children);
        check(children.size() == 4 && children.contains("b") && children.contains("stat"),
                "children " + children);
        c.delete().guaranteed().deletingChildrenIfNeeded().forPath(root + "/a");
        check(c.checkExists().forPath(root + "/a") == null, "recursive delete");
    }

    /** Curator's transactions are multi requests: results per operation, all or nothing. */
    private void transaction() throws Exception {
        CuratorFramework c = client();
        c.create().creatingParentsIfNeeded().forPath(root + "/base", bytes("0"));
        List<CuratorTransactionResult> results = c.transaction().forOperations(
                c.transactionOp().create().forPath(root + "/base/x", bytes("x")),
                c.transactionOp().setData().withVersion(0).forPath(root + "/base", bytes("1")),
                c.transactionOp().check().withVersion(1).forPath(root + "/base"),
                c.transactionOp().delete().forPath(root + "/base/x"));
        check(results.size() == 4, "four results");
        check(results.get(0).getType() == OperationType.CREATE
                && results.get(0).getResultPath().equals(root + "/base/x"), "create result");
        check(results.get(1).getType() == OperationType.SET_DATA
                && results.get(1).getResultStat().getVersion() == 1, "setData result");
        check(results.get(2).getType() == OperationType.CHECK, "check result");
        check(results.get(3).getType() == OperationType.DELETE, "delete result");

        CuratorOp create = c.transactionOp().create().forPath(root + "/base/y");
        CuratorOp badCheck = c.transactionOp().check().withVersion(7).forPath(root + "/base");
        expect(KeeperException.BadVersionException.class,
                () -> c.transaction().forOperations(create, badCheck));
        check(c.checkExists().forPath(root + "/base/y") == null, "failed transaction applied nothing");
        check(c.checkExists().forPath(root + "/base").getVersion() == 1, "version unchanged");
    }

    /** addWatch (persistent and recursive) and removeWatches through Curator's watcher API. */
    private void watchers() throws Exception {
        CuratorFramework c = client();
        c.create().creatingParentsIfNeeded().forPath(root + "/w");
        BlockingQueue<WatchedEvent> events = new LinkedBlockingQueue<>();
        Watcher watcher = events::add;
        c.watchers().add().withMode(AddWatchMode.PERSISTENT_RECURSIVE).usingWatcher(watcher)
                .forPath(root + "/w");
        c.create().forPath(root + "/w/child");
        c.setData().forPath(root + "/w/child", bytes("v"));
        c.delete().forPath(root + "/w/child");
        expectEvent(events, Watcher.Event.EventType.NodeCreated, root + "/w/child");
        expectEvent(events, Watcher.Event.EventType.NodeDataChanged, root + "/w/child");
        expectEvent(events, Watcher.Event.EventType.NodeDeleted, root + "/w/child");

        c.watchers().remove(watcher).forPath(root + "/w");
        expectEvent(events, Watcher.Event.EventType.PersistentWatchRemoved, root + "/w");
        c.create().forPath(root + "/w/after");
        WatchedEvent late = events.poll(500, TimeUnit.MILLISECONDS);
        check(late == null, "no event after removeWatches, got " + late);
        expect(KeeperException.NoWatcherException.class,
                () -> c.watchers().remove(watcher).forPath(root + "/w"));
    }

    /** CuratorCache (persistent recursive watches in Curator 5) mirrors a subtree. */
    private void cache() throws Exception {
        CuratorFramework c = client();
        c.create().creatingParentsIfNeeded().forPath(root + "/tree/pre", bytes("p"));
        BlockingQueue<String> seen = new LinkedBlockingQueue<>();
        CountDownLatch initialized = new CountDownLatch(1);
        CuratorCache cache = CuratorCache.build(c, root + "/tree");
        cache.listenable().addListener(CuratorCacheListener.builder()
                .forCreates(node -> seen.add("create " + node.getPath() + " " + text(node.getData())))
                .forChanges((old, node) -> seen.add("change " + node.getPath() + " " + text(node.getData())))
                .forDeletes(node -> seen.add("delete " + node.getPath()))
                .forInitialized(initialized::countDown)
                .build());
        cache.start();
        try {
            check(initialized.await(WAIT_S, TimeUnit.SECONDS), "cache initialized");
            check(cache.get(root + "/tree/pre").map(d -> text(d.getData())).orElse("").equals("p"),
                    "initial contents");
            seen.clear();
            // Each change waits for its event: the cache reads a created or changed node's data
            // before it reports it, but reports a delete at once, so a delete sent before that
            // read would be reported first (the same with any server).
            String n = root + "/tree/n";
            String deep = n + "/deep";
            List<Object[]> steps = Arrays.asList(
                    new Object[] {(Op) () -> c.create().forPath(n, bytes("1")), "create " + n + " 1"},
                    new Object[] {(Op) () -> c.create().forPath(deep, bytes("d")), "create " + deep + " d"},
                    new Object[] {(Op) () -> c.setData().forPath(n, bytes("2")), "change " + n + " 2"},
                    new Object[] {(Op) () -> c.delete().forPath(deep), "delete " + deep});
            for (Object[] step : steps) {
                ((Op) step[0]).run();
                String got = seen.poll(WAIT_S, TimeUnit.SECONDS);
                check(step[1].equals(got), "cache event: want [" + step[1] + "] got [" + got + "]");
            }
            check(cache.size() == 3, "cache holds root, pre and n: " + cache.size());
        } finally {
            cache.close();
        }
    }

    /** InterProcessMutex: one holder at a time across clients, re-entrant for its holder. */
    private void lock() throws Exception {
        InterProcessMutex first = new InterProcessMutex(client(), root + "/lock");
        InterProcessMutex second = new InterProcessMutex(client(), root + "/lock");
        check(first.acquire(WAIT_S, TimeUnit.SECONDS), "first acquires");
        check(first.acquire(WAIT_S, TimeUnit.SECONDS), "first re-enters");
        check(!second.acquire(300, TimeUnit.MILLISECONDS), "second waits while held");
        first.release();
        check(!second.acquire(300, TimeUnit.MILLISECONDS), "still held once");
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            // A mutex belongs to the thread that acquired it, so the waiter releases it too.
            Future<Boolean> waiting = pool.submit(() -> {
                boolean acquired = second.acquire(WAIT_S, TimeUnit.SECONDS);
                if (acquired) {
                    second.release();
                }
                return acquired;
            });
            Thread.sleep(200);
            first.release();
            check(waiting.get(WAIT_S, TimeUnit.SECONDS), "second acquires after release");
        } finally {
            pool.shutdownNow();
        }
        // The lock's parent is a container: the reaper may already have removed it, empty.
        List<String> left;
        try {
            left = client().getChildren().forPath(root + "/lock");
        } catch (KeeperException.NoNodeException reaped) {
            left = Collections.emptyList();
        }
        check(left.isEmpty(), "lock nodes cleaned up: " + left);
    }

    /** LeaderLatch: exactly one leader; leadership passes on when it leaves. */
    private void leader() throws Exception {
        LeaderLatch a = new LeaderLatch(client(), root + "/latch", "a");
        LeaderLatch b = new LeaderLatch(client(), root + "/latch", "b");
        a.start();
        b.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (!(a.hasLeadership() || b.hasLeadership()) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        check(a.hasLeadership() ^ b.hasLeadership(), "exactly one leader");
        LeaderLatch leader = a.hasLeadership() ? a : b;
        LeaderLatch other = leader == a ? b : a;
        check(other.getLeader().getId().equals(leader.getId()), "both agree on the leader");
        leader.close();
        check(other.await(WAIT_S, TimeUnit.SECONDS), "leadership passes on");
        other.close();
    }

    /** DistributedAtomicLong (optimistic setData with versions) and SharedCount, concurrently. */
    private void counters() throws Exception {
        int threads = 4;
        int perThread = 25;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<Integer>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                CuratorFramework c = client();
                done.add(pool.submit(() -> {
                    DistributedAtomicLong counter =
                            new DistributedAtomicLong(c, root + "/atomic", new RetryNTimes(1000, 1));
                    int ok = 0;
                    for (int i = 0; i < perThread; i++) {
                        AtomicValue<Long> value = counter.increment();
                        if (value.succeeded()) {
                            ok++;
                        }
                    }
                    return ok;
                }));
            }
            int succeeded = 0;
            for (Future<Integer> f : done) {
                succeeded += f.get(60, TimeUnit.SECONDS);
            }
            check(succeeded == threads * perThread, "every increment succeeded: " + succeeded);
        } finally {
            pool.shutdownNow();
        }
        DistributedAtomicLong reader =
                new DistributedAtomicLong(client(), root + "/atomic", new RetryNTimes(3, 10));
        long total = reader.get().postValue();
        check(total == threads * perThread, "counter total " + total);

        SharedCount a = new SharedCount(client(), root + "/shared", 5);
        SharedCount b = new SharedCount(client(), root + "/shared", 5);
        a.start();
        b.start();
        try {
            VersionedValue<Integer> stale = b.getVersionedValue();
            check(a.trySetCount(a.getVersionedValue(), 9), "versioned set");
            check(!b.trySetCount(stale, 1), "stale version refused");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
            while (b.getCount() != 9 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            check(b.getCount() == 9, "other member sees the new count: " + b.getCount());
        } finally {
            a.close();
            b.close();
        }
    }

    /** DistributedDoubleBarrier with three members, then a DistributedQueue in FIFO order. */
    private void barrierAndQueue() throws Exception {
        int members = 3;
        ExecutorService pool = Executors.newFixedThreadPool(members);
        try {
            List<Future<Boolean>> entered = new ArrayList<>();
            for (int i = 0; i < members; i++) {
                CuratorFramework c = client();
                entered.add(pool.submit(() -> {
                    DistributedDoubleBarrier barrier = new DistributedDoubleBarrier(c, root + "/barrier", members);
                    return barrier.enter(WAIT_S, TimeUnit.SECONDS) && barrier.leave(WAIT_S, TimeUnit.SECONDS);
                }));
            }
            for (Future<Boolean> f : entered) {
                check(f.get(60, TimeUnit.SECONDS), "member entered and left the barrier");
            }
        } finally {
            pool.shutdownNow();
        }

        BlockingQueue<String> consumed = new LinkedBlockingQueue<>();
        QueueSerializer<String> serializer = new QueueSerializer<String>() {
            public byte[] serialize(String item) { return bytes(item); }
            public String deserialize(byte[] data) { return text(data); }
        };
        QueueConsumer<String> consumer = new QueueConsumer<String>() {
            public void consumeMessage(String message) { consumed.add(message); }
            public void stateChanged(CuratorFramework client, ConnectionState state) { }
        };
        DistributedQueue<String> queue =
                QueueBuilder.builder(client(), consumer, serializer, root + "/queue").buildQueue();
        queue.start();
        try {
            for (int i = 0; i < 10; i++) {
                queue.put("item-" + i);
            }
            for (int i = 0; i < 10; i++) {
                String got = consumed.poll(WAIT_S, TimeUnit.SECONDS);
                check(("item-" + i).equals(got), "queue order: want item-" + i + " got " + got);
            }
        } finally {
            queue.close();
        }
    }

    /** InterProcessSemaphoreV2: leases are bounded across clients and come back when returned. */
    private void semaphore() throws Exception {
        InterProcessSemaphoreV2 a = new InterProcessSemaphoreV2(client(), root + "/sem", 3);
        InterProcessSemaphoreV2 b = new InterProcessSemaphoreV2(client(), root + "/sem", 3);
        java.util.Collection<Lease> held = a.acquire(2, WAIT_S, TimeUnit.SECONDS);
        check(held != null && held.size() == 2, "two leases");
        check(b.acquire(2, 300, TimeUnit.MILLISECONDS) == null, "no room for two more");
        Lease one = b.acquire(WAIT_S, TimeUnit.SECONDS);
        check(one != null, "one lease left");
        a.returnAll(held);
        java.util.Collection<Lease> more = b.acquire(2, WAIT_S, TimeUnit.SECONDS);
        check(more != null && more.size() == 2, "returned leases can be taken");
        b.returnAll(more);
        b.returnLease(one);
    }

    /** Digest authorization through the builder; a client without it gets NoAuth. */
    private void acl() throws Exception {
        CuratorFramework owner = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .retryPolicy(new ExponentialBackoffRetry(100, 3))
                .authorization("digest", bytes("curator:secret"))
                .build();
        start(owner);
        owner.create().creatingParentsIfNeeded().withACL(ZooDefs.Ids.CREATOR_ALL_ACL)
                .forPath(root + "/private", bytes("hidden"));
        List<ACL> acl = owner.getACL().forPath(root + "/private");
        check(acl.size() == 1 && acl.get(0).getId().getScheme().equals("digest")
                && acl.get(0).getId().getId().startsWith("curator:")
                && acl.get(0).getPerms() == ZooDefs.Perms.ALL, "creator ACL " + acl);
        check(text(owner.getData().forPath(root + "/private")).equals("hidden"), "owner reads");
        CuratorFramework stranger = client();
        expect(KeeperException.NoAuthException.class, () -> stranger.getData().forPath(root + "/private"));
        expect(KeeperException.NoAuthException.class,
                () -> stranger.setData().forPath(root + "/private", bytes("x")));
        CuratorFramework namespaced = owner.usingNamespace(root.substring(1));
        check(text(namespaced.getData().forPath("/private")).equals("hidden"), "namespace read");
    }

    /**
     * Survives a restart of the server: prints READY, waits for a line on standard input (sent
     * once the test has restarted the server), then checks that the session, its ephemeral node
     * and a persistent node came back, and that a write succeeds.
     */
    private void restart() throws Exception {
        CuratorFramework c = client();
        AtomicInteger reconnected = new AtomicInteger();
        c.getConnectionStateListenable().addListener((client, state) -> {
            if (state == ConnectionState.RECONNECTED) {
                reconnected.incrementAndGet();
            }
        });
        long session = c.getZookeeperClient().getZooKeeper().getSessionId();
        c.create().creatingParentsIfNeeded().forPath(root + "/durable", bytes("kept"));
        c.create().withMode(CreateMode.EPHEMERAL).forPath(root + "/mine");
        System.out.println("READY");
        System.out.flush();
        new java.io.BufferedReader(new java.io.InputStreamReader(System.in)).readLine();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (reconnected.get() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        check(reconnected.get() > 0, "RECONNECTED after the restart");
        check(c.getZookeeperClient().getZooKeeper().getSessionId() == session, "same session");
        check(text(c.getData().forPath(root + "/durable")).equals("kept"), "persistent node kept");
        Stat mine = c.checkExists().forPath(root + "/mine");
        check(mine != null && mine.getEphemeralOwner() == session, "ephemeral node kept");
        c.setData().forPath(root + "/durable", bytes("after"));
        check(text(c.getData().forPath(root + "/durable")).equals("after"), "write after restart");
    }

    /**
     * Curator's EnsembleTracker reads {@code /zookeeper/config} and rewrites the client's connect
     * string from the members' client addresses: started with one member, it must learn all three.
     */
    private void tracker() throws Exception {
        CuratorFramework c = client();
        String hosts = "";
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (System.nanoTime() < deadline) {
            hosts = c.getZookeeperClient().getCurrentConnectionString();
            if (hosts.split(",").length == 3) {
                break;
            }
            Thread.sleep(50);
        }
        check(hosts.split(",").length == 3, "connect string learned from the config: " + hosts);
        String config = text(c.getConfig().forEnsemble());
        check(config.contains("server.1=") && config.contains("server.3="), "getConfig " + config);
        String path = c.create().creatingParentsIfNeeded().forPath(root + "/written", bytes("w"));
        check(text(c.getData().forPath(path)).equals("w"), "write and read on the ensemble");
    }

    // ---- helpers ----

    private CuratorFramework client() throws InterruptedException {
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(10000)
                .connectionTimeoutMs(10000)
                .retryPolicy(new ExponentialBackoffRetry(100, 5))
                .build();
        start(c);
        return c;
    }

    private void start(CuratorFramework c) throws InterruptedException {
        clients.add(c);
        c.start();
        check(c.blockUntilConnected((int) WAIT_S, TimeUnit.SECONDS), "client connects");
    }

    private void closeAll() {
        for (CuratorFramework c : clients) {
            c.close();
        }
    }

    private static void expectEvent(BlockingQueue<WatchedEvent> events, Watcher.Event.EventType type,
            String path) throws InterruptedException {
        WatchedEvent event = events.poll(WAIT_S, TimeUnit.SECONDS);
        check(event != null && event.getType() == type && path.equals(event.getPath()),
                "want " + type + " " + path + ", got " + event);
    }

    private interface Action {
        void run() throws Exception;
    }

    private static void expect(Class<? extends KeeperException> wanted, Action action) throws Exception {
        try {
            action.run();
        } catch (KeeperException e) {
            check(wanted.isInstance(e), "want " + wanted.getSimpleName() + ", got " + e);
            return;
        }
        throw new CheckFailed("want " + wanted.getSimpleName() + ", but it succeeded");
    }

    private static void check(boolean condition, String what) {
        if (!condition) {
            throw new CheckFailed(what);
        }
        System.out.println("ok: " + what);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String text(byte[] data) {
        return data == null ? "" : new String(data, StandardCharsets.UTF_8);
    }

    private static final class CheckFailed extends RuntimeException {
        CheckFailed(String message) {
            super(message);
        }
    }

    /** A step that may throw, as Curator's builders do. */
    private interface Op {
        void run() throws Exception;
    }
}
