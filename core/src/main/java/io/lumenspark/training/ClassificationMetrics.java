package io.lumenspark.training;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The numbers a classifier is judged by, as scikit-learn computes them: accuracy, per-class precision, recall and
 * F1 (0 where undefined: a class never predicted has precision 0, as zero_division=0), their macro mean and their
 * mean weighted by support, Matthews' correlation coefficient (the multiclass form, 0 when undefined), the
 * confusion matrix (rows: true labels, columns: predictions), and for two classes the ROC AUC of the second
 * class's score (tied scores count one half, as the area under the curve through tied points does).
 *
 * @param labels          the class names by id
 * @param confusion       [true][predicted] counts
 * @param accuracy        the share predicted right
 * @param precision       per class
 * @param recall          per class
 * @param f1              per class
 * @param support         texts per true class
 * @param macroF1         the unweighted mean of f1
 * @param weightedF1      the mean of f1 weighted by support
 * @param mcc             Matthews' correlation coefficient
 * @param rocAuc          binary tasks with scores: the area under the ROC curve of class 1; NaN otherwise
 */
public record ClassificationMetrics(List<String> labels, long[][] confusion, double accuracy, double[] precision,
                                    double[] recall, double[] f1, long[] support, double macroF1, double weightedF1,
                                    double mcc, double rocAuc) {

    /**
     * The metrics of predictions against the truth (class ids), with class 1's scores for the binary ROC AUC (null:
     * none).
     */
    public static ClassificationMetrics of(List<String> labels, int[] truth, int[] predicted, double[] positiveScores) {
        int k = labels.size();
        long[][] cm = new long[k][k];
        for (int i = 0; i < truth.length; i++) cm[truth[i]][predicted[i]]++;
        long total = truth.length, correct = 0;
        long[] support = new long[k], predictedCount = new long[k];
        for (int t = 0; t < k; t++) {
            correct += cm[t][t];
            for (int p = 0; p < k; p++) {
                support[t] += cm[t][p];
                predictedCount[p] += cm[t][p];
            }
        }
        double[] precision = new double[k], recall = new double[k], f1 = new double[k];
        double macro = 0, weighted = 0;
        for (int c = 0; c < k; c++) {
            precision[c] = ratio(cm[c][c], predictedCount[c]);
            recall[c] = ratio(cm[c][c], support[c]);
            f1[c] = ratio(2 * cm[c][c], predictedCount[c] + support[c]);
            macro += f1[c] / k;
            weighted += total == 0 ? 0 : f1[c] * support[c] / total;
        }
        // Gorodkin's R_K, as sklearn.metrics.matthews_corrcoef
        double cov = (double) correct * total, pp = (double) total * total, tt = pp;
        for (int c = 0; c < k; c++) {
            cov -= (double) predictedCount[c] * support[c];
            pp -= (double) predictedCount[c] * predictedCount[c];
            tt -= (double) support[c] * support[c];
        }
        double mcc = pp * tt == 0 ? 0 : cov / Math.sqrt(pp * tt);
        double auc = k == 2 && positiveScores != null ? rocAuc(truth, positiveScores) : Double.NaN;
        return new ClassificationMetrics(List.copyOf(labels), cm, ratio(correct, total), precision, recall, f1,
                support, macro, weighted, mcc, auc);
    }

    /**
     * Multi-label: the mean over labels of each label's F1 against 0/1 truth [texts][labels], a label predicted where
     * its logit is at least 0 (its sigmoid at least 0.5).
     */
    public static double multiLabelMacroF1(float[][] truth, float[][] logits) {
        int k = truth.length == 0 ? 0 : truth[0].length;
        double sum = 0;
        for (int j = 0; j < k; j++) {
            long tp = 0, fp = 0, fn = 0;
            for (int i = 0; i < truth.length; i++) {
                boolean yes = truth[i][j] > 0.5, said = logits[i][j] >= 0;
                if (yes && said) tp++;
                else if (said) fp++;
                else if (yes) fn++;
            }
            sum += tp == 0 ? 0 : 2.0 * tp / (2 * tp + fp + fn);
        }
        return k == 0 ? 0 : sum / k;
    }

    private static double ratio(long a, long b) {
        return b == 0 ? 0 : (double) a / b;
    }

    /**
     * The probability that a random text of class 1 scores above a random one of class 0, ties counting one half
     * (the Mann-Whitney U over the product of the class sizes); NaN when a class is absent.
     */
    static double rocAuc(int[] truth, double[] scores) {
        Integer[] order = new Integer[truth.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Double.compare(scores[a], scores[b]));
        double rankSum = 0;
        long positives = 0;
        for (int i = 0; i < order.length; ) {
            int j = i;
            while (j < order.length && scores[order[j]] == scores[order[i]]) j++;
            double rank = (i + 1 + j) / 2.0; // the mean rank of the tied run i..j-1 (ranks from 1)
            for (int m = i; m < j; m++) {
                if (truth[order[m]] == 1) {
                    rankSum += rank;
                    positives++;
                }
            }
            i = j;
        }
        long negatives = truth.length - positives;
        if (positives == 0 || negatives == 0) return Double.NaN;
        return (rankSum - positives * (positives + 1) / 2.0) / ((double) positives * negatives);
    }

    /**
     * The metrics as {@code classify eval --json} prints them: accuracy, macro_f1, weighted_f1, mcc, roc_auc (binary),
     * per_class (precision, recall, f1, support by label), confusion_matrix (rows true, columns predicted, in
     * label order) and labels.
     */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("accuracy", accuracy);
        m.put("macro_f1", macroF1);
        m.put("weighted_f1", weightedF1);
        m.put("mcc", mcc);
        if (!Double.isNaN(rocAuc)) m.put("roc_auc", rocAuc);
        Map<String, Object> perClass = new LinkedHashMap<>();
        for (int c = 0; c < labels.size(); c++) {
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("precision", precision[c]);
            one.put("recall", recall[c]);
            one.put("f1", f1[c]);
            one.put("support", support[c]);
            perClass.put(labels.get(c), one);
        }
        m.put("per_class", perClass);
        List<List<Long>> rows = new ArrayList<>();
        for (long[] row : confusion) rows.add(Arrays.stream(row).boxed().toList());
        m.put("confusion_matrix", rows);
        m.put("labels", labels);
        return m;
    }

    /** A plain-text report: the headline numbers, a per-class table and the confusion matrix. */
    public String report() {
        StringBuilder s = new StringBuilder();
        s.append(String.format("accuracy %.4f  macro-F1 %.4f  weighted-F1 %.4f  MCC %.4f%s%n", accuracy, macroF1,
                weightedF1, mcc, Double.isNaN(rocAuc) ? "" : String.format("  ROC-AUC %.4f", rocAuc)));
        int w = Math.max(5, labels.stream().mapToInt(String::length).max().orElse(5));
        s.append(String.format("%-" + w + "s  precision  recall      f1  support%n", "class"));
        for (int c = 0; c < labels.size(); c++) {
            s.append(String.format("%-" + w + "s  %9.4f  %6.4f  %6.4f  %7d%n", labels.get(c), precision[c],
                    recall[c], f1[c], support[c]));
        }
        s.append("confusion matrix (rows: true, columns: predicted)").append(System.lineSeparator());
        s.append(String.format("%-" + w + "s", ""));
        for (String l : labels) s.append(String.format("  %" + Math.max(7, l.length()) + "s", l));
        s.append(System.lineSeparator());
        for (int t = 0; t < labels.size(); t++) {
            s.append(String.format("%-" + w + "s", labels.get(t)));
            for (int p = 0; p < labels.size(); p++) {
                s.append(String.format("  %" + Math.max(7, labels.get(p).length()) + "d", confusion[t][p]));
            }
            s.append(System.lineSeparator());
        }
        return s.toString();
    }
}
