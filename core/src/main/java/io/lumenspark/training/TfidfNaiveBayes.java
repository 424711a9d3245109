package io.lumenspark.training;

import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The baseline a neural classifier has to beat: TF-IDF over word uni- and bigrams with multinomial naive Bayes, as
 * scikit-learn's {@code make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2), MultinomialNB(alpha=0.1))}
 * computes it: words are runs of letters and digits, lowercased; idf = ln((1 + N) / (1 + df)) + 1 (smoothed); each
 * text's vector is L2-normalized; terms in fewer than two training texts are dropped.
 */
public final class TfidfNaiveBayes {
    /** Additive smoothing of the per-class term weights. */
    static final double ALPHA = 0.1;
    private static final Pattern WORD = Pattern.compile("[\\p{L}\\p{N}]+");

    private final Map<String, Integer> vocabulary;
    private final double[] idf;
    private final double[][] logProb; // [class][term]
    private final double[] logPrior;

    private TfidfNaiveBayes(Map<String, Integer> vocabulary, double[] idf, double[][] logProb, double[] logPrior) {
        this.vocabulary = vocabulary;
        this.idf = idf;
        this.logProb = logProb;
        this.logPrior = logPrior;
    }

    /** Fits on texts with class ids 0..classes-1. */
    public static TfidfNaiveBayes fit(List<String> texts, int[] classIds, int classes) {
        Map<String, Integer> df = new HashMap<>();
        for (String t : texts) for (String term : counts(t).keySet()) df.merge(term, 1, Integer::sum);
        Map<String, Integer> vocabulary = new HashMap<>();
        for (var e : df.entrySet()) if (e.getValue() >= 2) vocabulary.put(e.getKey(), vocabulary.size());
        int v = vocabulary.size(), n = texts.size();
        double[] idf = new double[v];
        for (var e : vocabulary.entrySet()) idf[e.getValue()] = Math.log((1.0 + n) / (1.0 + df.get(e.getKey()))) + 1;
        double[][] featureSum = new double[classes][v];
        long[] classCount = new long[classes];
        for (int i = 0; i < n; i++) {
            classCount[classIds[i]]++;
            for (var e : vector(texts.get(i), vocabulary, idf).entrySet()) {
                featureSum[classIds[i]][e.getKey()] += e.getValue();
            }
        }
        double[][] logProb = new double[classes][v];
        double[] logPrior = new double[classes];
        for (int c = 0; c < classes; c++) {
            double total = 0;
            for (double x : featureSum[c]) total += x;
            for (int t = 0; t < v; t++) logProb[c][t] = Math.log((featureSum[c][t] + ALPHA) / (total + ALPHA * v));
            logPrior[c] = Math.log(Math.max(classCount[c], 1e-300) / n);
        }
        return new TfidfNaiveBayes(vocabulary, idf, logProb, logPrior);
    }

    /**
     * The baseline fitted on train and measured on test (single-label; class ids and the binary ROC AUC's
     * positive class as targets has them).
     *
     * @throws io.lumenspark.LumensparkException for a record whose label the targets do not know
     */
    public static ClassificationMetrics trainAndEvaluate(ClassificationTargets targets, List<LabeledText> train,
                                                         List<LabeledText> test) {
        int[] ids = new int[train.size()];
        for (int i = 0; i < ids.length; i++) ids[i] = targets.classId(train.get(i));
        int k = targets.labels().size();
        TfidfNaiveBayes nb = fit(train.stream().map(LabeledText::text).toList(), ids, k);
        int[] truth = new int[test.size()], predicted = new int[test.size()];
        double[] positive = new double[test.size()];
        for (int i = 0; i < truth.length; i++) {
            truth[i] = targets.classId(test.get(i));
            double[] p = nb.probabilities(test.get(i).text());
            int top = 0;
            for (int j = 1; j < p.length; j++) if (p[j] > p[top]) top = j;
            predicted[i] = top;
            positive[i] = k == 2 ? p[1] : Double.NaN;
        }
        return ClassificationMetrics.of(targets.labels(), truth, predicted, k == 2 ? positive : null);
    }

    /** The class probabilities of a text (the normalized joint likelihoods). */
    public double[] probabilities(String text) {
        Map<Integer, Double> x = vector(text, vocabulary, idf);
        int k = logPrior.length;
        double[] jll = new double[k];
        double max = Double.NEGATIVE_INFINITY;
        for (int c = 0; c < k; c++) {
            double s = logPrior[c];
            for (var e : x.entrySet()) s += e.getValue() * logProb[c][e.getKey()];
            jll[c] = s;
            max = Math.max(max, s);
        }
        double sum = 0;
        for (int c = 0; c < k; c++) sum += jll[c] = Math.exp(jll[c] - max);
        for (int c = 0; c < k; c++) jll[c] /= sum;
        return jll;
    }

    /** Counts of a text's uni- and bigrams. */
    static Map<String, Integer> counts(String text) {
        Map<String, Integer> c = new HashMap<>();
        Matcher m = WORD.matcher(text.toLowerCase(Locale.ROOT));
        String previous = null;
        while (m.find()) {
            String w = m.group();
            c.merge(w, 1, Integer::sum);
            if (previous != null) c.merge(previous + " " + w, 1, Integer::sum);
            previous = w;
        }
        return c;
    }

    /** A text's L2-normalized tf-idf vector over the vocabulary (sparse: term id to weight). */
    private static Map<Integer, Double> vector(String text, Map<String, Integer> vocabulary, double[] idf) {
        Map<Integer, Double> x = new HashMap<>();
        double norm = 0;
        for (var e : counts(text).entrySet()) {
            Integer id = vocabulary.get(e.getKey());
            if (id == null) continue;
            double w = e.getValue() * idf[id];
            x.put(id, w);
            norm += w * w;
        }
        if (norm > 0) {
            double inv = 1 / Math.sqrt(norm);
            x.replaceAll((id, w) -> w * inv);
        }
        return x;
    }
}
