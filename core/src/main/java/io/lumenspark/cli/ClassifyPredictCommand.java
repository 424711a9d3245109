package io.lumenspark.cli;

import io.lumenspark.Labeled;
import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.corpus.LabeledRecords;
import io.lumenspark.io.Json;
import io.lumenspark.io.ProgressBars;
import io.lumenspark.model.ProblemType;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.pretrained.TextClassifier;
import io.lumenspark.pretrained.Truncation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "predict", mixinStandardHelpOptions = true,
        description = {"Label texts with a classifier: --text, or every record of --file (JSON lines, CSV, or one"
                + " text per line of any other file), streamed a batch at a time, the output in input order.",
                "Each line: the label and its probability (--top-k: the k most probable), or with --json one object"
                        + " per text."})
final class ClassifyPredictCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Mixin
    ModelOption model;

    @Option(names = "--text", paramLabel = "TEXT", description = "A text to classify (repeatable).")
    List<String> texts;

    @Option(names = "--file", paramLabel = "FILE", description = "A file of texts.")
    Path file;

    @Option(names = {"--text-column", "--text-field"}, paramLabel = "NAME", description = "CSV column or JSON lines"
            + " field of the text (default: ${DEFAULT-VALUE}).")
    String textKey = "text";

    @Option(names = "--skip-bad-records", description = "Skip (and count) bad records instead of stopping at the"
            + " first, which names its line.")
    boolean skipBad;

    @Option(names = "--label-separator", paramLabel = "SEP", description = "Joins a multi-label prediction's labels"
            + " in the text output (default: the one the model was trained with).")
    String separator;

    @Option(names = "--top-k", paramLabel = "K", description = "Show the k most probable labels (default: ${DEFAULT-VALUE}).")
    int topK = 1;

    @Option(names = "--truncate", paramLabel = "left|right", description = "left or right (default: ${DEFAULT-VALUE}).")
    String truncate = "right";

    @Option(names = "--batch", paramLabel = "N", description = "Texts per forward pass (default: ${DEFAULT-VALUE}).")
    int batch = TextClassifier.BATCH;

    @Option(names = "--json", description = "One JSON object per text: line (--file) or text (--text), label,"
            + " score, top_k (multi-label: also labels; regression: value).")
    boolean json;

    @Override
    public Integer call() {
        runtime.apply();
        if ((texts == null) == (file == null)) throw new LumensparkException("give --text or --file (one of them)");
        if (topK < 1) throw new LumensparkException("--top-k must be at least 1");
        if (batch < 1) throw new LumensparkException("--batch must be at least 1");
        if (separator != null && separator.isEmpty()) {
            throw new LumensparkException("--label-separator must not be empty");
        }
        Truncation truncation = Labeled.parse(Truncation.class, truncate, "--truncate");
        PrintStream out = System.out;
        try (TextClassifier classifier = new TextClassifier(LumensparkModel.fromPretrained(model.dir()), truncation)) {
            if (texts != null) {
                List<TextClassifier.Prediction> p = classifier.predict(texts);
                for (int i = 0; i < p.size(); i++) out.println(line(classifier, p.get(i), i + 1));
                return 0;
            }
            long skipped;
            try (LabeledRecords in = LabeledRecords.open(file, textKey, null, skipBad);
                 ProgressBars.Bar bar = ProgressBars.open("predict", -1, 0, ProgressBars.Unit.COUNT)) {
                List<LabeledRecords.Record> chunk = new ArrayList<>(batch);
                long done = 0;
                for (LabeledRecords.Record r; ; ) {
                    r = in.next();
                    if (r != null) chunk.add(r);
                    if (chunk.size() == batch || (r == null && !chunk.isEmpty())) {
                        List<int[]> ids = new ArrayList<>(chunk.size());
                        for (LabeledRecords.Record c : chunk) ids.add(classifier.encode(c.text()).ids());
                        float[][] logits = TextClassifier.logits(classifier.languageModel(), ids);
                        for (int i = 0; i < chunk.size(); i++) {
                            out.println(line(classifier, classifier.prediction(logits[i]), chunk.get(i).line()));
                        }
                        out.flush();
                        done += chunk.size();
                        bar.stepTo(done);
                        chunk.clear();
                    }
                    if (r == null) break;
                }
                skipped = in.skipped();
            }
            if (skipped > 0) System.err.printf("warning: skipped %s%n", Words.count(skipped, "bad record"));
        }
        return 0;
    }

    /** One prediction's output line; source is the record's line number (--file) or the --text's place (from 1). */
    private String line(TextClassifier classifier, TextClassifier.Prediction p, long source) {
        ProblemType type = classifier.problemType();
        List<String> labels = classifier.labels();
        double[] s = p.scores();
        Integer[] order = new Integer[s.length];
        for (int j = 0; j < s.length; j++) order[j] = j;
        Arrays.sort(order, (a, b) -> Double.compare(s[b], s[a]));
        int k = Math.min(topK, s.length);
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("line", source); // the file's line, or the --text's place among them (from 1)
            if (type == ProblemType.REGRESSION) {
                m.put("value", s[0]);
                return Json.toLine(m);
            }
            m.put("label", p.label());
            m.put("score", s[order[0]]);
            if (type == ProblemType.MULTI_LABEL_CLASSIFICATION) m.put("labels", p.labels());
            List<Map<String, Object>> top = new ArrayList<>();
            for (int j = 0; j < k; j++) {
                Map<String, Object> one = new LinkedHashMap<>();
                one.put("label", labels.get(order[j]));
                one.put("score", s[order[j]]);
                top.add(one);
            }
            m.put("top_k", top);
            return Json.toLine(m);
        }
        if (type == ProblemType.REGRESSION) return String.format("%.6g", s[0]);
        StringBuilder b = new StringBuilder();
        if (type == ProblemType.MULTI_LABEL_CLASSIFICATION) {
            b.append(String.join(separator != null ? separator : classifier.labelSeparator().orElseThrow(),
                    p.labels())).append('\t');
        }
        for (int j = 0; j < k; j++) {
            if (j > 0) b.append('\t');
            b.append(labels.get(order[j])).append('\t').append(String.format("%.4f", s[order[j]]));
        }
        return b.toString();
    }
}
