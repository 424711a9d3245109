package io.lumenspark.spark;

import io.lumenspark.model.ModelConfig;
import io.lumenspark.training.LrSchedule;

import java.io.Serializable;
import java.util.LinkedHashMap;

/**
 * What every task of a DiLoCo round needs to train its replica, sent to the executors with the task: plain values
 * only (paths as text, the model config as its config.json map), so it serializes anywhere.
 *
 * @param data          the prepared token folder (train.bin, val.bin, manifest.json), readable by every executor
 * @param tokenizer     the tokenizer's folder or name (null: GPT-2), to check the folder's tokenizer
 * @param config        the model config, as {@link ModelConfig#toMap}
 * @param batch         sequences per micro-batch
 * @param n             tokens per sequence
 * @param accumulation  micro-batches per inner step
 * @param seed          the run's seed: initialization, batches and dropout
 * @param lr            peak inner learning rate
 * @param minLr         floor of the inner cosine decay
 * @param warmup        inner warm-up steps (of the whole run's rounds x inner steps)
 * @param totalSteps    rounds x inner steps: the inner learning rate follows one schedule over them
 * @param gradClip      the inner gradient clipping norm
 * @param weightDecay   AdamW weight decay on matrices
 * @param innerSteps    H, inner steps per round
 * @param workers       N, the replicas (one Spark partition each)
 * @param stateDir      where each partition's AdamW moments are kept between rounds (round-R/part-P.safetensors)
 * @param runKey        identifies this job's replicas in an executor's memory
 * @param threads       worker threads of each task's matrix products
 * @param backend       the matrix backend ("auto", "openblas", "java")
 * @param failRound     a round whose task fails on its first attempt, after half its steps (-1: none); tests
 *                      fault tolerance
 * @param failPartition the partition that fails in failRound
 */
public record InnerSpec(String data, String tokenizer, LinkedHashMap<String, Object> config, int batch, int n,
                        int accumulation, long seed, double lr, double minLr, long warmup, long totalSteps,
                        double gradClip, double weightDecay, int innerSteps, int workers, String stateDir,
                        String runKey, int threads, String backend, int failRound, int failPartition)
        implements Serializable {

    /** The model config. */
    public ModelConfig modelConfig() {
        return ModelConfig.fromMap(config, "the DiLoCo task's model config");
    }

    /** The inner learning-rate schedule: the single-machine trainer's over all rounds x inner steps. */
    public LrSchedule schedule() {
        return new LrSchedule(lr, minLr, warmup, totalSteps);
    }

    /** The config as a serializable map. */
    static LinkedHashMap<String, Object> configMap(ModelConfig cfg) {
        return new LinkedHashMap<>(cfg.toMap());
    }

    /**
     * First token of partition p's shard of a training split of {@code length} tokens, floor(p x length / N): the
     * shards are N contiguous slices, so partition p trains on the same tokens every round.
     */
    long shardStart(long length, int partition) {
        return Math.multiplyExact(length, partition) / workers;
    }
}
