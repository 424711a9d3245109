package io.lumenspark.pretrained;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.WeightDtype;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.Json;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.ModelWeights;
import io.lumenspark.tokenizer.BpeTokenizer;
import io.lumenspark.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A Hugging Face-style model folder as a whole: config.json and the weights ({@link ModelWeights}),
 * generation_config.json, and the tokenizer in Hugging Face's files (tokenizer.json, vocab.json, merges.txt,
 * tokenizer_config.json).
 */
public final class ModelFolder {
    public static final String GENERATION = "generation_config.json", TOKENIZER = "tokenizer_config.json";
    private static final String TOKENIZER_FILES = "tokenizer.json, or vocab.json and merges.txt";

    private ModelFolder() {
    }

    /**
     * Opens a model folder for inference: the weights memory-mapped ({@link ModelWeights#loadMapped}), with the
     * folder's tokenizer and generation defaults.
     *
     * @throws LumensparkException if the folder, its config, weights, tokenizer or generation_config.json are
     *                             missing, malformed or disagree
     */
    public static LumensparkModel loadMapped(Path dir) {
        return loadMapped(dir, null);
    }

    /**
     * {@link #loadMapped(Path)} with the matrix weights held in dtype (null: the folder's own; see
     * {@link ModelWeights#loadMapped(Path, WeightDtype)}).
     */
    public static LumensparkModel loadMapped(Path dir, WeightDtype dtype) {
        return withFolderSettings(ModelWeights.loadMapped(dir, dtype), dir);
    }

    /**
     * Loads a model folder into a new, trainable model (the weights copied, see {@link ModelWeights#load}), with
     * the folder's tokenizer and generation defaults.
     *
     * @throws LumensparkException for a missing, malformed or mismatched file, or a model too large for memory
     */
    public static LumensparkModel loadTrainable(Path dir) {
        return loadTrainable(dir, ModelWeights.readConfig(dir));
    }

    /**
     * {@link #loadTrainable(Path)} with the folder's config already read by {@link ModelWeights#readConfig} (a
     * caller that plans memory from it first), so that its warnings are not repeated.
     */
    public static LumensparkModel loadTrainable(Path dir, ModelConfig cfg) {
        return withFolderSettings(ModelWeights.load(dir, cfg), dir);
    }

