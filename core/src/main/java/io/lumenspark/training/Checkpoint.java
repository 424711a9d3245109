package io.lumenspark.training;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.Json;
import io.lumenspark.pretrained.LumensparkModel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;

/**
 * A resumable training checkpoint: the model folder plus optimizer.safetensors (AdamW moments) and
 * trainer_state.json (step, options). It is written to a temporary folder that then replaces the previous
 * checkpoint, so a run killed at any moment leaves a complete checkpoint behind.
 */
public final class Checkpoint {
    /** Names in the run folder: the checkpoint folder, and the state and optimizer files inside it. */
    public static final String FOLDER = "checkpoint", STATE = "trainer_state.json",
            OPTIMIZER = "optimizer.safetensors";
    /** The checkpoint being written, and the previous one while the new one is renamed into place. */
    static final String TMP = ".checkpoint.tmp", OLD = ".checkpoint.old";

    private Checkpoint() {
    }

    static void save(Path out, LumensparkModel model, AdamW adam, Map<String, Object> state) {
        Path tmp = out.resolve(TMP), dir = out.resolve(FOLDER), old = out.resolve(OLD);
        AtomicFiles.deleteTree(tmp);
        try {
            // an earlier save died between its renames: put the complete old checkpoint back first
            if (!Files.exists(dir) && Files.exists(old.resolve(STATE))) Files.move(old, dir, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new LumensparkException("cannot restore checkpoint in " + out + ": " + e.getMessage(), e);
        }
        model.save(tmp);
        OptimizerFiles.write(tmp.resolve(OPTIMIZER), model.languageModel().params(), adam);
        Json.write(tmp.resolve(STATE), state); // written last: its presence marks a complete folder
        try {
            AtomicFiles.deleteTree(old);
            if (Files.exists(dir)) Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
            Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            AtomicFiles.deleteTree(old);
        } catch (IOException e) {
            throw new LumensparkException("cannot write checkpoint in " + out + ": " + e.getMessage(), e);
        }
    }

    /**
     * The newest complete checkpoint folder under out: {@code checkpoint/}, or the previous one if a save was
     * interrupted between its renames.
     *
     * @throws LumensparkException if out holds no complete checkpoint
     */
    public static Path find(Path out) {
        for (String name : new String[]{FOLDER, OLD}) {
            Path dir = out.resolve(name);
            if (Files.exists(dir.resolve(STATE))) return dir;
        }
        throw new LumensparkException("no checkpoint to resume in " + out + " (expected " + out.resolve(FOLDER)
                + "/" + STATE + ")");
    }
}
