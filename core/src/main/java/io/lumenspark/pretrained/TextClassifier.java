package io.lumenspark.pretrained;

import io.lumenspark.LumensparkException;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.ProblemType;
import io.lumenspark.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * A sequence classifier's folder ready for text: its tokenizer turns each text into at most seq_length tokens
 * (cut at one end, {@link Truncation}, then the end-of-text token appended, which the last-token pooling of a
 * causal model reads), batches are padded at the end of each row, and the logits become probabilities (softmax
 * for one label per text, a sigmoid per label for several) or a number (regression).
 *
 * <pre>{@code
 * try (TextClassifier classifier = TextClassifier.fromPretrained(Path.of("runs/spam"))) {
 *     System.out.println(classifier.predict(List.of("WIN A FREE CRUISE")).getFirst().label());
 * }
 * }</pre>
 *
 * <p>Thread-safe: one classifier serves any number of threads (their passes take turns on the model).
 */
public final class TextClassifier implements AutoCloseable {
    /** Texts per forward pass in {@link #predict}. */
    public static final int BATCH = 16;

    /**
     * One text's prediction.
     *
     * @param label  the most probable label (regression: the label "LABEL_0")
     * @param labels multi-label: every label of probability at least 0.5 (possibly none); otherwise the label
     * @param scores by label id: probabilities (softmax, or a sigmoid per label for multi-label), or the
     *               predicted number (regression)
     */
    public record Prediction(String label, List<String> labels, double[] scores) {
        /** The predicted number of a regression, or the top label's probability. */
        public double score() {
            return Arrays.stream(scores).max().orElse(Double.NaN);
        }
    }

    /** A text as token ids, and whether it was cut to fit. */
    public record Encoded(int[] ids, boolean truncated) {
    }

    private final LumensparkModel model;
    private final ModelConfig config;
    private final Tokenizer tokenizer;
    private final Truncation truncation;

    /**
     * A classifier over a loaded model (taken over: closing this closes it).
     *
     * @throws LumensparkException when the model is not a sequence classifier or has no usable tokenizer
     */
    public TextClassifier(LumensparkModel model, Truncation truncation) {
        this.model = model;
        this.config = model.languageModel().config();
        if (!config.isClassifier()) {
            model.close();
            throw new LumensparkException("not a classifier: the model's objective is " + config.objective()
                    + " (train one with lumenspark classify train)");
        }
        this.tokenizer = model.tokenizer();
        this.truncation = truncation;
    }

    /**
     * Opens a classifier folder for inference (weights memory-mapped), texts cut at their end.
     *
     * @throws LumensparkException for a missing or malformed folder, or one that is not a classifier's
     */
    public static TextClassifier fromPretrained(Path dir) {
        return new TextClassifier(LumensparkModel.fromPretrained(dir), Truncation.RIGHT);
    }

    /** The labels by id. */
    public List<String> labels() {
        return config.labels();
    }

    /**
     * The separator of a record's labels for a multi-label classifier: the one it was trained with (config.json's
     * label_separator); empty for the other problem types.
     */
    public Optional<String> labelSeparator() {
        return Optional.ofNullable(config.labelSeparator());
    }

    /** What the outputs mean. */
    public ProblemType problemType() {
        return config.problemType();
    }

    /** The model underneath. */
    public LanguageModel languageModel() {
        return model.languageModel();
    }

    /** A text's token ids: cut to seq_length - 1 tokens at the truncation end, then end-of-text. */
    public Encoded encode(String text) {
        return encode(tokenizer, text, config.seqLength(), truncation);
    }

    /** {@link #encode(String)} with a given tokenizer, window and truncation (training encodes with it too). */
    public static Encoded encode(Tokenizer tokenizer, String text, int seqLength, Truncation truncation) {
        int[] ids = tokenizer.encode(text);
        int keep = seqLength - 1;
        boolean cut = ids.length > keep;
        if (cut) {
            ids = truncation == Truncation.LEFT ? Arrays.copyOfRange(ids, ids.length - keep, ids.length)
                    : Arrays.copyOf(ids, keep);
        }
        int[] out = Arrays.copyOf(ids, ids.length + 1);
        out[ids.length] = tokenizer.eosId();
        return new Encoded(out, cut);
    }

    /**
     * Logits [texts, num_labels] of encoded texts, as one batch padded to the longest (the padding id is the
     * model's pad_token_id, else end-of-text: padding changes no logit).
     */
    public static float[][] logits(LanguageModel model, List<int[]> texts) {
        int batch = texts.size(), n = 1, labels = model.config().numLabels();
        for (int[] t : texts) n = Math.max(n, t.length);
        int pad = Math.max(0, model.config().padTokenId());
        int[] inputs = new int[batch * n], lengths = new int[batch];
        Arrays.fill(inputs, pad);
        for (int b = 0; b < batch; b++) {
            int[] t = texts.get(b);
            System.arraycopy(t, 0, inputs, b * n, t.length);
            lengths[b] = t.length;
        }
        float[] flat = model.classify(inputs, lengths, batch, n);
        float[][] out = new float[batch][];
        for (int b = 0; b < batch; b++) out[b] = Arrays.copyOfRange(flat, b * labels, (b + 1) * labels);
        return out;
    }

    /** Predictions for texts, in their order ({@link #BATCH} texts per pass). */
    public List<Prediction> predict(List<String> texts) {
        List<Prediction> out = new ArrayList<>(texts.size());
        for (int from = 0; from < texts.size(); from += BATCH) {
            List<int[]> ids = new ArrayList<>();
            for (String t : texts.subList(from, Math.min(texts.size(), from + BATCH))) ids.add(encode(t).ids());
            for (float[] row : logits(model.languageModel(), ids)) out.add(prediction(row));
        }
        return out;
    }

    /** A prediction from one text's logits. */
    public Prediction prediction(float[] logits) {
        double[] scores = scores(config.problemType(), logits);
        List<String> names = config.labels();
        int top = 0;
        for (int j = 1; j < scores.length; j++) if (scores[j] > scores[top]) top = j;
        List<String> chosen = new ArrayList<>();
        if (config.problemType() == ProblemType.MULTI_LABEL_CLASSIFICATION) {
            for (int j = 0; j < scores.length; j++) if (scores[j] >= 0.5) chosen.add(names.get(j));
        } else {
            chosen.add(names.get(top));
        }
        return new Prediction(names.get(top), List.copyOf(chosen), scores);
    }

    /** Probabilities (softmax, or sigmoids for multi-label) or, for regression, the logit itself. */
    public static double[] scores(ProblemType type, float[] logits) {
        double[] p = new double[logits.length];
        switch (type) {
            case REGRESSION -> p[0] = logits[0];
            case MULTI_LABEL_CLASSIFICATION -> {
                for (int j = 0; j < p.length; j++) p[j] = 1 / (1 + Math.exp(-logits[j]));
            }
            case SINGLE_LABEL_CLASSIFICATION -> {
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (float l : logits) max = Math.max(max, l);
                for (int j = 0; j < p.length; j++) sum += p[j] = Math.exp(logits[j] - max);
                for (int j = 0; j < p.length; j++) p[j] /= sum;
            }
        }
        return p;
    }

    @Override
    public void close() {
        model.close();
    }
}
