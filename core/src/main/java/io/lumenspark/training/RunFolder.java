package io.lumenspark.training;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.Json;
import io.lumenspark.model.ModelWeights;
import io.lumenspark.pretrained.ModelFolder;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * What a training run keeps in its folder, and the rules for starting a run in one that is not empty.
 * <p>
 * A run owns {@code checkpoint/}, {@code metrics.jsonl}, {@code loss.png} and the final model's files (a
 * classifier's run: its best model, and {@code confusion_matrix.png}). A run that replaces an earlier one
 * (--force) leaves all of these alone until its own first checkpoint: its metrics go to a hidden
 * {@code .metrics-RUNID.jsonl} meanwhile, and it draws no chart and saves no model. The checkpoint swap makes the
 * new run the folder's run; right after it the hidden metrics become {@code metrics.jsonl} and the earlier run's
 * model and charts are deleted, so nothing of the two runs is mixed. A process killed between the swap and that move is
 * finished by the next run in the folder: the checkpoint names its run, and only that run's hidden metrics are
 * moved into place.
 */
public final class RunFolder {
    /** Names in the run folder. */
    public static final String METRICS = "metrics.jsonl", CHART = "loss.png";
    /** The final model's files beside checkpoint/ (as {@link ModelFolder#save} writes them). */
    static final List<String> MODEL_FILES = List.of(ModelWeights.CONFIG, ModelWeights.WEIGHTS, ModelFolder.GENERATION,
            ModelFolder.TOKENIZER, "tokenizer.json", "vocab.json", "merges.txt");
    private static final Set<String> RUN_FILES = Set.copyOf(Stream.concat(MODEL_FILES.stream(),
            Stream.of(Checkpoint.FOLDER, METRICS, CHART, ClassifierTrainer.CONFUSION)).toList());
    private static final Pattern PENDING = Pattern.compile("\\.metrics-([0-9a-f]{16})\\.jsonl");

    private RunFolder() {
    }

    /**
     * What a folder holds, for a new run into it.
     *
     * @param runFiles   names a training run writes (hidden ones not listed), sorted
     * @param otherFiles any other names that do not start with a dot, sorted
     * @param state      the state of its newest complete checkpoint, or null when it has none or it does not read
     */
    public record Contents(List<String> runFiles, List<String> otherFiles, TrainerState state) {
        /** Whether a new run here touches nothing. */
        public boolean isEmpty() {
            return runFiles.isEmpty() && otherFiles.isEmpty();
        }

        /**
         * Whether the folder holds only what a run stopped before its first checkpoint wrote (metrics, a chart):
         * nothing that can be resumed or loaded, so nothing for a new run to keep.
         */
        public boolean stoppedBeforeCheckpoint() {
            return !runFiles.isEmpty() && otherFiles.isEmpty() && state == null
                    && Set.of(METRICS, CHART).containsAll(runFiles);
        }

        /** Whether a new run may start here without --force: the folder is empty, or as {@link #stoppedBeforeCheckpoint}. */
        public boolean isFree() {
            return isEmpty() || stoppedBeforeCheckpoint();
        }
    }

    /** Lists {@code out} (which need not exist) for {@link Contents}. */
    public static Contents inspect(Path out) {
        List<String> run = new ArrayList<>(), other = new ArrayList<>();
        if (Files.isDirectory(out)) {
            try (Stream<Path> entries = Files.list(out)) {
                entries.map(p -> p.getFileName().toString()).filter(name -> !name.startsWith(".")).sorted()
                        .forEach(name -> (RUN_FILES.contains(name) ? run : other).add(name));
            } catch (IOException | UncheckedIOException e) {
                throw new LumensparkException("cannot list " + out + ": " + e.getMessage(), e);
            }
        }
        boolean checkpoint = Files.exists(out.resolve(Checkpoint.FOLDER).resolve(Checkpoint.STATE))
                || Files.exists(out.resolve(Checkpoint.OLD).resolve(Checkpoint.STATE));
        if (checkpoint && !run.contains(Checkpoint.FOLDER)) run.addFirst(Checkpoint.FOLDER); // only .checkpoint.old
        TrainerState state = null;
        if (checkpoint) {
            try {
                state = TrainerState.read(out);
            } catch (LumensparkException unreadable) {
                // still a run's checkpoint, just not one we can describe
            }
        }
        return new Contents(List.copyOf(run), List.copyOf(other), state);
    }

