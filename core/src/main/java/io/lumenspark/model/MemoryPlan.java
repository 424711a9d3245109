package io.lumenspark.model;

import com.sun.management.OperatingSystemMXBean;
import io.lumenspark.LumensparkException;
import io.lumenspark.io.InputFiles;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The memory a model configuration needs, computed from the config alone, before anything is allocated, so that a
 * configuration too large for the machine is refused at once with the figure instead of failing (or swapping)
 * halfway through allocating:
 *
 * <pre>{@code
 * MemoryPlan.forTraining(config, batch, seqLength).check();   // before building the model and the optimizer
 * MemoryPlan.forInference(config, batch, seqLength).check();  // before a forward pass of that shape
 * }</pre>
 *
 * Parameters, gradients and activations live in native memory, which -Xmx does not limit, so {@link #check()}
 * compares with the machine's available physical memory ({@link #available()}). The model checks its own
 * allocations: {@code new LanguageModel(config)} its parameters, each new pass shape its activations (and the
 * gradients of a first training step).
 */
public final class MemoryPlan {
    /** The most tokens (batch x length) one pass holds: its row indices and sizes stay within an int. */
    public static final int MAX_TOKENS_PER_PASS = Integer.MAX_VALUE / 4;

    private final long parameters, gradients, optimizer, activations;
    private final String pass; // "8 x 512 tokens", or null without activations

    private MemoryPlan(long parameters, long gradients, long optimizer, long activations, String pass) {
        this.parameters = parameters;
        this.gradients = gradients;
        this.optimizer = optimizer;
        this.activations = activations;
        this.pass = pass;
    }

    /** The model's parameters alone (float32, as {@code new LanguageModel(config)} allocates them). */
    public static MemoryPlan forParameters(ModelConfig config) {
        return new MemoryPlan(parameterBytes(Layout.of(config)), 0, 0, 0, null);
    }

    /** Parameters plus the activations of one forward pass over batch sequences of n tokens (evaluation, scoring). */
    public static MemoryPlan forInference(ModelConfig config, int batch, int n) {
        Layout layout = Layout.of(config);
        checkShape(config, batch, n);
        return new MemoryPlan(parameterBytes(layout), 0, 0, layout.activationBytes(batch, n, true),
                batch + " x " + n + " tokens");
    }

    /**
     * Parameters, their gradients, AdamW's two moments and the activations a training step over batch sequences of
     * n tokens keeps for its backward pass.
     */
    public static MemoryPlan forTraining(ModelConfig config, int batch, int n) {
        Layout layout = Layout.of(config);
        checkShape(config, batch, n);
        long p = parameterBytes(layout);
        return new MemoryPlan(p, p, saturatedSum(p, p), layout.activationBytes(batch, n, false),
                batch + " x " + n + " tokens");
    }

    /**
     * Parameters, their gradients and the activations of a training pass over batch sequences of n tokens, without an
     * optimizer's moments: what a benchmark of forward and backward passes holds.
     */
    public static MemoryPlan forTrainingPass(ModelConfig config, int batch, int n) {
        Layout layout = Layout.of(config);
        checkShape(config, batch, n);
        long p = parameterBytes(layout);
        return new MemoryPlan(p, p, 0, layout.activationBytes(batch, n, false), batch + " x " + n + " tokens");
    }

    /** What a new pass of this shape adds to a model that holds its parameters (and, with gradients, not yet those). */
    static MemoryPlan forPass(ModelConfig config, int batch, int n, boolean forwardOnly, boolean gradients) {
        Layout layout = Layout.of(config);
        checkShape(config, batch, n);
        return new MemoryPlan(0, gradients ? parameterBytes(layout) : 0, 0,
                layout.activationBytes(batch, n, forwardOnly), batch + " x " + n + " tokens");
    }

    /** Weights that loading converts to float32 in memory (F16, BF16, ...), beside a memory-mapped file. */
    static MemoryPlan forConvertedWeights(long bytes) {
        return new MemoryPlan(bytes, 0, 0, 0, null);
    }

    private static long parameterBytes(Layout layout) {
        long floats = layout.flatSize();
        return floats > Long.MAX_VALUE / 4 ? Long.MAX_VALUE : floats * 4; // beyond any machine either way
    }

    private static void checkShape(ModelConfig config, int batch, int n) {
        if (batch < 1) throw new LumensparkException("the batch must be at least 1, got " + batch);
        if (n < 1 || n > config.seqLength()) {
            throw new LumensparkException("sequence length " + n + " is outside 1.." + config.seqLength()
                    + " (the model's seq_length)");
        }
        if ((long) batch * n > MAX_TOKENS_PER_PASS) {
            throw new LumensparkException(String.format("a batch of %,d x %,d tokens is more than the %,d one pass"
                    + " can hold; use a smaller batch", batch, n, MAX_TOKENS_PER_PASS));
        }
    }

    /** Bytes of the parameters (float32, with alignment padding). */
    public long parameters() {
        return parameters;
    }

    /** Bytes of the parameter gradients (training). */
    public long gradients() {
        return gradients;
    }

    /** Bytes of AdamW's first and second moments (training). */
    public long optimizer() {
        return optimizer;
    }

    /** Bytes of the activation buffers of one pass. */
    public long activations() {
        return activations;
    }

    /** All of the above. */
    public long total() {
        return saturatedSum(saturatedSum(parameters, gradients), saturatedSum(optimizer, activations));
    }

    private static long saturatedSum(long a, long b) {
        long s = a + b;
        return s < 0 ? Long.MAX_VALUE : s;
    }

    /** {@link #check(long)} against the memory available now. */
    public MemoryPlan check() {
        return total() == 0 ? this : check(available());
    }

    /**
     * Refuses a plan that needs more than availableBytes, with the figures and what to make smaller: "this
     * configuration needs about 37.2 GiB (parameters 12.1 GiB, ...), more than the 22.8 GiB available; ...".
     *
     * @return this plan, when it fits
     * @throws LumensparkException when it does not
     */
    public MemoryPlan check(long availableBytes) {
        if (total() <= availableBytes) return this;
        throw tooLarge(availableBytes);
    }

    private LumensparkException tooLarge(long availableBytes) {
        long model = total() - activations; // parameters, gradients and moments: what no batch size changes
        boolean passDominates = activations > model && model <= availableBytes;
        String advice = passDominates ? "use a smaller batch or sequence length (--batch, --seq-length)"
                : "make the model smaller (vocab_size, embed_dim, depth, seq_length, rank)"
                + (pass != null && model <= availableBytes ? " or the batch (--batch)" : "");
        return new LumensparkException("this configuration needs " + this + ", more than the "
                + InputFiles.humanSize(availableBytes) + " of memory available; " + advice);
    }

    /** "about 37.2 GiB (parameters 12.1 GiB, gradients 12.1 GiB, AdamW moments 24.2 GiB, activations ...)". */
    @Override
    public String toString() {
        List<String> parts = new ArrayList<>();
        if (parameters > 0) parts.add("parameters " + (parameters == Long.MAX_VALUE ? "more than " : "")
                + InputFiles.humanSize(parameters));
        if (gradients > 0) parts.add("gradients " + InputFiles.humanSize(gradients));
        if (optimizer > 0) parts.add("AdamW moments " + InputFiles.humanSize(optimizer));
        if (activations > 0) parts.add("activations " + InputFiles.humanSize(activations) + " for " + pass);
        String about = total() == Long.MAX_VALUE ? "more than " : "about ";
        return about + InputFiles.humanSize(total()) + " (" + String.join(", ", parts) + ")";
    }

    /**
     * Physical memory this process can still take, in bytes: Linux's MemAvailable (free memory plus the page
     * cache it can reclaim, which includes memory-mapped weights), within a container's memory limit; elsewhere the
     * free memory the JVM reports. The Java heap limit (-Xmx) does not apply: tensors live in native memory.
     */
    public static long available() {
        long memAvailable = -1, memTotal = -1;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemAvailable:")) memAvailable = kilobytes(line);
                if (line.startsWith("MemTotal:")) memTotal = kilobytes(line);
            }
        } catch (IOException | RuntimeException notLinux) {
            memAvailable = -1;
        }
        if (memAvailable < 0) return Os.BEAN.getFreeMemorySize();
        // under a container limit the JVM reports the limit as the total, and what is left under it as free
        boolean limited = memTotal > 0 && Os.BEAN.getTotalMemorySize() < memTotal;
        return limited ? Math.min(memAvailable, Os.BEAN.getFreeMemorySize()) : memAvailable;
    }

    /** The JVM's view of the machine, container limits included; made on first use (it takes tens of ms). */
    private static final class Os {
        static final OperatingSystemMXBean BEAN =
                (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    }

    private static long kilobytes(String meminfoLine) {
        return Long.parseLong(meminfoLine.replaceAll("[^0-9]", "")) * 1024;
    }
}
