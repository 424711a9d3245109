package io.lumenspark.cli;

import io.lumenspark.Labeled;
import io.lumenspark.LumensparkException;
import io.lumenspark.engine.WeightDtype;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.model.ModelWeights;
import io.lumenspark.pretrained.LumensparkModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * Writes a model folder whose matrix weights are bf16 or int8 (see {@link ModelWeights#writeWeights}): into a
 * hidden folder beside --out, renamed into place when complete.
 */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "Write a copy of a model folder with the matrix products' weights in bf16 or int8 (a float32"
                + " scale per 32 weights); it loads mapped, with no float32 copy.")
final class QuantizeCommand implements Callable<Integer> {
    @Mixin
    ThreadOptions threads;

    @Option(names = "--model", required = true, description = "The float32 model folder.")
    Path model;

    @Option(names = "--dtype", required = true, paramLabel = "int8|bf16", description = "int8 or bf16.")
    String dtype;

    @Option(names = "--out", required = true, description = "The new folder (must be empty or absent).")
    Path out;

    @Option(names = "--force", description = "Replace what --out holds.")
    boolean force;

    @Override
    public Integer call() throws IOException {
        threads.apply();
        WeightDtype d = Labeled.parse(WeightDtype.class, dtype, "--dtype");
        if (d == WeightDtype.F32) throw new LumensparkException("--dtype must be bf16 or int8 (f32 is the folder as trained)");
        Path target = out.toAbsolutePath().normalize();
        if (target.equals(model.toAbsolutePath().normalize())) {
            throw new LumensparkException("--out is the --model folder; choose another");
        }
        if (Files.exists(target) && !Files.isDirectory(target)) throw new LumensparkException(out + " is not a folder");
        if (Files.isDirectory(target) && !force) {
            try (Stream<Path> entries = Files.list(target)) {
                if (entries.findAny().isPresent()) {
                    throw new LumensparkException(out + " is not empty; choose another --out, or replace it with --force");
                }
            }
        }
        Path parent = target.getParent();
        Files.createDirectories(parent);
        Path staging = parent.resolve("." + target.getFileName() + ".quantize-" + ProcessHandle.current().pid());
        AtomicFiles.deleteTree(staging);
        try (LumensparkModel m = LumensparkModel.fromPretrained(model, d)) {
            Files.createDirectories(staging);
            m.save(staging);
            AtomicFiles.deleteTree(target);
            Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            AtomicFiles.deleteTree(staging);
        }
        long before = Files.size(model.resolve(ModelWeights.WEIGHTS)), after = Files.size(target.resolve(ModelWeights.WEIGHTS));
        System.out.printf("wrote %s: matrix weights in %s, %s %.1f MB (was %.1f MB)%n", out, d.label(),
                ModelWeights.WEIGHTS, after / 1e6, before / 1e6);
        return 0;
    }
}
