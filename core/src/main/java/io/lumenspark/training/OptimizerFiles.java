package io.lumenspark.training;

import io.lumenspark.model.ModelWeights;
import io.lumenspark.model.Params;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/** AdamW moments as optimizer.safetensors, named like PyTorch's state: exp_avg.NAME and exp_avg_sq.NAME. */
final class OptimizerFiles {
    private OptimizerFiles() {
    }

    private static Map<String, Function<Params.Param, MemorySegment>> buffers(Params params, AdamW adam) {
        Map<String, Function<Params.Param, MemorySegment>> m = new LinkedHashMap<>();
        m.put("exp_avg.", params.slicesOf(adam.firstMoment()));
        m.put("exp_avg_sq.", params.slicesOf(adam.secondMoment()));
        return m;
    }

    static void write(Path file, Params params, AdamW adam) {
        ModelWeights.writeBuffers(file, params, buffers(params, adam));
    }

    static void read(Path file, Params params, AdamW adam) {
        ModelWeights.readBuffers(file, params, buffers(params, adam));
    }
}
