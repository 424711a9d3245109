package io.lumenspark.hub;

import io.lumenspark.LumensparkException;
import io.lumenspark.corpus.Download;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HubTest {
    static final String C1 = "1111111111111111111111111111111111111111";
    static final String C2 = "2222222222222222222222222222222222222222";

    @TempDir
    Path tmp;
    FakeHub server;
    Path cache;
    ByteArrayOutputStream log;
    Map<String, byte[]> files;
    byte[] weights;

    @BeforeEach
    void start() throws IOException {
        server = new FakeHub();
        cache = tmp.resolve("hub");
        log = new ByteArrayOutputStream();
        weights = new byte[200_000];
        new Random(3).nextBytes(weights);
        files = new LinkedHashMap<>();
        files.put("config.json", utf8("{\"vocab_size\": 300, \"embed_dim\": 16}"));
        files.put("model.safetensors", weights);
        files.put("pytorch_model.bin", utf8("never fetched: model.safetensors comes first"));
        files.put("tokenizer.json", utf8("{\"model\": {\"type\": \"BPE\"}}"));
        files.put("vocab.json", utf8("{\"a\": 0}"));
        files.put("merges.txt", utf8("#version: 0.2\n"));
        files.put("tokenizer_config.json", utf8("{}"));
        server.repo("acme/tiny").commit("main", C1, files);
    }

    @AfterEach
    void stop() {
        server.close();
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    HubSettings settings(String token, boolean offline) {
        return new HubSettings(server.endpoint(), token, offline, cache);
    }

    Hub hub(HubSettings settings) {
        Download download = new Download(Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(10), null,
                Download.DEFAULT_MAX_BYTES);
        return new Hub(settings, download, Duration.ofSeconds(5), Duration.ofSeconds(10),
                new PrintStream(log, true, StandardCharsets.UTF_8));
    }

    Path resolve(String ref) {
        try (Hub hub = hub(settings(null, false))) {
            return hub.resolve(ref);
        }
    }

    String fail(HubSettings settings, String ref) {
        try (Hub hub = hub(settings)) {
            return assertThrows(LumensparkException.class, () -> hub.resolve(ref)).getMessage();
        }
    }

    Path repoDir() {
        return cache.resolve("models--acme--tiny");
    }

    static Set<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return new TreeSet<>(s.map(p -> p.getFileName().toString()).toList());
        }
    }

    static String blobName(String file, byte[] content) {
        return FakeHub.lfs(file) ? FakeHub.sha256(content) : FakeHub.gitSha1(content);
    }

    List<String> paths(List<FakeHub.Request> requests, String method) {
        return requests.stream().filter(r -> r.method().equals(method)).map(FakeHub.Request::path).toList();
    }

    @Test
    void fetchesAModelIntoHuggingFacesCacheLayout() throws IOException {
        Path dir = resolve("acme/tiny");

        assertEquals(repoDir().resolve("snapshots").resolve(C1), dir);
        assertEquals(Set.of("blobs", "refs", "snapshots", ".no_exist"), names(repoDir()));
        assertArrayEquals(C1.getBytes(StandardCharsets.US_ASCII), Files.readAllBytes(repoDir().resolve("refs/main")),
                "refs/main holds the bare commit hash");
        Set<String> fetched = Set.of("config.json", "model.safetensors", "tokenizer.json", "vocab.json", "merges.txt",
                "tokenizer_config.json");
        assertEquals(new TreeSet<>(fetched), names(dir));
        Set<String> blobs = new TreeSet<>();
        for (String file : fetched) {
            String blob = blobName(file, files.get(file));
            blobs.add(blob);
            Path link = dir.resolve(file);
            assertTrue(Files.isSymbolicLink(link), file);
            assertEquals(Path.of("../../blobs/" + blob), Files.readSymbolicLink(link), file + " links relatively");
            assertArrayEquals(files.get(file), Files.readAllBytes(link), file);
        }
        assertEquals(blobs, names(repoDir().resolve("blobs")), "one blob per file, nothing else (no .part)");
        assertEquals(Set.of("special_tokens_map.json", "added_tokens.json", "generation_config.json"),
                names(repoDir().resolve(".no_exist").resolve(C1)), "optional files the repo lacks are marked");
        for (String marker : names(repoDir().resolve(".no_exist").resolve(C1))) {
            assertEquals(0, Files.size(repoDir().resolve(".no_exist").resolve(C1).resolve(marker)));
        }
        assertTrue(Files.exists(cache.resolve(".locks/models--acme--tiny/lumenspark.lock")));
        assertFalse(server.hubRequests.stream().anyMatch(r -> r.path().endsWith("/pytorch_model.bin")),
                "model.safetensors is preferred");
        assertEquals(List.of("/acme/tiny/resolve/main/config.json", "/acme/tiny/resolve/" + C1 + "/model.safetensors"),
                paths(server.hubRequests, "HEAD").subList(0, 2), "the files after config.json are asked at its commit");
        assertEquals(List.of("/lfs/" + FakeHub.sha256(weights)), paths(server.fileRequests, "GET"),
                "the weights come from the file host the hub redirects to");
    }

    @Test
    void aSecondResolveUsesTheCacheWithoutARequest() {
        Path first = resolve("acme/tiny");
        server.clearRequests();
        assertEquals(first, resolve("acme/tiny"));
        assertEquals(List.of(), server.hubRequests);
        assertEquals(List.of(), server.fileRequests);
    }

    @Test
    void offlineUsesTheCacheOnly() throws IOException {
        String message = fail(settings(null, true), "acme/tiny");
        assertTrue(message.startsWith("HF_HUB_OFFLINE is set and the cache " + cache + " has no snapshot of acme/tiny"),
                message);
        assertTrue(message.contains("hf download acme/tiny --local-dir DIR"), message);
        assertEquals(List.of(), server.hubRequests);

        Path dir = resolve("acme/tiny");
        server.clearRequests();
        try (Hub hub = hub(settings(null, true))) {
            assertEquals(dir, hub.resolve("acme/tiny"));
        }
        Files.delete(dir.resolve("model.safetensors"));
        message = fail(settings(null, true), "acme/tiny");
        assertEquals("HF_HUB_OFFLINE is set and the cached snapshot of acme/tiny (" + dir + ") lacks weights"
                + " (model.safetensors, model.safetensors.index.json, pytorch_model.bin or"
                + " pytorch_model.bin.index.json), and there is no local folder acme/tiny either: unset HF_HUB_OFFLINE"
                + " to download it, or download the folder"
                + " yourself (e.g. `hf download acme/tiny --local-dir DIR`) and pass DIR instead", message);
        assertEquals(List.of(), server.hubRequests);
        assertEquals(List.of(), server.fileRequests);
    }

    @Test
    void pinsARevisionToACommit() throws IOException {
        Map<String, byte[]> newer = new LinkedHashMap<>(files);
        newer.put("config.json", utf8("{\"vocab_size\": 301}"));
        server.repo("acme/tiny").commit("main", C2, newer);

        Path dir = resolve("acme/tiny@" + C1);
        assertEquals(repoDir().resolve("snapshots").resolve(C1), dir);
        assertArrayEquals(files.get("config.json"), Files.readAllBytes(dir.resolve("config.json")));
        assertFalse(Files.exists(repoDir().resolve("refs")), "a commit needs no ref");
        assertTrue(server.hubRequests.stream().allMatch(r -> r.path().startsWith("/acme/tiny/resolve/" + C1 + "/")));

        Path main = resolve("acme/tiny");
        assertEquals(repoDir().resolve("snapshots").resolve(C2), main);
        assertEquals(C2, Files.readString(repoDir().resolve("refs/main")));
        assertEquals(Files.readSymbolicLink(dir.resolve("model.safetensors")),
                Files.readSymbolicLink(main.resolve("model.safetensors")), "both snapshots share the blob");
        assertEquals(1, paths(server.fileRequests, "GET").size(), "the weights were downloaded once");

        server.clearRequests();
        assertEquals(dir, resolve("acme/tiny@" + C1));
        assertEquals(List.of(), server.hubRequests);
    }

    @Test
    void aRefWithSlashesIsEscapedInTheUrlAndNestedUnderRefs() throws IOException {
        server.repo("acme/tiny").refs.put("refs/pr/1", C1);
        Path dir = resolve("acme/tiny@refs/pr/1");
        assertEquals(repoDir().resolve("snapshots").resolve(C1), dir);
        assertEquals(C1, Files.readString(repoDir().resolve("refs/refs/pr/1")));
        assertEquals("/acme/tiny/resolve/refs%2Fpr%2F1/config.json", server.hubRequests.getFirst().path());
    }

    @Test
    void aPrivateRepositoryNeedsTheToken() {
        server.repo("acme/tiny").token = "hf_secret";

        String message = fail(settings(null, false), "acme/tiny");
        assertTrue(message.startsWith("repository acme/tiny is private or gated, or does not exist (HTTP 401 without"
                + " a token): set HF_TOKEN"), message);
        message = fail(settings("hf_wrong", false), "acme/tiny");
        assertTrue(message.startsWith("the hub refused HF_TOKEN for acme/tiny (HTTP 401)"), message);
        assertFalse(message.contains("hf_wrong"), "the token is never shown");

        server.clearRequests();
        try (Hub hub = hub(settings("hf_secret", false))) {
            assertEquals(repoDir().resolve("snapshots").resolve(C1), hub.resolve("acme/tiny"));
        }
        assertTrue(server.hubRequests.stream().allMatch(r -> r.authorization().equals("Bearer hf_secret")),
                "every request to the hub, HEAD and GET, carries the token");
        assertTrue(server.hubRequests.stream().anyMatch(r -> r.method().equals("GET")));
        assertFalse(server.fileRequests.isEmpty());
        assertTrue(server.fileRequests.stream().allMatch(r -> r.authorization().isEmpty()),
                "the token never goes to the file host");
    }

    @Test
    void theTokenIsNotForwardedWhenADownloadIsRedirectedToAnotherHost() {
        server.repo("acme/tiny").token = "hf_secret";
        try (Hub hub = hub(settings("hf_secret", false))) {
            hub.resolve("acme/tiny"); // fills the file host's table
        }
        server.clearRequests();
        try (Download download = new Download(Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(10),
                null, Download.DEFAULT_MAX_BYTES)) {
            URI url = URI.create(server.endpoint() + "/acme/tiny/resolve/main/model.safetensors");
            download.fetch(new Download.Source(url, Map.of("Authorization", "Bearer hf_secret"), null, null),
                    tmp.resolve("w"), weights.length, FakeHub.sha256(weights));
        }
        assertEquals("Bearer hf_secret", server.hubRequests.getFirst().authorization());
        assertEquals(1, server.fileRequests.size(), "the GET was redirected to the file host");
        assertEquals("", server.fileRequests.getFirst().authorization());
    }

    @Test
    void aMissingRepositoryRevisionOrConfigIsOneClearLine() {
        String message = fail(settings("hf_any", false), "acme/nothing");
        assertEquals("no such model folder, nor model on the hub: acme/nothing (" + server.endpoint()
                + "/acme/nothing)", message);
        message = fail(settings(null, false), "acme/tiny@v9");
        assertEquals("no revision v9 of acme/tiny on the hub: name a branch, tag or commit it has", message);
        server.repo("acme/data").commit("main", C2, Map.of("train.txt", utf8("text")));
        message = fail(settings(null, false), "acme/data");
        assertEquals("acme/data on the hub has no config.json: it is not a model repository", message);
    }

    @Test
    void aRepositoryWithoutWeightsIsRefused() throws IOException {
        server.repo("acme/bare").commit("main", C2, Map.of("config.json", utf8("{}")));
        String message = fail(settings(null, false), "acme/bare");
        assertEquals("acme/bare has no weights on the hub (commit " + C2 + "): none of model.safetensors,"
                + " model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json", message);
        assertFalse(Files.exists(cache.resolve("models--acme--bare/refs")), "no ref to an unusable snapshot");
        assertEquals(4, names(cache.resolve("models--acme--bare/.no_exist").resolve(C2)).size());
    }

    @Test
    void fallsBackToPyTorchWeightsAndMarksTheSafetensorsMissing() throws IOException {
        files.remove("model.safetensors");
        server.repo("acme/tiny").commit("main", C2, files);
        Path dir = resolve("acme/tiny");
        assertArrayEquals(files.get("pytorch_model.bin"), Files.readAllBytes(dir.resolve("pytorch_model.bin")));
        assertTrue(Files.exists(repoDir().resolve(".no_exist").resolve(C2).resolve("model.safetensors")));
        assertTrue(Files.exists(repoDir().resolve(".no_exist").resolve(C2).resolve("model.safetensors.index.json")));
        server.clearRequests();
        assertEquals(dir, resolve("acme/tiny"));
        assertEquals(List.of(), server.hubRequests);
    }

    @Test
    void fetchesEveryShardOfAnIndex() throws IOException {
        files.remove("model.safetensors");
        files.put("model.safetensors.index.json", utf8("{\"metadata\": {}, \"weight_map\": {"
                + "\"a\": \"model-00001-of-00002.safetensors\", \"b\": \"model-00002-of-00002.safetensors\","
                + " \"c\": \"model-00001-of-00002.safetensors\"}}"));
        files.put("model-00001-of-00002.safetensors", weights);
        files.put("model-00002-of-00002.safetensors", utf8("second shard"));
        server.repo("acme/tiny").commit("main", C2, files);
        Path dir = resolve("acme/tiny");
        for (String shard : List.of("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")) {
            assertArrayEquals(files.get(shard), Files.readAllBytes(dir.resolve(shard)), shard);
        }
        assertEquals(2, paths(server.fileRequests, "GET").size(), "each shard once");
        server.clearRequests();
        assertEquals(dir, resolve("acme/tiny"));
        assertEquals(List.of(), server.hubRequests);

        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
        String message = fail(settings(null, true), "acme/tiny");
        assertTrue(message.contains("(" + dir + ") lacks model-00002-of-00002.safetensors, "), message);
    }

    @Test
    void aShardNameThatLeavesTheSnapshotIsRefused() throws IOException {
        files.remove("model.safetensors");
        files.put("model.safetensors.index.json", utf8("{\"weight_map\": {\"a\": \"../x.safetensors\"}}"));
        files.put("../x.safetensors", weights);
        server.repo("acme/tiny").commit("main", C2, files);
        String message = fail(settings(null, false), "acme/tiny");
        assertTrue(message.endsWith("model.safetensors.index.json: tensor 'a' maps to \"../x.safetensors\", which is"
                + " not a file name in the index's folder"), message);
        assertFalse(Files.exists(repoDir().resolve("snapshots/x.safetensors")));
        assertTrue(server.fileRequests.isEmpty(), "nothing was downloaded for it");
    }

    @Test
    void anEtagThatIsNotAFileNameIsRefused() {
        server.etags.put("config.json", "\"../../../evil\"");
        String message = fail(settings(null, false), "acme/tiny");
        assertTrue(message.contains("answered without a usable ETag"), message);
        assertFalse(Files.exists(cache.resolve("evil")));
        assertFalse(Files.exists(repoDir().resolve("blobs")));
    }

    @Test
    void aCorruptedLfsFileIsRefused() throws IOException {
        byte[] bad = weights.clone();
        bad[1000] ^= 1;
        server.corruptLfs.put(FakeHub.sha256(weights), bad);
        String message = fail(settings(null, false), "acme/tiny");
        assertTrue(message.startsWith("checksum mismatch for "), message);
        assertTrue(message.contains("expected " + FakeHub.sha256(weights)), message);
        assertEquals(Set.of(blobName("config.json", files.get("config.json"))), names(repoDir().resolve("blobs")),
                "the corrupted download was deleted");
        assertFalse(Files.exists(repoDir().resolve("snapshots").resolve(C1).resolve("model.safetensors")));
        assertFalse(Files.exists(repoDir().resolve("refs")));
    }

    @Test
    void aCorruptedSmallFileIsRefusedByItsGitBlobHash() throws IOException {
        server.corruptSmall.put("vocab.json", utf8("{\"b\": 0}")); // same size, other bytes
        String message = fail(settings(null, false), "acme/tiny");
        String expected = FakeHub.gitSha1(files.get("vocab.json"));
        assertEquals("checksum mismatch for vocab.json of acme/tiny: git blob SHA-1 "
                + FakeHub.gitSha1(utf8("{\"b\": 0}")) + ", expected " + expected + "; the file was deleted", message);
        assertFalse(Files.exists(repoDir().resolve("blobs").resolve(expected)));
        assertFalse(Files.exists(repoDir().resolve("snapshots").resolve(C1).resolve("vocab.json")));
    }

    @Test
    void resumesWhenTheFileHostStopsMidway() throws IOException {
        server.drops.set(1);
        Path dir = resolve("acme/tiny");
        assertArrayEquals(weights, Files.readAllBytes(dir.resolve("model.safetensors")));
        List<FakeHub.Request> gets = server.fileRequests.stream().filter(r -> r.method().equals("GET")).toList();
        assertEquals(2, gets.size());
        assertEquals("", gets.get(0).range());
        assertEquals("bytes=" + weights.length / 2 + "-", gets.get(1).range());
    }

    @Test
    void aDownloadThatKeepsBreakingOffResumesOnTheNextRun() throws IOException {
        server.drops.set(1000);
        String message = fail(settings(null, false), "acme/tiny");
        assertTrue(message.startsWith("the download of " + server.fileHost() + "/lfs/"), message);
        assertTrue(message.endsWith("run the same command again to resume it, or download the folder yourself (e.g."
                + " `hf download acme/tiny --local-dir DIR`) and pass DIR instead"), message);
        String sha = FakeHub.sha256(weights);
        long part = Files.size(repoDir().resolve("blobs").resolve(sha + ".part"));
        assertTrue(part >= weights.length / 2 && part < weights.length, "each attempt kept what came: " + part);
        assertFalse(Files.exists(repoDir().resolve("refs/main")));

        server.drops.set(0);
        server.clearRequests();
        Path dir = resolve("acme/tiny");
        assertArrayEquals(weights, Files.readAllBytes(dir.resolve("model.safetensors")));
        assertEquals(List.of("bytes=" + part + "-"),
                server.fileRequests.stream().map(FakeHub.Request::range).toList(), "the next run resumed the part");
    }

    @Test
    void anUnreachableHubIsOneLineThatSaysWhatToDo() throws IOException {
        int port;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
        }
        HubSettings closed = new HubSettings("http://127.0.0.1:" + port, null, false, cache);
        String message = fail(closed, "acme/tiny");
        assertEquals("cannot reach http://127.0.0.1:" + port + "/acme/tiny/resolve/main/config.json (connection"
                + " refused; offline?), and no local folder acme/tiny either: download the folder yourself (e.g. `hf"
                + " download acme/tiny --local-dir DIR`) and pass DIR instead", message);
        message = fail(closed, "acme/tiny@v2");
        assertTrue(message.contains("`hf download acme/tiny --revision v2 --local-dir DIR`"), message);

        Path python = pythonStyleCache(); // no .no_exist markers: incomplete for us, but usable
        try (Hub hub = hub(closed)) {
            assertEquals(python, hub.resolve("acme/tiny"));
        }
        assertEquals("note: cannot reach http://127.0.0.1:" + port + "/acme/tiny/resolve/main/config.json"
                + " (connection refused; offline?); using the cached snapshot " + C1 + "\n", log.toString());
    }

    @Test
    void aHubThatIsDownIsLikeAnUnreachableOne() throws IOException {
        server.failWith = 503;
        String message = fail(settings(null, false), "acme/tiny");
        assertEquals(server.endpoint() + "/acme/tiny/resolve/main/config.json answered HTTP 503 (the hub is busy or"
                + " down: try again later), and no local folder acme/tiny either: download the folder yourself (e.g."
                + " `hf download acme/tiny --local-dir DIR`) and pass DIR instead", message);
        Path python = pythonStyleCache();
        assertEquals(python, resolve("acme/tiny"));
        assertTrue(log.toString().startsWith("note: " + server.endpoint() + "/acme/tiny/resolve/main/config.json"
                + " answered HTTP 503"), log.toString());
    }

    /** A snapshot as Python's huggingface_hub leaves it after downloading config.json and the weights. */
    Path pythonStyleCache() throws IOException {
        Path repo = repoDir();
        Files.createDirectories(repo.resolve("refs"));
        Files.writeString(repo.resolve("refs/main"), C1);
        Path snapshot = Files.createDirectories(repo.resolve("snapshots").resolve(C1));
        Files.createDirectories(repo.resolve("blobs"));
        for (String file : List.of("config.json", "model.safetensors")) {
            String blob = blobName(file, files.get(file));
            Files.write(repo.resolve("blobs").resolve(blob), files.get(file));
            Files.createSymbolicLink(snapshot.resolve(file), Path.of("../../blobs").resolve(blob));
        }
        return snapshot;
    }

    @Test
    void readsACacheThatPythonWrote() throws IOException {
        Path snapshot = pythonStyleCache();
        try (Hub hub = hub(settings(null, true))) {
            assertEquals(snapshot, hub.resolve("acme/tiny"), "offline: used as it is");
        }
        assertEquals(List.of(), server.hubRequests);

        assertEquals(snapshot, resolve("acme/tiny"));
        assertEquals(List.of(), server.fileRequests, "the weights it holds are not downloaded again");
        assertFalse(server.hubRequests.stream().anyMatch(r -> r.path().endsWith("/model.safetensors")));
        assertFalse(paths(server.hubRequests, "GET").stream().anyMatch(p -> p.endsWith("/config.json")));
        assertTrue(Files.isSymbolicLink(snapshot.resolve("tokenizer.json")), "what it lacked was added");
        assertTrue(Files.exists(repoDir().resolve(".no_exist").resolve(C1).resolve("added_tokens.json")));
        server.clearRequests();
        assertEquals(snapshot, resolve("acme/tiny"));
        assertEquals(List.of(), server.hubRequests, "complete now");
    }

    @Test
    void followsARenamedRepositoryWithinTheHub() throws IOException {
        server.renamed.put("acme/old-name", "acme/tiny");
        Path dir = resolve("acme/old-name");
        assertEquals(cache.resolve("models--acme--old-name/snapshots").resolve(C1), dir, "cached under the id asked");
        assertArrayEquals(weights, Files.readAllBytes(dir.resolve("model.safetensors")));
        assertTrue(server.hubRequests.stream().anyMatch(r -> r.path().equals("/acme/tiny/resolve/main/config.json")));
    }

    @Test
    void followsARedirectToTheHubsOwnOriginWithTheToken() throws IOException {
        server.renamed.put("acme/old-name", "acme/tiny");
        server.absoluteRenames = true;
        server.repo("acme/tiny").token = "hf_secret";
        try (Hub hub = hub(settings("hf_secret", false))) {
            Path dir = hub.resolve("acme/old-name");
            assertArrayEquals(files.get("vocab.json"), Files.readAllBytes(dir.resolve("vocab.json")));
        }
        assertTrue(server.hubRequests.stream().allMatch(r -> r.authorization().equals("Bearer hf_secret")));
        assertTrue(server.fileRequests.stream().allMatch(r -> r.authorization().isEmpty()));
    }

    @Test
    void anLfsRedirectToTheHubsOwnOriginIsWhereTheFileIs() throws IOException {
        server.lfsOnHubOrigin = true; // as a mirror that serves LFS content itself does
        Path dir = resolve("acme/tiny");
        assertArrayEquals(weights, Files.readAllBytes(dir.resolve("model.safetensors")));
        assertEquals(1, paths(server.fileRequests, "GET").size(), "the weights came from the redirect's target");
    }

    @Test
    void twoThreadsFetchingOneModelDownloadItOnce() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<Path>> results = new ArrayList<>();
            for (int i = 0; i < 2; i++) results.add(pool.submit(() -> resolve("acme/tiny")));
            assertEquals(results.get(0).get(), results.get(1).get());
        } finally {
            pool.shutdownNow();
        }
        assertEquals(1, paths(server.fileRequests, "GET").size());
        assertArrayEquals(weights, Files.readAllBytes(repoDir().resolve("snapshots").resolve(C1)
                .resolve("model.safetensors")));
    }

    @Test
    void anExistingLocalFolderIsReturnedWithoutTheNetwork() throws IOException {
        Path folder = Files.createDirectories(tmp.resolve("my-model"));
        assertEquals(folder, resolve(folder.toString()));
        assertEquals(List.of(), server.hubRequests);
        assertEquals("no such model folder: " + tmp.resolve("nope"),
                fail(settings(null, false), tmp.resolve("nope").toString()));
    }

    @Test
    void anEndpointThatIsNotHttpsIsRefused() {
        HubSettings plain = new HubSettings("http://example.com", null, false, cache);
        assertEquals("HF_ENDPOINT must be an https:// URL (plain http only on this machine): http://example.com",
                fail(plain, "acme/tiny"));
    }

    @Test
    void gitBlobSha1IsGitsHashObject() throws IOException {
        Path file = Files.writeString(tmp.resolve("hello"), "hello\n");
        assertEquals("ce013625030ba8dba906f756967f9e9ca394464a", Hub.gitBlobSha1(file)); // git hash-object hello
    }

    @Test
    void etagsAreNormalizedAsHuggingFaceHubDoes() {
        assertEquals("abc", Hub.normalizeEtag("\"abc\""));
        assertEquals("abc", Hub.normalizeEtag("W/\"abc\""));
        assertEquals("abc", Hub.normalizeEtag("abc"));
    }
}
