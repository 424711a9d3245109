package io.lumenspark.cli;

import io.lumenspark.Labeled;
import io.lumenspark.engine.WeightDtype;
import io.lumenspark.pretrained.LumensparkModel;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * {@code --model}: the model a command reads, a folder or a Hugging Face Hub id; {@code --dtype}: how its matrix
 * weights are held.
 */
final class ModelOption {
    @Option(names = "--model", required = true, paramLabel = "DIR|ID",
            description = "Model folder, or Hugging Face Hub id owner/name[@revision].")
    ModelName model;

    @Option(names = "--dtype", paramLabel = "f32|bf16|int8", description = "Weights of the matrix products as float32,"
            + " bfloat16 or int8 (a scale per 32 weights), converted on load (default: the folder's own).")
    String dtype;

    /** The model folder (a hub model's is fetched into the cache first). */
    Path dir() {
        return model.folder();
    }

    /** The --dtype given, or null for the folder's own. */
    WeightDtype dtype() {
        return parseDtype(dtype);
    }

    /** A --dtype value (null stays null: the folder's own). */
    static WeightDtype parseDtype(String label) {
        return label == null ? null : Labeled.parse(WeightDtype.class, label, "--dtype");
    }

    /** Opens the folder for inference in the --dtype asked for. */
    LumensparkModel open() {
        return LumensparkModel.fromPretrained(dir(), dtype());
    }
}
