package io.lumenspark.tokenizer;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.Json;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.OptionalInt;

/**
 * Turns text into token ids and back. Implementations are immutable and safe to share between threads.
 *
 * <p>The end-of-text marker {@code <|endoftext|>} written literally in the text encodes to {@link #eosId()},
 * so corpora can use it to separate documents.
 */
public interface Tokenizer {

    /** Literal form of the end-of-text special token. */
    String EOS_TEXT = "<|endoftext|>";

    /** The mask token of masked language models (RoBERTa's text), written in a text where a token is to be filled. */
    String MASK_TEXT = "<mask>";

    /** The padding token (RoBERTa's text): what fills a sequence shorter than its batch's rows. */
    String PAD_TEXT = "<pad>";

    /** Canonical name, stored in manifests and checkpoints (e.g. {@code "gpt2"}). */
    String name();

    /** Number of distinct token ids; every id is in {@code [0, vocabSize)}. */
    int vocabSize();

    /** Id of {@code <|endoftext|>}. */
    int eosId();

    /** The end-of-text token's literal text ({@code <|endoftext|>} for GPT-2-style tokenizers). */
    default String eosToken() {
        return EOS_TEXT;
    }

    /** Encodes text; literal {@code <|endoftext|>} becomes {@link #eosId()}, and so does every special token's text. */
    int[] encode(String text);

    /**
     * The ids of the special (added) tokens, ascending: end-of-text, and {@code <mask>}, {@code <pad>} or others
     * where the tokenizer has them. They stand for no text: a masked LM never masks them.
     */
    default int[] specialIds() {
        return new int[]{eosId()};
    }

    /** The id of a special token given by its text ({@link #MASK_TEXT}, {@link #PAD_TEXT}, ...), if it has it. */
    default OptionalInt specialId(String text) {
        return text.equals(eosToken()) ? OptionalInt.of(eosId()) : OptionalInt.empty();
    }

    /**
     * This tokenizer with the special tokens it lacks among texts added after its last id, in order (a masked LM's
     * {@code <mask>} and {@code <pad>}); itself when it has them all.
     *
     * @throws LumensparkException when this tokenizer cannot take new tokens
     */
    default Tokenizer withSpecialTokens(List<String> texts) {
        for (String t : texts) {
            if (specialId(t).isEmpty()) throw new LumensparkException("tokenizer " + name() + " cannot add " + t);
        }
        return this;
    }

    /**
     * This tokenizer without those of the given special tokens that hold its last ids (the ids stay dense):
     * what encodes a masked LM's training text, in which a literal {@code "<mask>"} is text like any other. Itself when
     * none of them does.
     */
    default Tokenizer withoutSpecialTokens(Collection<String> texts) {
        return this;
    }

    /**
     * Decodes ids to text: the UTF-8 of {@link #decodeBytes}, each ill-formed or incomplete part of it one U+FFFD,
     * as in Hugging Face ({@link Utf8Decoder#decode}).
     */
    String decode(int[] ids);

    /**
     * Decodes ids to raw UTF-8 bytes. For streaming output: the bytes may end in the middle of a character,
     * which the next tokens complete (a {@link Utf8Decoder} gives the text as they come).
     *
     * @throws LumensparkException if an id is outside the vocabulary
     */
    byte[] decodeBytes(int[] ids);

    /**
     * The tokenizer of a model or tokenizer folder: its Hugging Face files (tokenizer.json, or vocab.json and
     * merges.txt) when it has them, otherwise the tokenizer its tokenizer_config.json names (our
     * {@code "tokenizer"} key, or Hugging Face's {@code "tokenizer_class"} GPT2Tokenizer(Fast)). A folder with
     * neither predates them and used GPT-2. Files that hold GPT-2's vocabulary and merges give the shared
     * {@code "gpt2"} instance.
     *
     * @throws LumensparkException if the folder is missing, a file is malformed, or the config names no known
     *                             tokenizer
     */
    static Tokenizer fromPretrained(Path dir) {
        if (!Files.isDirectory(dir)) throw new LumensparkException("no such model folder: " + dir);
        Path file = dir.resolve("tokenizer_config.json");
        var node = Files.exists(file) ? Json.read(file) : null;
        String named = node != null && node.path("tokenizer").isTextual() ? node.get("tokenizer").asText() : null;
        if (named != null && !named.startsWith("bpe-")) byName(named); // an unknown name is an error even with files
        if (HfTokenizerFiles.present(dir)) {
            BpeTokenizer loaded = HfTokenizerFiles.load(dir);
            if (loaded.vocabSize() != 50257) return loaded;
            BpeTokenizer gpt2 = Gpt2Tokenizer.instance();
            return loaded.contentHash().equals(gpt2.contentHash()) ? gpt2 : loaded;
        }
        if (node == null) return byName("gpt2");
        if (named != null) {
            if (named.startsWith("bpe-")) {
                throw new LumensparkException(file + ": names tokenizer '" + named + "', but its files (tokenizer.json,"
                        + " or vocab.json and merges.txt) are missing from " + dir);
            }
            return byName(named);
        }
        String cls = node.path("tokenizer_class").asText("");
        if (cls.equals("GPT2Tokenizer") || cls.equals("GPT2TokenizerFast")) return byName("gpt2");
        throw new LumensparkException(file + ": names no tokenizer this version knows (expected \"tokenizer\": \"gpt2\")");
    }

    /**
     * A tokenizer named on a command line: a folder holding tokenizer files (as {@link #fromPretrained}), or a
     * name known to {@link #byName}.
     *
     * @throws LumensparkException if it is neither
     */
    static Tokenizer load(String nameOrFolder) {
        Path dir = Path.of(nameOrFolder);
        if (Files.isDirectory(dir)) {
            // Unlike a model folder of an older version, a folder named as a tokenizer must hold one.
            if (!HfTokenizerFiles.present(dir) && !Files.exists(dir.resolve("tokenizer_config.json"))) {
                throw new LumensparkException(dir + " holds no tokenizer files (tokenizer.json, or vocab.json and"
                        + " merges.txt)");
            }
            return fromPretrained(dir);
        }
        if (Files.exists(dir)) {
            throw new LumensparkException(dir + " is a file; a tokenizer is a folder (tokenizer.json, or vocab.json"
                    + " and merges.txt) or a name (gpt2)");
        }
        if (nameOrFolder.contains("/") || nameOrFolder.contains(File.separator)) {
            throw new LumensparkException("no such tokenizer folder: " + nameOrFolder);
        }
        return byName(nameOrFolder);
    }

    /**
     * Looks up a tokenizer by name: {@code "gpt2"} (alias {@code "r50k_base"}).
     *
     * @throws LumensparkException for unknown names
     */
    static Tokenizer byName(String name) {
        String key = name == null ? "" : name.strip().toLowerCase(Locale.ROOT);
        return switch (key) {
            case "gpt2", "r50k_base" -> Gpt2Tokenizer.instance();
            default -> throw new LumensparkException("unknown tokenizer '" + name + "' (known: gpt2, alias r50k_base)");
        };
    }
}
