package io.lumenspark.cli;

import io.lumenspark.Labeled;
import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.io.Charts;
import io.lumenspark.io.Json;
import io.lumenspark.io.ProgressBars;
import io.lumenspark.model.ProblemType;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.pretrained.TextClassifier;
import io.lumenspark.pretrained.Truncation;
import io.lumenspark.training.ClassificationMetrics;
import io.lumenspark.training.ClassificationTargets;
import io.lumenspark.training.ClassifierTrainer;
import io.lumenspark.training.LabeledText;
import io.lumenspark.training.TfidfNaiveBayes;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Measure a classifier on labeled records: accuracy, macro- and weighted-F1, per-class precision,"
                + " recall and F1, Matthews correlation, ROC-AUC (two classes) and the confusion matrix.")
final class ClassifyEvalCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Mixin
    ModelOption model;

    @Option(names = "--data", required = true, paramLabel = "FILE|DIR", description = "CSV or JSON lines files, or folders of them.")
    List<Path> data;

    @Mixin
    RecordOptions records;

    @Option(names = "--label-separator", paramLabel = "SEP", description = "Separates a multi-label record's labels"
            + " (default: the one the model was trained with).")
    String separator;

    @Option(names = "--truncate", paramLabel = "left|right", description = "left or right (default: ${DEFAULT-VALUE}).")
    String truncate = "right";

    @Option(names = "--batch", paramLabel = "N", description = "Texts per forward pass (default: ${DEFAULT-VALUE}).")
    int batch = TextClassifier.BATCH;

    @Option(names = "--baseline", paramLabel = "TRAIN", description = "Also fit the TF-IDF + naive Bayes baseline"
            + " on these training records and measure it on the same --data.")
    List<Path> baseline;

    @Option(names = "--png", paramLabel = "FILE", description = "Draw the confusion matrix into this PNG file.")
    Path png;

    @Option(names = "--json", description = "Print the metrics as one JSON object.")
    boolean json;

    @Override
    public Integer call() {
        runtime.apply();
        if (batch < 1) throw new LumensparkException("--batch must be at least 1");
        if (separator != null && separator.isEmpty()) {
            throw new LumensparkException("--label-separator must not be empty");
        }
        List<LabeledText> test = records.readAll(data);
        Truncation truncation = Labeled.parse(Truncation.class, truncate, "--truncate");
        Map<String, Object> result = new LinkedHashMap<>();
        try (TextClassifier classifier = new TextClassifier(LumensparkModel.fromPretrained(model.dir()), truncation)) {
            ProblemType type = classifier.problemType();
            if (baseline != null && type != ProblemType.SINGLE_LABEL_CLASSIFICATION) {
                throw new LumensparkException("--baseline is for one label per text; this model is " + type);
            }
            ClassificationTargets targets = ClassificationTargets.forLabels(type,
                    separator != null ? separator : classifier.labelSeparator().orElse(null), classifier.labels());
            float[][] logits = new float[test.size()][];
            float[][] truth = new float[test.size()][];
            long cut = 0;
            try (ProgressBars.Bar bar = ProgressBars.open("eval", test.size(), 0, ProgressBars.Unit.COUNT)) {
                for (int from = 0; from < test.size(); from += batch) {
                    int to = Math.min(test.size(), from + batch);
                    List<int[]> ids = new ArrayList<>();
                    for (int i = from; i < to; i++) {
                        truth[i] = targets.vector(test.get(i)); // an unknown label fails before any work
                        TextClassifier.Encoded e = classifier.encode(test.get(i).text());
                        ids.add(e.ids());
                        if (e.truncated()) cut++;
                    }
                    float[][] part = TextClassifier.logits(classifier.languageModel(), ids);
                    System.arraycopy(part, 0, logits, from, part.length);
                    bar.stepTo(to);
                }
            }
            result.put("texts", test.size());
            result.put("truncated_texts", cut);
            switch (type) {
                case SINGLE_LABEL_CLASSIFICATION -> {
                    ClassificationMetrics m = ClassifierTrainer.evaluate(targets, logits, test);
                    result.putAll(m.toMap());
                    if (png != null) Charts.writeConfusion(png, "Confusion matrix: " + model.dir().getFileName(),
                            m.labels(), m.confusion());
                    if (!json) System.out.print(m.report());
                    if (baseline != null) {
                        List<LabeledText> train = records.readAll(baseline);
                        long start = System.nanoTime();
                        ClassificationMetrics b = TfidfNaiveBayes.trainAndEvaluate(targets, train, test);
                        Map<String, Object> bm = b.toMap();
                        bm.put("seconds", Math.round((System.nanoTime() - start) / 1e7) / 100.0); // fit + predict
                        result.put("baseline", bm);
                        if (!json) {
                            System.out.printf("baseline (TF-IDF word 1-2-grams + multinomial naive Bayes, fitted on"
                                    + " %s):%n%s", String.join(", ", baseline.stream().map(Path::toString).toList()),
                                    b.report());
                        }
                    }
                }
                case MULTI_LABEL_CLASSIFICATION -> {
                    long exact = 0;
                    for (int i = 0; i < logits.length; i++) {
                        boolean same = true;
                        for (int j = 0; j < logits[i].length; j++) same &= (logits[i][j] >= 0) == (truth[i][j] > 0.5);
                        if (same) exact++;
                    }
                    result.put("accuracy", (double) exact / Math.max(1, logits.length));
                    result.put("macro_f1", ClassificationMetrics.multiLabelMacroF1(truth, logits));
                    if (!json) {
                        System.out.printf("exact-match accuracy %.4f  macro-F1 (over labels) %.4f%n",
                                result.get("accuracy"), result.get("macro_f1"));
                    }
                }
                case REGRESSION -> {
                    double se = 0, ae = 0;
                    for (int i = 0; i < logits.length; i++) {
                        double e = logits[i][0] - truth[i][0];
                        se += e * e;
                        ae += Math.abs(e);
                    }
                    result.put("mse", se / Math.max(1, logits.length));
                    result.put("mae", ae / Math.max(1, logits.length));
                    if (!json) System.out.printf("MSE %.6f  MAE %.6f%n", result.get("mse"), result.get("mae"));
                }
            }
            if (!json && cut > 0) {
                System.out.printf("%s cut to the model's %d tokens (--truncate %s)%n", Words.count(cut, "text"),
                        classifier.languageModel().config().seqLength(), truncation);
            }
        }
        if (json) System.out.println(Json.toLine(result));
        return 0;
    }
}
