package io.lumenspark.tokenizer;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.Hashes;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.IntConsumer;

/**
 * Byte-level BPE as GPT-2 and Hugging Face's GPT2TokenizerFast do it: special tokens are split out first, the rest
 * is cut into pre-tokens ({@link ByteLevel}), and each pre-token's UTF-8 bytes are merged pairwise, lowest merge
 * rank first (leftmost on ties), until no listed merge applies.
 *
 * <p>Fast paths, none of which changes a result: a pre-token that is itself a token, and that BPE would encode to
 * that token, is looked up directly; other pre-tokens go through a bounded cache of recent results. Immutable
 * apart from that cache, which is safe to share, so one instance serves many threads.
 */
public final class BpeTokenizer implements Tokenizer {

    /** Pre-tokens up to this many characters are cached. */
    private static final int CACHE_MAX_CHARS = 64;
    /** The cache is emptied when it reaches this many entries, which bounds its memory (a few MB). */
    private static final int CACHE_MAX_ENTRIES = 1 << 15;
    /** Pre-tokens longer than this many bytes are merged with a heap: O(n log n) rather than O(n^2). */
    private static final int SMALL_PIECE = 48;
    private static final long NO_PAIR = Long.MAX_VALUE;

    private final String name;
    private final byte[][] tokens;
    private final int[][] merges;
    private final int[] byteIds = new int[256];
    private final PairTable pairs;
    private final TokenTable whole;
    private final String[] specialTexts;
    private final int[] specialIds;
    private final boolean[] isSpecial;
    private final boolean[] lstrip; // per entry of specialTexts: the token takes the whitespace on its left
    private final String eosToken;
    private final int eosId;
    private final String contentHash;
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * Builds a tokenizer from its parts.
     *
     * @param name     its {@link #name()}, or null for {@code "bpe-<vocab size>-<content hash>"}
     * @param tokens   the bytes of each ordinary token by id (null for ids that are special or unused); every single
     *                 byte must be a token
     * @param merges   the merges, lowest rank first, as (left id, right id); the merged bytes must be a token
     * @param specials special (added) tokens: literal text to id, matched in the text before anything else
     * @param eosToken the end-of-text token's text (a special token or an ordinary one)
     * @throws LumensparkException if the parts do not fit together, naming the first problem
     */
    BpeTokenizer(String name, byte[][] tokens, List<int[]> merges, Map<String, Integer> specials, String eosToken) {
        this(name, tokens, merges, specials, eosToken, Set.of());
    }

    /**
     * As the other constructor, with the special tokens that strip whitespace on their left (Hugging Face's
     * {@code lstrip}, which RoBERTa's {@code <mask>} has: {@code "The <mask> of"} encodes as "The", mask, " of", so the
     * mask stands for a word with its leading space, as the tokens it replaced in training did).
     */
    BpeTokenizer(String name, byte[][] tokens, List<int[]> merges, Map<String, Integer> specials, String eosToken,
                 Set<String> lstripSpecials) {
        long known = Arrays.stream(tokens).filter(Objects::nonNull).count() + specials.size();
        long largest = tokens.length;
        for (int id : specials.values()) largest = Math.max(largest, id + 1L);
        if (largest > known) { // ids index arrays: they must be dense
            throw new LumensparkException("token ids must run from 0 to " + (known - 1) + " without gaps ("
                    + known + " tokens, the largest id is " + (largest - 1) + ")");
        }
        int size = (int) largest;
        this.tokens = Arrays.copyOf(tokens, size);
        this.isSpecial = new boolean[size];
        Arrays.fill(byteIds, -1);
        Map<ByteKey, Integer> ids = new HashMap<>();
        for (int id = 0; id < tokens.length; id++) {
            byte[] t = tokens[id];
            if (t == null) continue;
            if (t.length == 0) throw new LumensparkException("token " + id + " is empty");
            Integer other = ids.put(new ByteKey(t), id);
            if (other != null) throw new LumensparkException("tokens " + other + " and " + id + " are the same bytes");
            if (t.length == 1) byteIds[t[0] & 0xFF] = id;
        }
        for (int b = 0; b < 256; b++) {
            if (byteIds[b] < 0) {
                throw new LumensparkException(String.format("the vocabulary has no token for the byte 0x%02X "
                        + "(a byte-level BPE needs all 256)", b));
            }
        }
        this.merges = new int[merges.size()][];
        this.pairs = new PairTable(merges.size());
        for (int rank = 0; rank < merges.size(); rank++) {
            int[] m = merges.get(rank);
            int left = m[0], right = m[1];
            if (!isToken(left) || !isToken(right)) {
                throw new LumensparkException("merge " + (rank + 1) + " names a token id that is not in the vocabulary");
            }
            Integer merged = ids.get(new ByteKey(concat(this.tokens[left], this.tokens[right])));
            if (merged == null) {
                throw new LumensparkException("merge " + (rank + 1) + " (" + show(left) + " " + show(right)
                        + "): its result is not in the vocabulary");
            }
            this.merges[rank] = new int[]{left, right};
            pairs.putIfAbsent(left, right, rank, merged);
        }
        // Special tokens, longest first, so that one that contains another wins where both match.
        List<Map.Entry<String, Integer>> sorted = new ArrayList<>(specials.entrySet());
        sorted.sort(Comparator.comparing((Map.Entry<String, Integer> e) -> -e.getKey().length())
                .thenComparing(Map.Entry::getKey));
        specialTexts = new String[sorted.size()];
        specialIds = new int[sorted.size()];
        lstrip = new boolean[sorted.size()];
        for (int i = 0; i < sorted.size(); i++) {
            String text = sorted.get(i).getKey();
            int id = sorted.get(i).getValue();
            if (text.isEmpty()) throw new LumensparkException("special token " + id + " is empty");
            if (id < 0) throw new LumensparkException("special token '" + text + "' has a negative id");
            if (tokens.length > id && tokens[id] != null
                    && !Arrays.equals(tokens[id], text.getBytes(StandardCharsets.UTF_8))) {
                throw new LumensparkException("special token '" + text + "' has id " + id + ", which is the token "
                        + show(id));
            }
            specialTexts[i] = text;
            specialIds[i] = id;
            lstrip[i] = lstripSpecials.contains(text);
            isSpecial[id] = true;
            this.tokens[id] = text.getBytes(StandardCharsets.UTF_8);
        }
        for (int id = 0; id < size; id++) {
            if (this.tokens[id] == null) {
                throw new LumensparkException("token ids must run from 0 to " + (size - 1) + " without gaps (no"
                        + " token has id " + id + ")");
            }
        }
        this.eosToken = eosToken;
        Integer eos = specials.get(eosToken);
        if (eos == null) eos = ids.get(new ByteKey(eosToken.getBytes(StandardCharsets.UTF_8)));
        if (eos == null) throw new LumensparkException("the end-of-text token '" + eosToken + "' is not in the vocabulary");
        this.eosId = eos;
        // A pre-token that is a token may be looked up directly only where BPE would arrive at that token too.
        this.whole = new TokenTable(tokens.length);
        for (int id = 0; id < tokens.length; id++) {
            byte[] t = tokens[id];
            if (t != null && t.length > 1 && !isSpecial[id]) {
                int[] encoded = bpe(t, t.length);
                if (encoded.length == 1 && encoded[0] == id) whole.put(t, id);
            }
        }
        this.contentHash = hashContent();
        this.name = name != null ? name : "bpe-" + this.tokens.length + "-" + contentHash.substring(0, 12);
    }

    /**
     * A tokenizer from tiktoken-style ranks, where a token's id is its rank and a merge is implied by each token
     * of two or more bytes: the split that BPE with the lower-ranked merges makes of it.
     *
     * @throws LumensparkException if a token cannot be split into two lower-ranked tokens
     */
    static BpeTokenizer fromRanks(String name, byte[][] ranked, Map<String, Integer> specials, String eosToken) {
        int[] byteIds = new int[256];
        Arrays.fill(byteIds, -1);
        for (int id = 0; id < ranked.length; id++) {
            if (ranked[id] != null && ranked[id].length == 1) byteIds[ranked[id][0] & 0xFF] = id;
        }
        PairTable table = new PairTable(ranked.length);
        List<int[]> merges = new ArrayList<>();
        for (int id = 0; id < ranked.length; id++) {
            byte[] t = ranked[id];
            if (t == null || t.length < 2) continue;
            int[] parts = bpe(table, byteIds, t, t.length);
            if (parts.length != 2) {
                throw new LumensparkException("token " + id + " is not a merge of two lower-ranked tokens");
            }
            table.putIfAbsent(parts[0], parts[1], merges.size(), id);
            merges.add(parts);
        }
        return new BpeTokenizer(name, ranked, merges, specials, eosToken);
    }

    private boolean isToken(int id) {
        return id >= 0 && id < tokens.length && tokens[id] != null && !isSpecial[id];
    }

    /** A token for messages: its Hugging Face form. */
    private String show(int id) {
        return "'" + ByteLevel.toChars(tokens[id]) + "'";
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    @Override
    public int eosId() {
        return eosId;
    }

    @Override
    public String eosToken() {
        return eosToken;
    }

    @Override
    public int[] encode(String text) {
        IntList out = new IntList(text.length() / 3 + 16);
        byte[][] scratch = {new byte[64]};
        int from = 0;
        if (specialTexts.length > 0) {
            int[] next = new int[specialTexts.length];
            Arrays.fill(next, -1);
            while (true) {
                int best = -1;
                for (int i = 0; i < specialTexts.length; i++) {
                    if (next[i] != Integer.MAX_VALUE && next[i] < from) {
                        int at = text.indexOf(specialTexts[i], from);
                        next[i] = at < 0 ? Integer.MAX_VALUE : at;
                    }
                    if (next[i] != Integer.MAX_VALUE && (best < 0 || next[i] < next[best])) best = i;
                }
                if (best < 0) break;
                int end = next[best];
                if (lstrip[best]) { // the token takes the whitespace before it
                    while (end > from && ByteLevel.classOf(text.codePointBefore(end)) == ByteLevel.SPACE) {
                        end -= Character.charCount(text.codePointBefore(end));
                    }
                }
                encodeOrdinary(text, from, end, out, scratch);
                out.add(specialIds[best]);
                from = next[best] + specialTexts[best].length();
            }
        }
        encodeOrdinary(text, from, text.length(), out, scratch);
        return out.toArray();
    }

    private void encodeOrdinary(String text, int from, int to, IntList out, byte[][] scratch) {
        for (int i = from; i < to; ) {
            int end = ByteLevel.pieceEnd(text, i, to);
            encodePiece(text, i, end, out, scratch);
            i = end;
        }
    }

    private void encodePiece(String text, int start, int end, IntList out, byte[][] scratch) {
        if (scratch[0].length < (end - start) * 3) scratch[0] = new byte[(end - start) * 3];
        byte[] bytes = scratch[0];
        int n = utf8(text, start, end, bytes);
        if (n == 1) {
            out.add(byteIds[bytes[0] & 0xFF]);
            return;
        }
        int id = whole.get(bytes, n);
        if (id >= 0) {
            out.add(id);
            return;
        }
        if (end - start > CACHE_MAX_CHARS) {
            out.addAll(bpe(bytes, n));
            return;
        }
        String key = text.substring(start, end);
        int[] ids = cache.get(key);
        if (ids == null) {
            ids = bpe(bytes, n);
            if (cache.size() >= CACHE_MAX_ENTRIES) cache.clear();
            cache.put(key, ids);
        }
        out.addAll(ids);
    }

    /** UTF-8 of text[start, end) into out; returns the byte count. A lone surrogate becomes '?', as in String.getBytes. */
    private static int utf8(String text, int start, int end, byte[] out) {
        int n = 0;
        for (int i = start; i < end; i++) {
            char c = text.charAt(i);
            if (c < 0x80) {
                out[n++] = (byte) c;
            } else if (c < 0x800) {
                out[n++] = (byte) (0xC0 | c >> 6);
                out[n++] = (byte) (0x80 | c & 0x3F);
            } else if (Character.isSurrogate(c)) {
                if (Character.isHighSurrogate(c) && i + 1 < end && Character.isLowSurrogate(text.charAt(i + 1))) {
                    int cp = Character.toCodePoint(c, text.charAt(++i));
                    out[n++] = (byte) (0xF0 | cp >> 18);
                    out[n++] = (byte) (0x80 | cp >> 12 & 0x3F);
                    out[n++] = (byte) (0x80 | cp >> 6 & 0x3F);
                    out[n++] = (byte) (0x80 | cp & 0x3F);
                } else {
                    out[n++] = '?';
                }
            } else {
                out[n++] = (byte) (0xE0 | c >> 12);
                out[n++] = (byte) (0x80 | c >> 6 & 0x3F);
                out[n++] = (byte) (0x80 | c & 0x3F);
            }
        }
        return n;
    }

    /** BPE of the first n bytes. */
    int[] bpe(byte[] bytes, int n) {
        return bpe(pairs, byteIds, bytes, n);
    }

    private static int[] bpe(PairTable pairs, int[] byteIds, byte[] bytes, int n) {
        return n <= SMALL_PIECE ? bpeSmall(pairs, byteIds, bytes, n) : bpeLarge(pairs, byteIds, bytes, n);
    }

    /** Scans for the lowest-ranked pair after every merge: fastest for the short pieces of ordinary text. */
    private static int[] bpeSmall(PairTable pairs, int[] byteIds, byte[] bytes, int n) {
        int[] ids = new int[n];
        long[] pair = new long[n]; // pair[i]: rank and result of merging ids[i] and ids[i + 1], or NO_PAIR
        for (int i = 0; i < n; i++) ids[i] = byteIds[bytes[i] & 0xFF];
        for (int i = 0; i + 1 < n; i++) pair[i] = pairs.get(ids[i], ids[i + 1]);
        int len = n;
        while (len > 1) {
            int at = -1;
            long best = NO_PAIR;
            for (int i = 0; i + 1 < len; i++) {
                if (pair[i] < best) {
                    best = pair[i];
                    at = i;
                }
            }
            if (at < 0) break;
            ids[at] = (int) best;
            System.arraycopy(ids, at + 2, ids, at + 1, len - at - 2);
            System.arraycopy(pair, at + 2, pair, at + 1, len - at - 3 > 0 ? len - at - 3 : 0);
            len--;
            if (at > 0) pair[at - 1] = pairs.get(ids[at - 1], ids[at]);
            if (at + 1 < len) pair[at] = pairs.get(ids[at], ids[at + 1]);
        }
        return Arrays.copyOf(ids, len);
    }

    /**
     * A heap of (rank, position) over a linked list of parts: long runs (whitespace, symbols) stay O(n log n).
     * Entries left behind by earlier merges are recognized and skipped when popped.
     */
    private static int[] bpeLarge(PairTable pairs, int[] byteIds, byte[] bytes, int n) {
        int[] ids = new int[n], next = new int[n], prev = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = byteIds[bytes[i] & 0xFF];
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        LongHeap heap = new LongHeap(n);
        for (int i = 0; i + 1 < n; i++) {
            long p = pairs.get(ids[i], ids[i + 1]);
            if (p != NO_PAIR) heap.push((p >>> 32) << 32 | i);
        }
        int alive = n;
        while (!heap.isEmpty()) {
            long entry = heap.pop();
            int at = (int) entry, right = next[at];
            if (ids[at] < 0 || right < 0) continue;
            long p = pairs.get(ids[at], ids[right]);
            if (p == NO_PAIR || p >>> 32 != entry >>> 32) continue; // stale: a neighbour has changed
            ids[at] = (int) p;
            ids[right] = -1;
            next[at] = next[right];
            if (next[at] >= 0) prev[next[at]] = at;
            alive--;
            if (prev[at] >= 0) {
                long q = pairs.get(ids[prev[at]], ids[at]);
                if (q != NO_PAIR) heap.push((q >>> 32) << 32 | prev[at]);
            }
            if (next[at] >= 0) {
                long q = pairs.get(ids[at], ids[next[at]]);
                if (q != NO_PAIR) heap.push((q >>> 32) << 32 | at);
            }
        }
        int[] out = new int[alive];
        for (int i = 0, k = 0; i >= 0; i = next[i]) out[k++] = ids[i];
        return out;
    }

    @Override
    public String decode(int[] ids) {
        return Utf8Decoder.decode(decodeBytes(ids));
    }

    @Override
    public byte[] decodeBytes(int[] ids) {
        int total = 0;
        for (int id : ids) {
            if (id < 0 || id >= tokens.length || tokens[id] == null) {
                throw new LumensparkException("token id " + id + " is outside the " + name + " vocabulary (0.."
                        + (tokens.length - 1) + ")");
            }
            total += tokens[id].length;
        }
        byte[] out = new byte[total];
        int at = 0;
        for (int id : ids) {
            byte[] t = tokens[id];
            System.arraycopy(t, 0, out, at, t.length);
            at += t.length;
        }
        return out;
    }

    /**
     * Loads a Hugging Face byte-level BPE folder: tokenizer.json, or vocab.json with merges.txt
     * (see {@link HfTokenizerFiles}).
     *
     * @throws LumensparkException if the folder has neither or a file is malformed
     */
    public static BpeTokenizer fromPretrained(Path dir) {
        return HfTokenizerFiles.load(dir);
    }

    /**
     * Writes tokenizer.json, vocab.json, merges.txt and tokenizer_config.json into dir, in the formats Hugging
     * Face's GPT2TokenizerFast and AutoTokenizer read. A new folder is written beside it and renamed into place; in
     * an existing folder (a model's) each file is replaced atomically.
     *
     * @param modelMaxLength the model's context length for tokenizer_config.json, or 0 if unknown
     */
    public void save(Path dir, int modelMaxLength) {
        HfTokenizerFiles.write(this, dir, modelMaxLength);
    }

    /** The bytes of token id (a special token's are its text's UTF-8), or null for an unused id. */
    byte[] tokenBytes(int id) {
        return tokens[id];
    }

    /** Whether id is a special (added) token. */
    boolean isSpecial(int id) {
        return isSpecial[id];
    }

    /** The merges, lowest rank first, as (left id, right id). */
    int[][] merges() {
        return merges;
    }

    /** The special tokens that strip whitespace on their left (see the constructor). */
    Set<String> lstripSpecials() {
        Set<String> out = new HashSet<>();
        for (int i = 0; i < specialTexts.length; i++) if (lstrip[i]) out.add(specialTexts[i]);
        return out;
    }

    @Override
    public int[] specialIds() {
        return specials().values().stream().mapToInt(Integer::intValue).toArray();
    }

    @Override
    public OptionalInt specialId(String text) {
        for (int i = 0; i < specialTexts.length; i++) {
            if (specialTexts[i].equals(text)) return OptionalInt.of(specialIds[i]);
        }
        return OptionalInt.empty();
    }

    /**
     * This tokenizer with the given special tokens added after its last id, in order (those it has already are
     * skipped; {@code <mask>} strips whitespace on its left, as RoBERTa's does); itself when it has them all.
     *
     * @throws LumensparkException for an empty token or one that is an ordinary token's text
     */
    @Override
    public BpeTokenizer withSpecialTokens(List<String> texts) {
        Map<String, Integer> specials = specials();
        int next = tokens.length;
        for (String t : texts) {
            if (t.isEmpty()) throw new LumensparkException("special tokens must not be empty");
            if (!specials.containsKey(t)) specials.put(t, next++);
        }
        if (next == tokens.length) return this;
        Set<String> strip = lstripSpecials();
        if (texts.contains(MASK_TEXT) && !this.specials().containsKey(MASK_TEXT)) strip.add(MASK_TEXT);
        return new BpeTokenizer(null, ordinaryTokens(tokens.length), mergeList(), specials, eosToken, strip);
    }

    /**
     * This tokenizer without those of the given special tokens that hold its last ids (so the ids stay dense):
     * GPT-2's own instance when that is what remains. Itself when none of them does.
     */
    @Override
    public BpeTokenizer withoutSpecialTokens(Collection<String> texts) {
        Map<String, Integer> specials = specials();
        int size = tokens.length;
        while (size > 0 && isSpecial[size - 1] && texts.contains(new String(tokens[size - 1], StandardCharsets.UTF_8))) {
            specials.remove(new String(tokens[size - 1], StandardCharsets.UTF_8));
            size--;
        }
        if (size == tokens.length) return this;
        Set<String> strip = lstripSpecials();
        strip.retainAll(specials.keySet());
        BpeTokenizer rest = new BpeTokenizer(null, ordinaryTokens(size), mergeList(), specials, eosToken, strip);
        BpeTokenizer gpt2 = Gpt2Tokenizer.instance();
        return rest.contentHash().equals(gpt2.contentHash()) ? gpt2 : rest;
    }

    /** The bytes of the ordinary tokens among ids 0..size-1 (null for the special ones). */
    private byte[][] ordinaryTokens(int size) {
        byte[][] out = new byte[size][];
        for (int id = 0; id < size; id++) out[id] = isSpecial[id] ? null : tokens[id];
        return out;
    }

    private List<int[]> mergeList() {
        return Arrays.asList(merges);
    }

    /** The special tokens' texts and ids, in id order. */
    Map<String, Integer> specials() {
        Map<String, Integer> out = new LinkedHashMap<>();
        Integer[] order = new Integer[specialIds.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, Comparator.comparingInt(i -> specialIds[i]));
        for (int i : order) out.put(specialTexts[i], specialIds[i]);
        return out;
    }

    /** SHA-256 (hex) of everything that decides encodings and decodings: equal hashes, equal tokenizers. */
    String contentHash() {
        return contentHash;
    }

    private String hashContent() {
        MessageDigest sha = Hashes.sha256();
        ByteBuffer num = ByteBuffer.allocate(8);
        IntConsumer put = v -> sha.update(num.clear().putInt(v).flip());
        put.accept(tokens.length);
        for (int id = 0; id < tokens.length; id++) {
            put.accept(tokens[id] == null ? -1 : tokens[id].length);
            if (tokens[id] != null) sha.update(tokens[id]);
            put.accept(isSpecial[id] ? 1 : 0);
        }
        put.accept(merges.length);
        for (int[] m : merges) {
            put.accept(m[0]);
            put.accept(m[1]);
        }
        put.accept(eosId);
        for (int i = 0; i < specialTexts.length; i++) { // only where there are any: earlier hashes stay as they were
            if (lstrip[i]) {
                sha.update(specialTexts[i].getBytes(StandardCharsets.UTF_8));
                put.accept(-2);
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    @Override
    public String toString() {
        return name;
    }

    /** Bytes as a hash key (also the trainer's). */
    record ByteKey(byte[] bytes) {
        @Override
        public boolean equals(Object o) {
            return o instanceof ByteKey k && Arrays.equals(bytes, k.bytes);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(bytes);
        }
    }

    /** Open addressing from (left id, right id) to rank in the high and merged id in the low 32 bits. */
    private static final class PairTable {
        private final long[] keys, values;
        private final int shift;

        PairTable(int expected) {
            int bits = Math.max(4, 64 - Long.numberOfLeadingZeros(Math.max(1, expected) * 2L));
            keys = new long[1 << bits];
            values = new long[1 << bits];
            Arrays.fill(keys, -1L);
            shift = 64 - bits;
        }

        private int slot(long key) {
            int i = (int) ((key * 0x9E3779B97F4A7C15L) >>> shift);
            while (keys[i] != -1L && keys[i] != key) i = (i + 1) & (keys.length - 1);
            return i;
        }

        void putIfAbsent(int left, int right, int rank, int merged) {
            long key = (long) left << 32 | right;
            int i = slot(key);
            if (keys[i] == -1L) {
                keys[i] = key;
                values[i] = (long) rank << 32 | merged;
            }
        }

        /** Rank and merged id packed (compare as longs: lower rank first), or NO_PAIR. */
        long get(int left, int right) {
            long key = (long) left << 32 | right;
            int i = slot(key);
            return keys[i] == -1L ? NO_PAIR : values[i];
        }
    }

    /** Open addressing from a token's bytes to its id. */
    private final class TokenTable {
        private final int[] slots; // id + 1, 0 when empty
        private final int mask;

        TokenTable(int expected) {
            int size = Integer.highestOneBit(Math.max(16, expected * 2)) << 1;
            slots = new int[size];
            mask = size - 1;
        }

        private static int hash(byte[] b, int n) {
            int h = n;
            for (int i = 0; i < n; i++) h = (h ^ b[i]) * 0x01000193;
            return h ^ (h >>> 15);
        }

        void put(byte[] t, int id) {
            int i = hash(t, t.length) & mask;
            while (slots[i] != 0) i = (i + 1) & mask;
            slots[i] = id + 1;
        }

        /** The id of the token whose bytes are b[0, n), or -1. */
        int get(byte[] b, int n) {
            for (int i = hash(b, n) & mask; slots[i] != 0; i = (i + 1) & mask) {
                byte[] t = tokens[slots[i] - 1];
                if (t.length == n && Arrays.equals(t, 0, n, b, 0, n)) return slots[i] - 1;
            }
            return -1;
        }
    }

    /** A binary min-heap of longs. */
    private static final class LongHeap {
        private long[] heap;
        private int size;

        LongHeap(int capacity) {
            heap = new long[Math.max(16, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void push(long v) {
            if (size == heap.length) heap = Arrays.copyOf(heap, size * 2);
            int i = size++;
            while (i > 0 && heap[(i - 1) / 2] > v) {
                heap[i] = heap[(i - 1) / 2];
                i = (i - 1) / 2;
            }
            heap[i] = v;
        }

        long pop() {
            long top = heap[0], last = heap[--size];
            int i = 0;
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) break;
                if (child + 1 < size && heap[child + 1] < heap[child]) child++;
                if (heap[child] >= last) break;
                heap[i] = heap[child];
                i = child;
            }
            heap[i] = last;
            return top;
        }
    }

    /** A growable int array. */
    private static final class IntList {
        private int[] data;
        private int size;

        IntList(int capacity) {
            data = new int[Math.max(16, capacity)];
        }

        void add(int v) {
            if (size == data.length) data = Arrays.copyOf(data, size * 2);
            data[size++] = v;
        }

        void addAll(int[] vs) {
            if (size + vs.length > data.length) data = Arrays.copyOf(data, Math.max(size * 2, size + vs.length));
            System.arraycopy(vs, 0, data, size, vs.length);
            size += vs.length;
        }

        int[] toArray() {
            return Arrays.copyOf(data, size);
        }
    }
}
