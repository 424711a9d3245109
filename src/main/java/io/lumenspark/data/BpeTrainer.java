package io.lumenspark.data;

import io.lumenspark.LumensparkException;

import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ForkJoinPool;
import java.util.stream.Stream;

/**
 * Trains a GPT-2-style byte-level BPE on text files: 256 byte tokens (in GPT-2's order), then one token per merge,
 * then the special tokens ({@code <|endoftext|>} first).
 *
 * <ol>
 *   <li>Pre-token frequencies are counted in parallel, a bounded batch of text pieces at a time, so memory grows
 *       with the number of distinct pre-tokens, not with the corpus.</li>
 *   <li>The most frequent adjacent pair (ties: the lower left id, then the lower right id) is merged in every
 *       pre-token, until the vocabulary is full or no pair occurs {@code minFrequency} times. Pair counts are updated
 *       only for the pre-tokens that contain the merged pair, and a priority queue with lazily dropped stale entries
 *       finds the next pair, so each merge costs time in proportion to what it changes.</li>
 * </ol>
 * Counts are exact sums, so the result does not depend on the thread count.
 */
public final class BpeTrainer {

    /** Characters per counted piece, and pieces per parallel batch (per thread). */
    private static final int PIECE_CHARS = 1 << 18, PIECES_PER_THREAD = 4;

    private final int vocabSize, minFrequency, threads;
    private final List<String> specials;
    private final PrintStream log;

    /**
     * @param vocabSize    the vocabulary size to reach: 256 byte tokens + merges + special tokens
     * @param minFrequency the fewest occurrences a pair needs to be merged (at least 1)
     * @param specials     special tokens besides {@code <|endoftext|>}, which is always the first
     * @param threads      threads for counting
     * @param log          progress lines
     * @throws LumensparkException if the sizes are out of range or a special token is empty
     */
    public BpeTrainer(int vocabSize, int minFrequency, List<String> specials, int threads, PrintStream log) {
        List<String> all = new ArrayList<>(List.of(Tokenizer.EOS_TEXT));
        for (String s : specials) {
            if (s.isEmpty()) throw new LumensparkException("special tokens must not be empty");
            if (s.length() == 1 && ByteLevel.fromChars(s) != null) { // vocab.json would hold it twice
                throw new LumensparkException("special token '" + s + "' is the byte-level form of a byte token;"
                        + " choose a longer one (e.g. <|" + s + "|>)");
            }
            if (!all.contains(s)) all.add(s);
        }
        if (vocabSize < 256 + all.size() || vocabSize > (1 << 24)) {
            throw new LumensparkException("--vocab-size must be in " + (256 + all.size()) + ".." + (1 << 24)
                    + " (256 byte tokens + " + all.size() + " special token" + (all.size() == 1 ? "" : "s")
                    + " + merges), got " + vocabSize);
        }
        if (minFrequency < 1) throw new LumensparkException("--min-frequency must be at least 1, got " + minFrequency);
        this.vocabSize = vocabSize;
        this.minFrequency = minFrequency;
        this.specials = List.copyOf(all);
        this.threads = Math.max(1, threads);
        this.log = log;
    }

    /**
     * Trains on text files and folders (read recursively in path order, skipping hidden names; malformed UTF-8
     * becomes U+FFFD).
     *
     * @throws LumensparkException for missing or unreadable inputs or a corpus without text
     */
    public BpeTokenizer train(List<Path> inputs) {
        long t0 = System.nanoTime();
        Map<String, Long> counts = countPreTokens(listFiles(inputs));
        if (counts.isEmpty()) throw new LumensparkException("corpus " + inputs + " has no text");
        log.printf("counted %,d distinct pre-tokens (%,d in all) in %.1f s%n", counts.size(),
                counts.values().stream().mapToLong(Long::longValue).sum(), (System.nanoTime() - t0) / 1e9);
        BpeTokenizer tok = merge(counts);
        log.printf("trained %s: %,d tokens, %,d merges in %.1f s%n", tok.name(), tok.vocabSize(), tok.merges().length,
                (System.nanoTime() - t0) / 1e9);
        return tok;
    }

    private static List<Path> listFiles(List<Path> inputs) {
        if (inputs.isEmpty()) throw new LumensparkException("no input files given");
        List<Path> files = new ArrayList<>();
        for (Path in : inputs) {
            if (Files.isDirectory(in)) {
                try (Stream<Path> walk = Files.walk(in)) {
                    walk.filter(p -> Files.isRegularFile(p) && !hidden(in.relativize(p))).sorted().forEach(files::add);
                } catch (IOException | UncheckedIOException e) {
                    throw new LumensparkException("cannot list folder " + in + ": " + e.getMessage(), e);
                }
            } else if (Files.isRegularFile(in)) {
                files.add(in);
            } else {
                throw new LumensparkException((Files.exists(in) ? "not a file or folder: " : "no such file: ") + in);
            }
        }
        return files;
    }

