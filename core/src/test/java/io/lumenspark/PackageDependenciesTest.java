package io.lumenspark;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packages of src/main depend on each other only as docs/architecture.md draws them: every use of one package
 * in another (an import, a qualified name in code, a javadoc link) is an edge of this table, so a new edge is a
 * decision made here, and the edges form no cycle. The root package (io.lumenspark) may be used by all.
 */
class PackageDependenciesTest {
    static final Path MAIN = Path.of("core", "src", "main", "java", "io", "lumenspark");

    /** What each package may use besides itself and the root. */
    static final Map<String, Set<String>> ALLOWED = Map.ofEntries(
            Map.entry("cli", Set.of("study", "bench", "serve", "training", "pretrained", "generate", "model", "tokens",
                    "tokenizer", "corpus", "hub", "engine", "io")),
            Map.entry("study", Set.of("bench", "training", "model", "io")),
            Map.entry("bench", Set.of("serve", "training", "pretrained", "generate", "model", "tokens", "tokenizer",
                    "corpus", "engine", "io")),
            Map.entry("serve", Set.of("pretrained", "generate", "model", "tokenizer", "engine", "io")),
            Map.entry("training", Set.of("pretrained", "model", "tokens", "tokenizer", "engine", "io")),
            Map.entry("pretrained", Set.of("generate", "model", "tokenizer", "hub", "engine", "io")),
            Map.entry("generate", Set.of("model", "tokenizer", "engine", "io")),
            Map.entry("model", Set.of("engine", "io")),
            Map.entry("tokens", Set.of("tokenizer", "corpus", "engine", "io")),
            Map.entry("tokenizer", Set.of("io")),
            Map.entry("corpus", Set.of("io")),
            Map.entry("hub", Set.of("corpus", "io")),
            Map.entry("engine", Set.of()),
            Map.entry("io", Set.of()));

    private static final Pattern USE = Pattern.compile("(?<![\\w.])io\\.lumenspark\\.([a-z]\\w*)\\.");
    private static final Pattern LINK = Pattern.compile("\\{@link(?:plain)?\\s+([^}\\s]+)");

    /** The packages each package uses, from the source text of its files. */
    static Map<String, Set<String>> edges() throws IOException {
        Map<String, Set<String>> edges = new TreeMap<>();
        try (Stream<Path> files = Files.walk(MAIN)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                Path dir = MAIN.relativize(f).getParent();
                String from = dir == null ? "" : dir.toString().replace('/', '.');
                Set<String> to = edges.computeIfAbsent(from, k -> new TreeSet<>());
                Matcher m = USE.matcher(dependencyText(Files.readString(f)));
                while (m.find()) if (!m.group(1).equals(from)) to.add(m.group(1));
            }
        }
        edges.remove(""); // the root's own files may use nothing but the JDK (checked in the test)
        return edges;
    }

    /**
     * The parts of a source file that make dependencies: the code without comments and string literals, and the
     * targets of javadoc links (which the compiler resolves); prose in comments is not a dependency.
     */
    static String dependencyText(String src) {
        StringBuilder out = new StringBuilder();
        int i = 0, n = src.length();
        while (i < n) {
            if (src.startsWith("//", i)) {
                int j = src.indexOf('\n', i);
                i = j < 0 ? n : j;
            } else if (src.startsWith("/*", i)) {
                int j = src.indexOf("*/", i + 2);
                int end = j < 0 ? n : j + 2;
                Matcher link = LINK.matcher(src.substring(i, end));
                while (link.find()) out.append(' ').append(link.group(1)).append(' ');
                i = end;
            } else if (src.charAt(i) == '"' || src.charAt(i) == '\'') {
                char quote = src.charAt(i);
                boolean block = src.startsWith("\"\"\"", i);
                int j = block ? src.indexOf("\"\"\"", i + 3) : i + 1;
                if (!block) {
                    while (j < n && src.charAt(j) != quote) j += src.charAt(j) == '\\' ? 2 : 1;
                }
                i = j < 0 ? n : j + (block ? 3 : 1);
                out.append("\"\"");
            } else {
                out.append(src.charAt(i++));
            }
        }
        return out.toString();
    }

    @Test
    void everyEdgeBetweenPackagesIsInTheTable() throws IOException {
        Map<String, Set<String>> edges = edges();
        List<String> wrong = new ArrayList<>();
        for (var e : edges.entrySet()) {
            Set<String> allowed = ALLOWED.get(e.getKey());
            if (allowed == null) {
                wrong.add("package " + e.getKey() + " is not in the table");
                continue;
            }
            for (String to : e.getValue()) {
                if (!allowed.contains(to)) wrong.add(e.getKey() + " -> " + to);
            }
        }
        assertEquals(List.of(), wrong, "edges not in PackageDependenciesTest.ALLOWED (docs/architecture.md)");
        assertTrue(edges.get("model").contains("engine"), "the scan sees imports");
        assertFalse(edges.get("model").contains("pretrained"), "prose in comments is no dependency");
    }

    @Test
    void theRootPackageUsesNoOtherPackage() throws IOException {
        try (Stream<Path> files = Files.list(MAIN)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                Matcher m = USE.matcher(dependencyText(Files.readString(f)));
                boolean found = m.find();
                assertFalse(found, () -> f + " uses " + m.group());
            }
        }
    }

    @Test
    void thePackagesFormNoCycle() throws IOException {
        Map<String, Set<String>> edges = edges();
        for (String start : edges.keySet()) {
            List<String> cycle = cycleFrom(start, start, edges, new ArrayList<>(List.of(start)), new TreeSet<>());
            assertEquals(List.of(), cycle, "a cycle");
        }
        assertEquals(List.of("a", "b", "a"), cycleFrom("a", "a", Map.of("a", Set.of("b"), "b", Set.of("a")),
                new ArrayList<>(List.of("a")), new TreeSet<>()), "the search finds a cycle");
    }

    /** A path from node back to start, as a list of packages, or an empty list when there is none. */
    private static List<String> cycleFrom(String start, String node, Map<String, Set<String>> edges, List<String> path,
                                          Set<String> seen) {
        for (String next : edges.getOrDefault(node, Set.of())) {
            if (next.equals(start)) {
                List<String> cycle = new ArrayList<>(path);
                cycle.add(start);
                return cycle;
            }
            if (!seen.add(next)) continue;
            path.add(next);
            List<String> found = cycleFrom(start, next, edges, path, seen);
            if (!found.isEmpty()) return found;
            path.removeLast();
        }
        return List.of();
    }
}
