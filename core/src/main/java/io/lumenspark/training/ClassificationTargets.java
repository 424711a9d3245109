package io.lumenspark.training;

import io.lumenspark.LumensparkException;
import io.lumenspark.model.ProblemType;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * Labels as written turned into what the loss compares the outputs with: a class id (one label per text), a 0/1
 * vector over the labels (multi-label: the label text split at the separator, each part trimmed, empty parts
 * dropped), or a number (regression). Labels are the training set's, sorted, so their ids do not depend on the
 * order of the records.
 */
public final class ClassificationTargets {
    private final ProblemType type;
    private final String separator;
    private final List<String> labels;

    private ClassificationTargets(ProblemType type, String separator, List<String> labels) {
        this.type = type;
        this.separator = separator;
        this.labels = labels;
    }

    /**
     * The labels of the training records.
     *
     * @throws LumensparkException for fewer than two classes, or a regression label that is not a number
     */
    public static ClassificationTargets of(ProblemType type, String separator, List<LabeledText> train) {
        if (type == ProblemType.REGRESSION) {
            ClassificationTargets t = new ClassificationTargets(type, separator, List.of("LABEL_0"));
            for (LabeledText r : train) t.vector(r);
            return t;
        }
        TreeSet<String> names = new TreeSet<>();
        for (LabeledText r : train) names.addAll(parts(type, separator, r));
        if (names.size() < 2) {
            throw new LumensparkException("the training data has " + (names.isEmpty() ? "no labels" : "one label ("
                    + names.first() + ")") + "; a classifier needs at least two");
        }
        return new ClassificationTargets(type, separator, List.copyOf(names));
    }

    /** Targets for an existing classifier's labels (evaluation). */
    public static ClassificationTargets forLabels(ProblemType type, String separator, List<String> labels) {
        return new ClassificationTargets(type, separator, List.copyOf(labels));
    }

    private static List<String> parts(ProblemType type, String separator, LabeledText r) {
        if (type == ProblemType.SINGLE_LABEL_CLASSIFICATION) {
            if (r.label().isEmpty()) throw new LumensparkException(r.source() + ": empty label");
            return List.of(r.label());
        }
        List<String> out = new ArrayList<>();
        for (String p : r.label().split(Pattern.quote(separator), -1)) if (!p.trim().isEmpty()) out.add(p.trim());
        return out;
    }

    /** The labels by id. */
    public List<String> labels() {
        return labels;
    }

    /**
     * A record's class id (single-label).
     *
     * @throws LumensparkException for a label the classifier does not know
     */
    public int classId(LabeledText r) {
        int id = labels.indexOf(r.label());
        if (id < 0) {
            throw new LumensparkException(r.source() + ": label '" + r.label() + "' is not one of the classifier's ("
                    + String.join(", ", labels.subList(0, Math.min(10, labels.size())))
                    + (labels.size() > 10 ? ", ..." : "") + ")");
        }
        return id;
    }

    /**
     * What the loss compares a record's outputs with: one-hot (single-label), 0/1 per label (multi-label), or
     * the number (regression).
     *
     * @throws LumensparkException for an unknown label or a regression label that is not a finite number
     */
    public float[] vector(LabeledText r) {
        float[] v = new float[labels.size()];
        switch (type) {
            case SINGLE_LABEL_CLASSIFICATION -> v[classId(r)] = 1;
            case MULTI_LABEL_CLASSIFICATION -> {
                for (String p : parts(type, separator, r)) v[classId(new LabeledText(r.text(), p, r.source()))] = 1;
            }
            case REGRESSION -> {
                try {
                    v[0] = Float.parseFloat(r.label().trim());
                } catch (NumberFormatException e) {
                    v[0] = Float.NaN;
                }
                if (!Float.isFinite(v[0])) {
                    throw new LumensparkException(r.source() + ": label '" + r.label() + "' is not a number"
                            + " (--regression needs numeric labels)");
                }
            }
        }
        return v;
    }

    /** Balanced class weights over the training records: total / (classes x count), 0 for an absent class. */
    public double[] balancedWeights(List<LabeledText> train) {
        long[] count = new long[labels.size()];
        for (LabeledText r : train) count[classId(r)]++;
        double[] w = new double[count.length];
        for (int c = 0; c < w.length; c++) w[c] = count[c] == 0 ? 0 : (double) train.size() / (w.length * count[c]);
        return w;
    }

    /** Equal weights. */
    public double[] unitWeights() {
        double[] w = new double[labels.size()];
        Arrays.fill(w, 1);
        return w;
    }
}
