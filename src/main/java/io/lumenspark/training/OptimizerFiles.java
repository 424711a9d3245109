package io.lumenspark.training;

import io.lumenspark.model.ModelFiles;
import io.lumenspark.model.Params;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** AdamW moments as optimizer.safetensors, named like PyTorch's state: exp_avg.NAME and exp_avg_sq.NAME. */
final class OptimizerFiles {
    private OptimizerFiles() {
    }

    private static Map<String, MemorySegment> buffers(AdamW adam) {
        Map<String, MemorySegment> m = new LinkedHashMap<>();
        m.put("exp_avg.", adam.firstMoment());
        m.put("exp_avg_sq.", adam.secondMoment());
        return m;
    }

    static void write(Path file, Params params, AdamW adam) {
        ModelFiles.writeBuffers(file, params, buffers(adam));
    }

    static void read(Path file, Params params, AdamW adam) {
        ModelFiles.readBuffers(file, params, buffers(adam));
    }
}