    /**
     * The folder's tokenizer and, when it has one, its generation_config.json, with a loaded model (closed when
     * they cannot be read). A folder without tokenizer files is taken to use GPT-2 (with a warning), as long as
     * GPT-2's vocabulary fits the model; a tokenizer with more tokens than the model's vocab_size leaves the model
     * without one, so that whatever needs text fails with the reason (its ids still work).
     */
    private static LumensparkModel withFolderSettings(LanguageModel model, Path dir) {
        try {
            LumensparkModel m = new LumensparkModel(model, null);
            Tokenizer tokenizer = Tokenizer.fromPretrained(dir);
            int vocab = model.config().vocabSize();
            boolean files = hasTokenizerFiles(dir);
            if (tokenizer.vocabSize() > vocab) {
                m.setNoTokenizer(files
                        ? String.format("%s: its tokenizer (%s) has %,d tokens, more than the model's vocab_size %,d",
                        dir, tokenizer.name(), tokenizer.vocabSize(), vocab)
                        : String.format("%s has no tokenizer files (%s), and GPT-2's %,d tokens do not fit its"
                        + " vocab_size %,d: copy in the files of the tokenizer it was trained with", dir,
                        TOKENIZER_FILES, tokenizer.vocabSize(), vocab));
            } else {
                m.setTokenizer(tokenizer);
                if (!files) {
                    System.err.println("warning: " + dir + " has no tokenizer files (" + TOKENIZER_FILES
                            + "); GPT-2 assumed");
                }
            }
            Path gen = dir.resolve(GENERATION);
            if (Files.exists(gen)) m.setGenerationConfig(GenerationConfig.read(gen, vocab));
            return m;
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /**
     * Whether the folder says what its tokenizer is: its files (tokenizer.json, vocab.json, merges.txt) or a
     * tokenizer_config.json naming one. A folder with none of them is taken to use GPT-2.
     */
    public static boolean hasTokenizerFiles(Path dir) {
        for (String name : new String[]{"tokenizer.json", "vocab.json", "merges.txt", TOKENIZER}) {
            if (Files.exists(dir.resolve(name))) return true;
        }
        return false;
    }

    /**
     * Saves the model as a new, complete model folder (see {@link #save}), atomically: into a temporary folder
     * beside {@code out} that is renamed to {@code out} when complete, so {@code out} never holds half a model.
     * Its generation_config.json holds the model's generation defaults as they are ({@link
     * LumensparkModel#generationConfig()}: its own, else Hugging Face's), so the new folder generates as the model
     * does.
     *
     * @param replace whether an existing {@code out} that holds files is replaced (it is removed once the new
     *                folder is in place); without it only a missing or empty {@code out} is written
     * @throws LumensparkException for an {@code out} that is a file, or holds files and replace is false, or a
     *                             failed write (the temporary folder is removed)
     */
    public static void saveNew(LumensparkModel model, Path out, boolean replace) {
        Path target = out.toAbsolutePath().normalize();
        List<String> held = heldFiles(target);
        if (!held.isEmpty() && !replace) {
            throw new LumensparkException(out + " is not empty (it holds " + String.join(", ", held) + "); choose a"
                    + " new or empty folder");
        }
        String name = target.getFileName() + "." + ProcessHandle.current().pid();
        Path tmp = target.resolveSibling("." + name + ".tmp"), old = target.resolveSibling("." + name + ".old");
        AtomicFiles.deleteTree(tmp);
        try {
            Files.createDirectories(tmp);
            save(model, tmp);
            if (!model.hasOwnGenerationConfig()) model.generationConfig().write(tmp.resolve(GENERATION));
            if (Files.exists(target)) Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            AtomicFiles.deleteTree(old);
        } catch (IOException e) {
            throw new LumensparkException("cannot write " + out + ": " + AtomicFiles.reason(e), e);
        } finally {
            AtomicFiles.deleteTree(tmp);
        }
    }

    /**
     * The names of the first files a folder holds (at most three, then "..."): none when it does not exist or is
     * empty.
     *
     * @throws LumensparkException if it is a file, or cannot be read
     */
    public static List<String> heldFiles(Path dir) {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) return List.of();
        if (!Files.isDirectory(dir)) throw new LumensparkException(dir + " is a file, not a folder");
        try (Stream<Path> files = Files.list(dir)) {
            List<String> names = files.map(f -> f.getFileName().toString()).sorted().limit(4).toList();
            return names.size() > 3 ? List.of(names.get(0), names.get(1), names.get(2), "...") : names;
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + dir + ": " + AtomicFiles.reason(e), e);
        }
    }

    /**
     * Saves the model folder with the model's tokenizer. Each file is written atomically, config.json last, so an
     * interrupted save never pairs a new config with old weights of another shape. generation_config.json is the
     * model's own when it has one (loaded or set); otherwise a file already in the folder is kept (a user's edits
     * survive checkpoints), or a new model's defaults are written ({@link GenerationConfig#forNewModel}). A model
     * loaded without a usable tokenizer is saved without one.
     */
    public static void save(LumensparkModel model, Path dir) {
        LanguageModel lm = model.languageModel();
        ModelWeights.writeWeights(lm, dir);
        Path gen = dir.resolve(GENERATION);
        boolean text = model.hasTokenizer();
        if (model.hasOwnGenerationConfig()) {
            model.generationConfig().write(gen);
        } else if (text && !Files.exists(gen) && !lm.config().isClassifier()) { // a classifier generates nothing
            GenerationConfig.forNewModel(lm.config().seqLength(), model.tokenizer().eosId()).write(gen);
        }
        // The folder carries its tokenizer in Hugging Face's files, GPT-2's too (3.5 MB beside 100+ MB of weights),
        // so that it is complete on its own, for us and for AutoTokenizer.
        if (text && model.tokenizer() instanceof BpeTokenizer bpe) {
            bpe.save(dir, lm.config().seqLength());
        } else if (text) {
            Tokenizer tokenizer = model.tokenizer();
            Map<String, Object> tok = new LinkedHashMap<>();
            tok.put("tokenizer", tokenizer.name());
            tok.put("eos_token", tokenizer.eosToken());
            Json.write(dir.resolve(TOKENIZER), tok);
        }
        ModelWeights.writeConfig(lm, dir);
    }
}