    /** The error for a new run into a folder that is not empty, without --force. */
    static LumensparkException refusal(Path out, Contents c) {
        if (c.state() != null) {
            TrainOptions o = c.state().options();
            return new LumensparkException("--out " + out + " holds a training run (checkpoint at step "
                    + c.state().step() + " of " + o.steps() + "); continue it with --resume (--steps N to train it"
                    + " longer), replace it with --force, or choose another --out");
        }
        if (!c.runFiles().isEmpty()) {
            return new LumensparkException("--out " + out + " holds files of an earlier training run ("
                    + list(c.runFiles()) + "); replace them with --force, or choose another --out");
        }
        return new LumensparkException("--out " + out + " holds other files (" + list(c.otherFiles())
                + "); train there anyway with --force (they are left alone), or choose another --out");
    }

    private static String list(List<String> names) {
        return String.join(", ", names.subList(0, Math.min(3, names.size()))) + (names.size() > 3 ? ", ..." : "");
    }

    /** Where a replacing run keeps its metrics until its first checkpoint. */
    static Path pendingMetrics(Path out, String runId) {
        return out.resolve(".metrics-" + runId + ".jsonl");
    }

    /**
     * Clears what killed runs left in {@code out}; the caller holds its lock. Temporary files of interrupted writes
     * and an unfinished checkpoint folder go. Hidden metrics of the run whose checkpoint is in the folder
     * ({@code runId}) are moved into place ({@link #promote}); those of other runs (replacing runs that never
     * reached a checkpoint) are deleted.
     */
    static void tidy(Path out, String runId) {
        AtomicFiles.deleteStaleTemporaries(out);
        AtomicFiles.deleteTree(out.resolve(Checkpoint.TMP));
        List<Path> pending;
        try (Stream<Path> entries = Files.list(out)) {
            pending = entries.filter(p -> PENDING.matcher(p.getFileName().toString()).matches()).sorted().toList();
        } catch (IOException | UncheckedIOException e) {
            throw new LumensparkException("cannot list " + out + ": " + e.getMessage(), e);
        }
        for (Path p : pending) {
            Matcher m = PENDING.matcher(p.getFileName().toString());
            if (m.matches() && m.group(1).equals(runId)) {
                promote(out, p);
            } else {
                AtomicFiles.deleteTree(p);
            }
        }
    }

    /**
     * The run id that the newest complete checkpoint in out records (a language model's run or a classifier's),
     * or null when there is none, or its state does not read or names none.
     */
    static String runId(Path out) {
        try {
            JsonNode id = Json.read(Checkpoint.find(out).resolve(Checkpoint.STATE)).path("run_id");
            return id.isTextual() ? id.asText() : null;
        } catch (LumensparkException noneOrUnreadable) {
            return null;
        }
    }

    /**
     * Makes a replacing run, whose first checkpoint is in place, the only run in the folder: its hidden metrics
     * become metrics.jsonl (an open log goes on writing to the same file), and the earlier run's final model and
     * charts are deleted.
     */
    static void promote(Path out, Path pending) {
        try {
            Files.move(pending, out.resolve(METRICS), StandardCopyOption.ATOMIC_MOVE,
                    StandardCopyOption.REPLACE_EXISTING);
            for (String name : MODEL_FILES) Files.deleteIfExists(out.resolve(name));
            Files.deleteIfExists(out.resolve(CHART));
            Files.deleteIfExists(out.resolve(ClassifierTrainer.CONFUSION));
        } catch (IOException e) {
            throw new LumensparkException("cannot replace the earlier run's files in " + out + ": " + e.getMessage(),
                    e);
        }
    }

    /** Deletes the metrics and chart of a run stopped before its first checkpoint (see {@link Contents#stoppedBeforeCheckpoint}). */
    static void removeRunFiles(Path out) {
        try {
            Files.deleteIfExists(out.resolve(METRICS));
            Files.deleteIfExists(out.resolve(CHART));
        } catch (IOException e) {
            throw new LumensparkException("cannot remove the earlier run's files in " + out + ": " + e.getMessage(), e);
        }
    }
}