    private static boolean hidden(Path relative) {
        for (Path part : relative) if (part.toString().startsWith(".")) return true;
        return false;
    }

    /** Pre-token frequencies over all files, counted in parallel batches of pieces. */
    private Map<String, Long> countPreTokens(List<Path> files) {
        Map<String, Long> total = new HashMap<>();
        List<String> batch = new ArrayList<>();
        ForkJoinPool pool = new ForkJoinPool(threads);
        try {
            for (Path file : files) {
                // InputStreamReader replaces malformed UTF-8 with U+FFFD instead of failing
                try (Reader in = new InputStreamReader(Files.newInputStream(file), StandardCharsets.UTF_8)) {
                    TextPieces.readPart(in, Long.MAX_VALUE, PIECE_CHARS, piece -> {
                        batch.add(piece);
                        if (batch.size() >= threads * PIECES_PER_THREAD) countBatch(pool, batch, total);
                    });
                } catch (IOException e) {
                    throw new LumensparkException("cannot read " + file + ": " + e.getMessage(), e);
                }
            }
            countBatch(pool, batch, total);
        } finally {
            pool.shutdown();
        }
        return total;
    }

    private void countBatch(ForkJoinPool pool, List<String> batch, Map<String, Long> total) {
        try {
            List<Map<String, Long>> parts = pool.submit(() -> batch.parallelStream().map(this::count).toList()).get();
            for (Map<String, Long> part : parts) part.forEach((k, v) -> total.merge(k, v, Long::sum));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LumensparkException("interrupted");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new IllegalStateException(e.getCause());
        }
        batch.clear();
    }

    /** Pre-token counts of one piece, with the special tokens taken out (they are not text to learn from). */
    private Map<String, Long> count(String piece) {
        Map<String, Long> counts = new HashMap<>();
        int from = 0;
        while (from < piece.length()) {
            int at = piece.length(), len = 0;
            for (String s : specials) {
                int i = piece.indexOf(s, from);
                if (i >= 0 && (i < at || (i == at && s.length() > len))) {
                    at = i;
                    len = s.length();
                }
            }
            for (int i = from; i < at; ) {
                int end = ByteLevel.pieceEnd(piece, i, at);
                counts.merge(piece.substring(i, end), 1L, Long::sum);
                i = end;
            }
            from = at + len;
        }
        return counts;
    }

    /** A distinct pre-token: its current symbols and how often it occurs. */
    private static final class Word {
        int[] symbols;
        final long count;

        Word(int[] symbols, long count) {
            this.symbols = symbols;
            this.count = count;
        }
    }

    /** An adjacent pair's total count and the words it may occur in (a word can be listed more than once). */
    private static final class PairStats {
        long count;
        int[] words = new int[4];
        int size;

        void addWord(int w) {
            if (size > 0 && words[size - 1] == w) return;
            if (size == words.length) words = Arrays.copyOf(words, size * 2);
            words[size++] = w;
        }
    }

    private record Candidate(long count, int left, int right) {
    }

    private static long key(int left, int right) {
        return (long) left << 32 | right;
    }

