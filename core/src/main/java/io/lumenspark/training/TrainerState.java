package io.lumenspark.training;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.type.LogicalType;
import io.lumenspark.Home;
import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.engine.Parallel;
import io.lumenspark.io.Json;
import io.lumenspark.model.ModelConfig;

import java.lang.reflect.RecordComponent;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * A checkpoint's trainer_state.json: how far the run is and how it was made. {@link #read} checks all of it, so
 * a resumed run refuses a damaged or edited file with one line naming the file and the key before it touches
 * anything.
 *
 * @param step          optimizer steps done, 1 to options.steps
 * @param threads       the thread count the run computed with (a resumed run needs it to repeat the numbers)
 * @param backend       the matrix backend's name (informative)
 * @param dataKey       the training data's content key ("" when unknown)
 * @param runId         16 hex digits naming the run (null in checkpoints written before it existed)
 * @param objective     what the run optimizes ({@link Objective#name}; "causal_lm" in checkpoints written before
 *                      objectives were recorded)
 * @param warmupSteps   the warm-up length the run started with; it stays when --steps changes later
 * @param budgetChanges each change of the step budget: {"at_step", "from", "to"}
 * @param options       the run's settings, options.steps its current step budget
 */
public record TrainerState(long step, int threads, String backend, String dataKey, String runId, String objective,
                           long warmupSteps, List<Map<String, Object>> budgetChanges, TrainOptions options) {
    private static final Pattern RUN_ID = Pattern.compile("[0-9a-f]{16}");
    private static final Set<String> OPTIONAL_OPTIONS = Set.of("init", "out", "tokenizer", "objective",
            "precision");
    private static final Set<String> KEYS = Set.of("step", "threads", "backend", "data_key", "run_id", "objective",
            "warmup_steps", "step_budget_changes", "options");
    /** The objectives this version trains. */
    private static final List<String> OBJECTIVES = List.of(CausalLmObjective.NAME, MaskedLmObjective.NAME);

    /**
     * The project's mapper without Jackson's scalar coercions, for the options: "2" is not a batch of 2, 1.5 not a
     * seed of 1, 16 not the text "16" (Jackson takes all of these by default).
     */
    private static final ObjectMapper STRICT = Json.mapper().copy();

    static {
        for (LogicalType type : new LogicalType[]{LogicalType.Integer, LogicalType.Float, LogicalType.Boolean}) {
            STRICT.coercionConfigFor(type).setCoercion(CoercionInputShape.String, CoercionAction.Fail);
        }
        STRICT.coercionConfigFor(LogicalType.Integer).setCoercion(CoercionInputShape.Float, CoercionAction.Fail);
        for (CoercionInputShape shape : new CoercionInputShape[]{CoercionInputShape.Integer, CoercionInputShape.Float,
                CoercionInputShape.Boolean}) {
            STRICT.coercionConfigFor(LogicalType.Textual).setCoercion(shape, CoercionAction.Fail);
        }
    }

    /** Copies the list of changes. */
    public TrainerState {
        budgetChanges = List.copyOf(budgetChanges);
    }

    /** The file's content, in its key order. */
    public Map<String, Object> toMap() {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("step", step);
        s.put("threads", threads);
        s.put("backend", backend);
        s.put("data_key", dataKey);
        s.put("run_id", runId);
        s.put("objective", objective);
        s.put("warmup_steps", warmupSteps);
        s.put("step_budget_changes", budgetChanges);
        s.put("options", Json.mapper().convertValue(options, new TypeReference<Map<String, Object>>() {
        }));
        return s;
    }

    /**
     * Reads and checks the state of the newest complete checkpoint in a run folder (its options with {@code out}
     * as their folder).
     *
     * @throws LumensparkException if there is no checkpoint, or naming the file and key of the first problem
     */
    public static TrainerState read(Path out) {
        Path file = Checkpoint.find(out).resolve(Checkpoint.STATE);
        JsonNode node = Json.read(file);
        if (!node.isObject()) throw new LumensparkException(file + ": expected a JSON object");
        if (ClassifierTrainer.KIND.equals(node.path("kind").asText())) {
            throw new LumensparkException(out + " is a text classifier's run; continue it with " + Home.command()
                    + " classify train --resume --out " + Words.shellWord(out.toString()) + " --data ...");
        }
        for (var it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!KEYS.contains(key)) throw new LumensparkException(file + ": unknown key \"" + key + "\"");
        }
        TrainOptions options = options(file, node.get("options")).withOut(out);
        long step = whole(file, node, "step", 1, options.steps(), " (\"options.steps\")", "");
        int threads = (int) whole(file, node, "threads", 1, Parallel.MAX_THREADS, " (what --threads allows)", "");
        String backend = text(file, node, "backend");
        String dataKey = text(file, node, "data_key");
        String runId = node.hasNonNull("run_id") ? text(file, node, "run_id") : null;
        if (runId != null && !RUN_ID.matcher(runId).matches()) {
            throw new LumensparkException(file + ": \"run_id\" must be 16 hex digits, got \"" + runId + "\"");
        }
        String objective = node.has("objective") ? text(file, node, "objective") : CausalLmObjective.NAME;
        if (!OBJECTIVES.contains(objective)) {
            throw new LumensparkException(file + ": \"objective\" must be one of " + String.join(", ", OBJECTIVES)
                    + ", got " + Json.toLine(objective));
        }
        if (!objective.equals(options.objective().label())) {
            throw new LumensparkException(file + ": \"objective\" is " + Json.toLine(objective) + " but"
                    + " \"options.objective\" is " + Json.toLine(options.objective().label()));
        }
        List<Map<String, Object>> changes = new ArrayList<>();
        long longest = options.steps(); // the warm-up was set for the first budget, which may have been larger
        JsonNode list = node.get("step_budget_changes");
        if (list != null) {
            if (!list.isArray()) throw new LumensparkException(file + ": \"step_budget_changes\" must be a list");
            for (JsonNode change : list) {
                String where = "step_budget_changes[" + changes.size() + "]";
                if (!change.isObject()) throw new LumensparkException(file + ": \"" + where + "\" must be an object");
                for (String key : List.of("at_step", "from", "to")) {
                    whole(file, change, key, 1, Long.MAX_VALUE, "", where + ".");
                }
                longest = Math.max(longest, change.get("from").asLong());
                changes.add(Json.mapper().convertValue(change, new TypeReference<Map<String, Object>>() {
                }));
            }
        }
        long warmup = node.has("warmup_steps")
                ? whole(file, node, "warmup_steps", 0, longest, " (the longest \"options.steps\" of the run)", "")
                : options.warmupSteps();
        return new TrainerState(step, threads, backend == null ? "" : backend, dataKey == null ? "" : dataKey, runId,
                objective, warmup, changes, options);
    }

    /** The whole number at node.key, named prefix + key in messages. */
    static long whole(Path file, JsonNode node, String key, long min, long max, String maxName,
                      String prefix) {
        JsonNode v = node.get(key);
        String name = "\"" + prefix + key + "\"";
        if (v == null) throw new LumensparkException(file + ": " + name + " is missing");
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw new LumensparkException(file + ": " + name + " must be a whole number, got " + v);
        }
        long x = v.asLong();
        if (x < min || x > max) {
            throw new LumensparkException(file + ": " + name + " is " + x + "; it must be from " + min + " to "
                    + max + maxName);
        }
        return x;
    }

    private static String text(Path file, JsonNode node, String key) {
        JsonNode v = node.get(key);
        if (v == null) return null;
        if (!v.isTextual()) throw new LumensparkException(file + ": \"" + key + "\" must be a string, got " + v);
        return v.asText();
    }

    private static TrainOptions options(Path file, JsonNode node) {
        if (node == null || !node.isObject()) {
            throw new LumensparkException(file + ": \"options\" is " + (node == null ? "missing" : "not an object"));
        }
        for (RecordComponent c : TrainOptions.class.getRecordComponents()) {
            if (!OPTIONAL_OPTIONS.contains(c.getName()) && !node.hasNonNull(c.getName())) {
                throw new LumensparkException(file + ": \"options." + c.getName() + "\" is missing");
            }
        }
        TrainOptions options;
        try {
            options = STRICT.treeToValue(node, TrainOptions.class);
        } catch (JsonProcessingException | IllegalArgumentException e) {
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof LumensparkException invalid) {
                    throw new LumensparkException(file + ": \"options\": " + invalid.getMessage(), e);
                }
            }
            String key = e instanceof JsonMappingException m ? m.getPath().stream()
                    .map(r -> r.getFieldName() != null ? "." + r.getFieldName() : "[" + r.getIndex() + "]")
                    .collect(Collectors.joining()) : "";
            if (e instanceof UnrecognizedPropertyException) {
                throw new LumensparkException(file + ": unknown key \"options" + key + "\"", e);
            }
            throw new LumensparkException(file + ": bad value for \"options" + key + "\"", e);
        }
        try { // as train checks them: a preset and overrides that make a valid model
            ModelConfig.preset(options.preset()).with(options.overrides(), "\"options.overrides\"");
        } catch (LumensparkException invalid) {
            throw new LumensparkException(file + ": " + invalid.getMessage(), invalid);
        }
        return options;
    }
}
