package io.lumenspark.spark;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Backend;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Parallel;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelWeights;
import io.lumenspark.model.Params;
import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.tokens.TokenCorpus;
import io.lumenspark.tokens.TokenSplits;
import io.lumenspark.training.AdamW;
import io.lumenspark.training.CausalLmObjective;
import io.lumenspark.training.LrSchedule;
import io.lumenspark.training.Trainer;
import org.apache.spark.TaskContext;
import org.apache.spark.TaskKilledException;

import java.io.Serializable;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The executor side of DiLoCo: each partition's replica (model, AdamW moments, its shard of the training tokens),
 * kept in the executor's memory from one round to the next. A round's task loads the broadcast parameters, trains H
 * inner steps with the single-machine trainer's step ({@link Trainer#step}) and returns its parameter change.
 * <p>
 * The moments after each round are also written to {@code stateDir/round-R/part-P.safetensors}: a task that finds
 * no replica holding the previous round's moments (the first round, a task re-run on another executor, a retry
 * after a failure that left the replica half-trained, a resumed job) reads them from there, so every attempt of a
 * task computes the same change.
 */
public final class Replicas {
    private static final Map<String, Replica> LIVE = new ConcurrentHashMap<>();

    private Replicas() {
    }

    /**
     * One replica's (or a sum of replicas') parameter change: start minus end, in double precision, so that the
     * difference of two floats is exact and start - change gives the end's floats back.
     */
    public static final class Delta implements Serializable {
        private double[] sum;
        private double lossSum;
        private int replicas;

        /** The empty sum (the zero of the aggregation: it holds no array, so sending it costs nothing). */
        public Delta() {
        }

        Delta(double[] change, double loss) {
            this.sum = change;
            this.lossSum = loss;
            this.replicas = 1;
        }

        /** This sum plus another (either may be empty); reuses this one's array. */
        public Delta plus(Delta other) {
            if (other.replicas == 0) return this;
            if (replicas == 0) return other;
            for (int i = 0; i < sum.length; i++) sum[i] += other.sum[i];
            lossSum += other.lossSum;
            replicas += other.replicas;
            return this;
        }

        /** The summed changes, one per parameter element. */
        public double[] sum() {
            return sum;
        }

        /** How many replicas' changes the sum holds. */
        public int replicas() {
            return replicas;
        }

        /** The mean over the replicas of their last inner step's training loss. */
        public double meanLoss() {
            return lossSum / replicas;
        }
    }

    private static final class Replica implements AutoCloseable {
        final Arena arena = Arena.ofShared();
        final LanguageModel model;
        final AdamW adam;
        final TokenSplits folder, shard;
        final CausalLmObjective objective;
        /** The round whose moments the replica holds; -1: none it can trust (new, or an attempt that failed). */
        long round = -1;

        Replica(InnerSpec spec, int partition) {
            Tokenizer tok = spec.tokenizer() == null ? Tokenizer.byName("gpt2") : Tokenizer.load(spec.tokenizer());
            folder = TokenCorpus.openPrepared(Path.of(spec.data()), tok, tok);
            long length = folder.train().length();
            long from = spec.shardStart(length, partition), to = spec.shardStart(length, partition + 1);
            shard = new TokenSplits(folder.train().slice(from, to - from), folder.val());
            model = new LanguageModel(spec.modelConfig());
            adam = new AdamW(model.params(), arena, 0.9, 0.95, 1e-8, spec.weightDecay());
            objective = new CausalLmObjective(model, shard, spec.batch(), spec.n(), spec.seed(), 0);
        }

        @Override
        public void close() {
            model.close();
            folder.close();
            arena.close();
        }
    }