    private BpeTokenizer merge(Map<String, Long> counts) {
        // Byte tokens in GPT-2's order: sorted by the character that stands for each byte in vocab.json.
        Integer[] byOrder = new Integer[256];
        for (int b = 0; b < 256; b++) byOrder[b] = b;
        Arrays.sort(byOrder, Comparator.comparingInt(b -> ByteLevel.byteChar(b)));
        List<byte[]> tokens = new ArrayList<>();
        int[] byteId = new int[256];
        for (int id = 0; id < 256; id++) {
            tokens.add(new byte[]{(byte) (int) byOrder[id]});
            byteId[byOrder[id]] = id;
        }
        Map<Bytes, Integer> ids = new HashMap<>();
        for (int id = 0; id < 256; id++) ids.put(new Bytes(tokens.get(id)), id);

        // Words in a fixed order, so that training is deterministic.
        List<String> keys = new ArrayList<>(counts.keySet());
        keys.sort(null);
        Word[] words = new Word[keys.size()];
        Map<Long, PairStats> pairs = new HashMap<>();
        for (int w = 0; w < words.length; w++) {
            byte[] utf8 = keys.get(w).getBytes(StandardCharsets.UTF_8);
            int[] symbols = new int[utf8.length];
            for (int i = 0; i < utf8.length; i++) symbols[i] = byteId[utf8[i] & 0xFF];
            words[w] = new Word(symbols, counts.get(keys.get(w)));
            for (int i = 0; i + 1 < symbols.length; i++) {
                PairStats p = pairs.computeIfAbsent(key(symbols[i], symbols[i + 1]), k -> new PairStats());
                p.count += words[w].count;
                p.addWord(w);
            }
        }
        PriorityQueue<Candidate> queue = new PriorityQueue<>(Comparator.comparingLong(Candidate::count).reversed()
                .thenComparingInt(Candidate::left).thenComparingInt(Candidate::right));
        pairs.forEach((k, p) -> queue.add(new Candidate(p.count, (int) (k >>> 32), (int) (long) k)));

        int target = vocabSize - specials.size();
        List<int[]> merges = new ArrayList<>();
        int[] seenAt = new int[words.length];
        Arrays.fill(seenAt, -1);
        Map<Long, Long> delta = new HashMap<>();
        int reportEvery = Math.max(1, (target - 256) / 10);
        while (tokens.size() < target && !queue.isEmpty()) {
            Candidate c = queue.poll();
            PairStats stats = pairs.get(key(c.left(), c.right()));
            if (stats == null || stats.count != c.count()) continue; // stale
            if (c.count() < minFrequency) break;
            byte[] merged = BpeTokenizer.concat(tokens.get(c.left()), tokens.get(c.right()));
            Integer existing = ids.get(new Bytes(merged));
            int newId = existing != null ? existing : tokens.size();
            if (existing == null) {
                tokens.add(merged);
                ids.put(new Bytes(merged), newId);
            }
            int step = merges.size();
            merges.add(new int[]{c.left(), c.right()});
            pairs.remove(key(c.left(), c.right()));
            delta.clear();
            for (int i = 0; i < stats.size; i++) {
                int w = stats.words[i];
                if (seenAt[w] == step) continue;
                seenAt[w] = step;
                rewrite(words[w], w, c.left(), c.right(), newId, delta, pairs);
            }
            for (var e : delta.entrySet()) {
                if (e.getValue() == 0) continue;
                long k = e.getKey();
                PairStats p = pairs.get(k);
                if (p == null) continue;
                p.count += e.getValue();
                if (p.count <= 0) {
                    pairs.remove(k);
                } else {
                    queue.add(new Candidate(p.count, (int) (k >>> 32), (int) k));
                }
            }
            if (merges.size() % reportEvery == 0) {
                log.printf("  %,d merges, %,d tokens; last '%s' (%,d times)%n", merges.size(), tokens.size(),
                        ByteLevel.toChars(merged), c.count());
            }
        }
        if (tokens.size() < target) {
            log.printf("stopped at %,d tokens of %,d: no pair is left that occurs at least %d time%s%n",
                    tokens.size() + specials.size(), vocabSize, minFrequency, minFrequency == 1 ? "" : "s");
        }
        Map<String, Integer> special = new LinkedHashMap<>();
        for (String s : specials) special.put(s, tokens.size() + special.size());
        return new BpeTokenizer(null, tokens.toArray(new byte[0][]), merges, special, Tokenizer.EOS_TEXT);
    }

    /**
     * Merges every (left, right) in the word, left to right, and records the change of each adjacent pair's count
     * in delta; pairs that are new to the word list it.
     */
    private static void rewrite(Word word, int w, int left, int right, int newId, Map<Long, Long> delta,
                                Map<Long, PairStats> pairs) {
        int[] s = word.symbols;
        boolean found = false;
        for (int i = 0; i + 1 < s.length && !found; i++) found = s[i] == left && s[i + 1] == right;
        if (!found) return;
        for (int i = 0; i + 1 < s.length; i++) delta.merge(key(s[i], s[i + 1]), -word.count, Long::sum);
        int[] out = new int[s.length];
        int n = 0;
        for (int i = 0; i < s.length; i++) {
            if (i + 1 < s.length && s[i] == left && s[i + 1] == right) {
                out[n++] = newId;
                i++;
            } else {
                out[n++] = s[i];
            }
        }
        word.symbols = Arrays.copyOf(out, n);
        for (int i = 0; i + 1 < n; i++) {
            long k = key(out[i], out[i + 1]);
            delta.merge(k, word.count, Long::sum);
            if (out[i] == newId || out[i + 1] == newId) pairs.computeIfAbsent(k, x -> new PairStats()).addWord(w);
        }
    }

    /** Bytes as a hash key. */
    private record Bytes(byte[] b) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Bytes other && Arrays.equals(b, other.b);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(b);
        }
    }
}
