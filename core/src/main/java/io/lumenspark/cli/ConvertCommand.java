package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.WeightFiles;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.pretrained.ModelFolder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Write a model (a folder with model.safetensors, pytorch_model.bin or sharded weights, or a"
                + " Hugging Face Hub id) as a Lumenspark model folder: model.safetensors in float32, config.json"
                + " with Lumenspark's keys, the tokenizer files and generation_config.json.")
final class ConvertCommand implements Callable<Integer> {
    @Mixin
    ModelOption model;

    @Option(names = "--out", required = true, description = "The folder to write: new or empty, unless --force.")
    Path out;

    @Option(names = "--force", description = "Replace an --out that holds files (once the new folder is complete).")
    boolean force;

    @Override
    public Integer call() {
        List<String> held = ModelFolder.heldFiles(out); // before anything is downloaded or read
        if (!held.isEmpty() && !force) {
            throw new LumensparkException("--out " + out + " is not empty (it holds " + String.join(", ", held)
                    + "); choose a new or empty folder, or --force to replace it");
        }
        Path source = model.dir();
        if (source.toAbsolutePath().normalize().startsWith(out.toAbsolutePath().normalize())) {
            throw new LumensparkException("--out " + out + " holds the model to convert (" + source + "); write the"
                    + " new folder elsewhere");
        }
        try (LumensparkModel m = LumensparkModel.fromPretrained(source)) {
            Path weights = WeightFiles.find(source).getFileName(); // there, since the model loaded
            try {
                m.tokenizer();
            } catch (LumensparkException e) {
                System.err.println("warning: " + e.getMessage() + "; " + out + " is written without tokenizer files");
            }
            ModelFolder.saveNew(m, out, force);
            System.out.printf("wrote %s: %,d parameters from %s as float32 model.safetensors, config.json,"
                    + " generation_config.json%s%n", out, m.languageModel().params().count(), weights,
                    ModelFolder.hasTokenizerFiles(out) ? ", tokenizer files" : "");
        }
        return 0;
    }
}