    /**
     * Trains partition {@code partition}'s replica for round {@code round} from the parameters {@code start} (the
     * outer model's flat buffer): inner steps round x H to round x H + H - 1 of the run's schedule, on the
     * partition's shard. Deterministic: the same arguments give the same change, whichever executor runs it and
     * however often.
     *
     * @throws LumensparkException if the data or the saved moments are missing or damaged, or training diverges
     */
    public static Delta train(InnerSpec spec, int round, int partition, float[] start) {
        if (Parallel.threads() != spec.threads()) Blas.select(Backend.parse(spec.backend()), spec.threads());
        Replica r = LIVE.computeIfAbsent(spec.runKey() + "/" + partition, key -> new Replica(spec, partition));
        synchronized (r) {
            Params params = r.model.params();
            if (start.length != params.flatSize()) {
                throw new LumensparkException("the broadcast parameters have " + start.length + " values, the model "
                        + params.flatSize());
            }
            MemorySegment.copy(start, 0, params.values(), ValueLayout.JAVA_FLOAT, 0, start.length);
            if (r.round != round - 1 || round == 0) restoreMoments(spec, r, round, partition);
            r.round = -1; // until this round's steps are all done
            LrSchedule schedule = spec.schedule();
            long first = (long) round * spec.innerSteps();
            Trainer.Step step = null;
            for (int h = 0; h < spec.innerSteps(); h++) {
                if (h == spec.innerSteps() / 2 && round == spec.failRound() && partition == spec.failPartition()
                        && TaskContext.get() != null && TaskContext.get().attemptNumber() == 0) {
                    throw new IllegalStateException("injected failure of partition " + partition + " in round "
                            + round + ", first attempt, after " + h + " inner steps");
                }
                if (TaskContext.get() != null && TaskContext.get().isInterrupted()) { // a round failed elsewhere
                    throw new TaskKilledException("the round's job was cancelled");
                }
                long s = first + h;
                step = Trainer.step(params, r.adam, r.objective, s, spec.accumulation(), schedule.at(s),
                        spec.gradClip());
            }
            ModelWeights.writeBuffers(momentsFile(spec, round, partition), params, moments(r));
            r.round = round;
            double[] change = new double[start.length];
            MemorySegment w = params.values();
            for (int i = 0; i < change.length; i++) {
                change[i] = (double) start[i] - w.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            }
            return new Delta(change, step == null ? Double.NaN : step.loss());
        }
    }

    private static void restoreMoments(InnerSpec spec, Replica r, int round, int partition) {
        if (round == 0) {
            r.adam.firstMoment().fill((byte) 0);
            r.adam.secondMoment().fill((byte) 0);
            return;
        }
        Path file = momentsFile(spec, round - 1, partition);
        if (!Files.isRegularFile(file)) {
            throw new LumensparkException("partition " + partition + "'s optimizer state after round " + round
                    + " is missing: " + file + " (the run folder must be readable and writable by every executor)");
        }
        ModelWeights.readBuffers(file, r.model.params(), moments(r));
    }

    private static Map<String, Function<Params.Param, MemorySegment>> moments(Replica r) {
        Map<String, Function<Params.Param, MemorySegment>> m = new LinkedHashMap<>();
        m.put("exp_avg.", r.model.params().slicesOf(r.adam.firstMoment()));
        m.put("exp_avg_sq.", r.model.params().slicesOf(r.adam.secondMoment()));
        return m;
    }

    /** Where partition p's AdamW moments after round R are kept. */
    static Path momentsFile(InnerSpec spec, int round, int partition) {
        return Path.of(spec.stateDir()).resolve(roundFolder(round)).resolve("part-" + partition + ".safetensors");
    }

    /** The folder of one round's moments under the state folder. */
    static String roundFolder(int round) {
        return "round-" + round;
    }

    /** Frees this JVM's replicas of a job (the executor keeps them until then). */
    public static void evict(String runKey) {
        for (String key : List.copyOf(LIVE.keySet())) {
            if (!key.startsWith(runKey + "/")) continue;
            Replica r = LIVE.remove(key); // one caller gets it, however many evict at once
            if (r != null) {
                synchronized (r) {
                    r.close();
                }
            }
        }
    }
}
