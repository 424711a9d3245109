package io.lumenspark.tokenizer;

import io.lumenspark.LumensparkException;
import io.lumenspark.Words;

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
import java.util.Set;
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
 *       only where the merged pair occurs (each occurrence changes its neighbours' pairs: (x, a) and (b, y) become
 *       (x, ab) and (ab, y)), found through a list of the positions where each pair starts, and a priority queue
 *       with lazily dropped stale entries finds the next pair. So a merge costs time in proportion to the merged
 *       pair's occurrences, even in a pre-token of megabytes (text without spaces).</li>
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
                    + " (256 byte tokens + " + Words.count(all.size(), "special token")
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

    /** A queued pair with its count when queued: stale once the pair's count has changed since. */
    private record Candidate(long count, int left, int right, int pair) {
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
        Map<BpeTokenizer.ByteKey, Integer> ids = new HashMap<>();
        for (int id = 0; id < 256; id++) ids.put(new BpeTokenizer.ByteKey(tokens.get(id)), id);

        // Every distinct pre-token ("word") is a run of slots in one array, in sorted order (for reproducibility).
        List<String> keys = new ArrayList<>(counts.keySet());
        keys.sort(null);
        List<byte[]> utf8 = new ArrayList<>(keys.size());
        long slots = 0;
        for (String k : keys) {
            utf8.add(k.getBytes(StandardCharsets.UTF_8));
            slots += utf8.getLast().length;
        }
        if (slots > Integer.MAX_VALUE - 16) {
            throw new LumensparkException("the corpus has too many distinct pre-tokens to train on ("
                    + slots + " bytes)");
        }
        Symbols words = new Symbols((int) slots);
        Pairs pairs = new Pairs();
        for (int w = 0; w < keys.size(); w++) {
            long count = counts.get(keys.get(w));
            int first = words.size;
            for (byte b : utf8.get(w)) words.append(byteId[b & 0xFF], count, first);
            for (int p = first; p + 1 < words.size; p++) {
                int pair = pairs.index(words.symbol[p], words.symbol[p + 1]);
                pairs.add(pair, count);
                pairs.addStart(pair, p);
            }
        }
        utf8 = null; // let it go before merging
        PriorityQueue<Candidate> queue = new PriorityQueue<>(Comparator.comparingLong(Candidate::count).reversed()
                .thenComparingInt(Candidate::left).thenComparingInt(Candidate::right));
        queueChanged(pairs, queue);

        int target = vocabSize - specials.size();
        List<int[]> merges = new ArrayList<>();
        int reportEvery = Math.max(1, (target - 256) / 10);
        while (tokens.size() < target && !queue.isEmpty()) {
            Candidate c = queue.poll();
            if (pairs.count[c.pair()] != c.count()) continue; // stale
            if (c.count() < minFrequency) break;
            int left = c.left(), right = c.right();
            byte[] merged = BpeTokenizer.concat(tokens.get(left), tokens.get(right));
            // a merge that spells an existing token's bytes reuses its id
            Integer existing = ids.get(new BpeTokenizer.ByteKey(merged));
            int newId = existing != null ? existing : tokens.size();
            if (existing == null) {
                tokens.add(merged);
                ids.put(new BpeTokenizer.ByteKey(merged), newId);
            }
            merges.add(new int[]{left, right});
            // In slot order, so each word is merged left to right: in "aaa" the pair (a, a) at the first slot takes
            // the second one, and the (a, a) listed at the second slot is then gone.
            for (int p : pairs.takeStarts(c.pair())) {
                int q = words.next[p];
                if (words.symbol[p] != left || q < 0 || words.symbol[q] != right) continue; // no longer there
                long n = words.count[p];
                int before = words.prev[p], after = words.next[q];
                pairs.add(c.pair(), -n);
                if (before >= 0) { // (x, left) becomes (x, new)
                    pairs.add(pairs.index(words.symbol[before], left), -n);
                    int formed = pairs.index(words.symbol[before], newId);
                    pairs.add(formed, n);
                    pairs.addStart(formed, before);
                }
                if (after >= 0) { // (right, y) becomes (new, y)
                    pairs.add(pairs.index(right, words.symbol[after]), -n);
                    int formed = pairs.index(newId, words.symbol[after]);
                    pairs.add(formed, n);
                    pairs.addStart(formed, p);
                }
                words.join(p, newId);
            }
            queueChanged(pairs, queue);
            if (merges.size() % reportEvery == 0) {
                log.printf("  %,d merges, %,d tokens; last '%s' (%,d times)%n", merges.size(), tokens.size(),
                        ByteLevel.toChars(merged), c.count());
            }
        }
        if (tokens.size() < target) {
            log.printf("stopped at %,d tokens of %,d: no pair is left that occurs at least %s%n",
                    tokens.size() + specials.size(), vocabSize, Words.count(minFrequency, "time"));
        }
        Map<String, Integer> special = new LinkedHashMap<>();
        for (String s : specials) special.put(s, tokens.size() + special.size());
        // <mask> takes the whitespace on its left, as RoBERTa's does (see BpeTokenizer)
        return new BpeTokenizer(null, tokens.toArray(new byte[0][]), merges, special, Tokenizer.EOS_TEXT,
                special.containsKey(Tokenizer.MASK_TEXT) ? Set.of(Tokenizer.MASK_TEXT) : Set.of());
    }

    /** Queues every pair whose count changed and is still positive (pairs that fell to 0 are gone). */
    private static void queueChanged(Pairs pairs, PriorityQueue<Candidate> queue) {
        for (int i = 0; i < pairs.changedSize; i++) {
            int pair = pairs.changed[i];
            pairs.isChanged[pair] = false;
            if (pairs.count[pair] > 0) {
                queue.add(new Candidate(pairs.count[pair], pairs.left[pair], pairs.right[pair], pair));
            }
        }
        pairs.changedSize = 0;
    }

    /**
     * The words' current symbols, all words in one array of slots: a word is a run of slots linked by prev and
     * next (-1 at its ends), each slot holding its word's count. A merge writes the new symbol into the left slot
     * and unlinks the right one, so slots keep their order and a word's slots only ever get fewer.
     */
    private static final class Symbols {
        final int[] symbol, prev, next;
        final long[] count;
        int size;

        Symbols(int slots) {
            symbol = new int[slots];
            prev = new int[slots];
            next = new int[slots];
            count = new long[slots];
        }

        /** Adds a symbol to the word that starts at slot {@code first} (a new word when it is this slot). */
        void append(int sym, long wordCount, int first) {
            symbol[size] = sym;
            count[size] = wordCount;
            prev[size] = size == first ? -1 : size - 1;
            next[size] = -1;
            if (size > first) next[size - 1] = size;
            size++;
        }

        /** Replaces the symbol at slot p and the one after it by {@code sym}. */
        void join(int p, int sym) {
            int q = next[p], after = next[q];
            symbol[p] = sym;
            symbol[q] = -1;
            next[p] = after;
            if (after >= 0) prev[after] = p;
        }
    }

    /**
     * Adjacent pairs of symbols, numbered densely: each pair's exact count (occurrences in all words, times each
     * word's count) and the slots where it may start (a list that also holds slots where it has gone since).
     * An open-addressing table from the packed (left, right) to the pair's number avoids boxing in the hot loop.
     */
    private static final class Pairs {
        private long[] tableKeys = new long[1 << 12];
        private int[] tablePairs = filled(new int[1 << 12]); // -1 where empty
        int size;
        int[] left = new int[1 << 10], right = new int[1 << 10];
        long[] count = new long[1 << 10];
        private int[][] starts = new int[1 << 10][];
        private int[] startsSize = new int[1 << 10];
        /** Pairs whose count changed since they were last queued. */
        int[] changed = new int[1 << 10];
        int changedSize;
        boolean[] isChanged = new boolean[1 << 10];

        private static int[] filled(int[] a) {
            Arrays.fill(a, -1);
            return a;
        }

        private static long key(int left, int right) {
            return (long) left << 32 | right;
        }

        /** The table position of key, or the empty position where it would go. */
        private int find(long key) {
            int mask = tableKeys.length - 1, shift = 64 - Integer.numberOfTrailingZeros(tableKeys.length);
            int i = (int) ((key * 0x9E3779B97F4A7C15L) >>> shift); // the product's top bits mix all of the key
            while (tablePairs[i] >= 0 && tableKeys[i] != key) i = (i + 1) & mask;
            return i;
        }

        /** The number of the pair (left, right), added with count 0 if it is new. */
        int index(int l, int r) {
            long key = key(l, r);
            int t = find(key);
            if (tablePairs[t] >= 0) return tablePairs[t];
            if (size == count.length) {
                int n = size * 2;
                left = Arrays.copyOf(left, n);
                right = Arrays.copyOf(right, n);
                count = Arrays.copyOf(count, n);
                starts = Arrays.copyOf(starts, n);
                startsSize = Arrays.copyOf(startsSize, n);
                isChanged = Arrays.copyOf(isChanged, n);
            }
            left[size] = l;
            right[size] = r;
            tableKeys[t] = key;
            tablePairs[t] = size;
            if (++size * 2 > tableKeys.length) rehash();
            return size - 1;
        }

        private void rehash() {
            tableKeys = new long[tableKeys.length * 2];
            tablePairs = filled(new int[tablePairs.length * 2]);
            for (int pair = 0; pair < size; pair++) {
                long key = key(left[pair], right[pair]);
                int t = find(key);
                tableKeys[t] = key;
                tablePairs[t] = pair;
            }
        }

        void add(int pair, long delta) {
            count[pair] += delta;
            if (!isChanged[pair]) {
                isChanged[pair] = true;
                if (changedSize == changed.length) changed = Arrays.copyOf(changed, changedSize * 2);
                changed[changedSize++] = pair;
            }
        }

        void addStart(int pair, int slot) {
            int[] s = starts[pair];
            if (s == null) s = starts[pair] = new int[2];
            else if (startsSize[pair] == s.length) s = starts[pair] = Arrays.copyOf(s, s.length * 2);
            s[startsSize[pair]++] = slot;
        }

        /** The slots where the pair may start, in increasing order; the pair's list is emptied. */
        int[] takeStarts(int pair) {
            int[] s = starts[pair] == null ? new int[0] : Arrays.copyOf(starts[pair], startsSize[pair]);
            starts[pair] = null;
            startsSize[pair] = 0;
            Arrays.sort(s);
            return s;
        }
    }
}
