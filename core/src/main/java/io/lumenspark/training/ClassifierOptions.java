package io.lumenspark.training;

import io.lumenspark.LumensparkException;
import io.lumenspark.model.Pooling;
import io.lumenspark.model.ProblemType;
import io.lumenspark.pretrained.Truncation;

import java.nio.file.Path;
import java.util.Map;

/**
 * Everything that defines a classifier's training run (saved in its checkpoint, so --resume continues with the
 * same settings).
 *
 * @param base           a pretrained model folder whose backbone is fine-tuned, or null to train from scratch
 * @param preset         the model preset without a base
 * @param overrides      config keys changed from the preset (vocab_size follows the tokenizer)
 * @param tokenizer      the tokenizer without a base (a name or folder); a base brings its own
 * @param problemType    one label per text, several, or a number
 * @param separator      what separates a multi-label record's labels
 * @param pooling        the pooling, or null for the model's default (last token if causal, else the mean)
 * @param classWeights   how single-label cross-entropy weighs the classes
 * @param truncation     which end of a long text is cut off
 * @param batch          texts per step
 * @param epochs         passes over the training texts
 * @param lr             peak learning rate
 * @param minLr          floor of the cosine decay
 * @param warmupFraction share of the steps spent warming up
 * @param weightDecay    AdamW's decoupled weight decay (matrices)
 * @param gradClip       largest global gradient norm
 * @param evalEvery      steps between validations (0: once per epoch)
 * @param patience       validations without improvement before training stops (0: never early)
 * @param seed           seeds the split, the head, the batches and dropout
 * @param out            the run folder
 */
public record ClassifierOptions(Path base, String preset, Map<String, String> overrides, String tokenizer,
                                ProblemType problemType, String separator, Pooling pooling,
                                ClassWeights classWeights, Truncation truncation, int batch, int epochs, double lr,
                                double minLr, double warmupFraction, double weightDecay, double gradClip,
                                long evalEvery, int patience, long seed, Path out) {
    /** Checks the values, naming the flag at fault. */
    public ClassifierOptions {
        overrides = Map.copyOf(overrides);
        require(batch >= 1, "--batch must be at least 1");
        require(epochs >= 1, "--epochs must be at least 1");
        require(lr > 0 && Double.isFinite(lr), "--lr must be positive");
        require(minLr >= 0 && minLr <= lr, "--min-lr must be in [0, lr]");
        require(warmupFraction >= 0 && warmupFraction < 1, "--warmup must be in [0, 1)");
        require(weightDecay >= 0, "--weight-decay must not be negative");
        require(gradClip > 0, "--grad-clip must be positive");
        require(evalEvery >= 0, "--eval-every must not be negative");
        require(patience >= 0, "--early-stopping-patience must not be negative");
        require(separator != null && !separator.isEmpty(), "--label-separator must not be empty");
        require(classWeights == ClassWeights.NONE || problemType == ProblemType.SINGLE_LABEL_CLASSIFICATION,
                "--class-weights balanced is for one label per text (not --multi-label or --regression)");
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new LumensparkException(message);
    }
}
