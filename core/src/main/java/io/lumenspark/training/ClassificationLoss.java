package io.lumenspark.training;

import io.lumenspark.model.ClassifierLoss;
import io.lumenspark.model.ProblemType;

/**
 * The losses of a sequence classifier, as Hugging Face's ForSequenceClassification models take them by
 * problem_type: cross-entropy of the softmax (each text weighted by its class's weight), binary cross-entropy of
 * a sigmoid per label (averaged over the labels), squared error (regression). Each is a sum over the batch's texts
 * times a scale (1 / texts of the step: the step's loss is their mean).
 */
public final class ClassificationLoss {
    private ClassificationLoss() {
    }

    /**
     * The loss of a batch whose rows have the given targets ({@link ClassificationTargets#vector}) and, for
     * single-label, class weights (by class id).
     */
    public static ClassifierLoss of(ProblemType type, float[][] targets, double[] classWeights, double scale) {
        return (logits, d) -> {
            int k = targets.length == 0 ? 0 : logits.length / targets.length;
            double total = 0;
            for (int b = 0; b < targets.length; b++) {
                int o = b * k;
                float[] y = targets[b];
                switch (type) {
                    case SINGLE_LABEL_CLASSIFICATION -> {
                        int c = 0;
                        while (y[c] == 0) c++;
                        double w = classWeights[c], max = Double.NEGATIVE_INFINITY, sum = 0;
                        for (int j = 0; j < k; j++) max = Math.max(max, logits[o + j]);
                        for (int j = 0; j < k; j++) sum += Math.exp(logits[o + j] - max);
                        total += w * (max + Math.log(sum) - logits[o + c]);
                        for (int j = 0; j < k; j++) {
                            d[o + j] = (float) (scale * w * (Math.exp(logits[o + j] - max) / sum - y[j]));
                        }
                    }
                    case MULTI_LABEL_CLASSIFICATION -> {
                        for (int j = 0; j < k; j++) {
                            double x = logits[o + j];
                            // log(1 + e^-|x|) + max(x, 0) - x y: stable for any x
                            total += (Math.log1p(Math.exp(-Math.abs(x))) + Math.max(x, 0) - x * y[j]) / k;
                            d[o + j] = (float) (scale * (1 / (1 + Math.exp(-x)) - y[j]) / k);
                        }
                    }
                    case REGRESSION -> {
                        double e = logits[o] - y[0];
                        total += e * e;
                        d[o] = (float) (scale * 2 * e);
                    }
                }
            }
            return total * scale;
        };
    }
}
