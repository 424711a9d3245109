package io.lumenspark.hub;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.Fifos;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelRefTest {
    static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";

    @TempDir
    Path tmp;

    static String error(String text) {
        return assertThrows(LumensparkException.class, () -> ModelRef.parse(text)).getMessage();
    }

    @Test
    void anIdIsAHubModelAtMainUnlessARevisionIsGiven() {
        assertEquals(new ModelRef.Remote(new RepoId("acme", "tiny"), "main"), ModelRef.parse("acme/tiny"));
        assertEquals(new ModelRef.Remote(new RepoId("acme", "tiny"), "v1.0"), ModelRef.parse("acme/tiny@v1.0"));
        assertEquals("refs/pr/1", ((ModelRef.Remote) ModelRef.parse("acme/tiny@refs/pr/1")).revision());
        ModelRef.Remote pinned = (ModelRef.Remote) ModelRef.parse("openai-community/gpt2@" + COMMIT);
        assertTrue(pinned.pinned());
        assertFalse(((ModelRef.Remote) ModelRef.parse("acme/tiny@abc1234")).pinned(), "a short hash is a name");
        assertEquals("acme/tiny@v1.0", ModelRef.parse("acme/tiny@v1.0").toString());
        assertEquals("acme/tiny", ModelRef.parse("acme/tiny").toString());
        assertEquals("models--Org_1--my.model-v2", ((ModelRef.Remote) ModelRef.parse("Org_1/my.model-v2")).repo()
                .folderName());
    }

    @Test
    void anExistingFolderWinsOverAnId() throws IOException {
        // relative to the working folder (the project), where the build writes target/
        Path folder = Path.of("target", "model-ref-test");
        Files.createDirectories(folder);
        try {
            assertEquals(new ModelRef.Folder(folder), ModelRef.parse("target/model-ref-test"));
        } finally {
            Files.delete(folder);
        }
        assertEquals(new ModelRef.Remote(new RepoId("target", "model-ref-test"), "main"),
                ModelRef.parse("target/model-ref-test"), "once it is gone, the same text is a hub id");
        Path absolute = Files.createDirectories(tmp.resolve("m"));
        assertEquals(new ModelRef.Folder(absolute), ModelRef.parse(absolute.toString()));
    }

    @Test
    void aFileIsNotAModelFolder() throws IOException {
        Path file = Files.writeString(tmp.resolve("model.safetensors"), "x");
        assertEquals("not a model folder: " + file + " is a file (a model folder holds config.json and the weights)",
                error(file.toString()));
        Path fifo = Fifos.make(tmp.resolve("pipe"));
        assertEquals("not a model folder: " + fifo + " is a named pipe, device or socket (a model folder holds"
                + " config.json and the weights)", error(fifo.toString()));
    }

    @Test
    void anythingElseIsAMissingFolder() {
        for (String text : new String[]{"runs/demo/", "./acme/tiny", "/acme/tiny", "tiny", "a/b/c", "acme--x/tiny",
                "acme/ti--ny", "acme/ti..ny", "acme/.tiny", "acme/tiny.", "-acme/tiny", "acme/tiny-", "acme/tiny.git",
                "acme/" + "n".repeat(97), "acme/ti ny", "acme/tïny", "../acme/tiny"}) {
            assertEquals("no such model folder: " + text, error(text), text);
        }
        assertEquals(new RepoId("a", "n".repeat(96)), RepoId.parse("a/" + "n".repeat(96)));
        assertNull(RepoId.parse("a/" + "n".repeat(97)));
    }

    @Test
    void aBadRevisionIsRefused() {
        for (String revision : new String[]{"", "../x", "a/../b", "refs//pr", "refs/pr/", ".hidden", "a b", "v1:2",
                "r".repeat(256)}) {
            assertEquals("not a revision of a Hugging Face model: '" + revision + "' (acme/tiny@REVISION takes a"
                    + " branch, tag or commit)", error("acme/tiny@" + revision), revision);
        }
    }

    @Test
    void emptyAndControlCharactersAreRefusedWithoutEchoingThem() {
        assertEquals("no model given: the name is empty (give a model folder, or a Hugging Face Hub id owner/name)",
                error(" "));
        assertEquals("no model given: the name is empty (give a model folder, or a Hugging Face Hub id owner/name)",
                error(""));
        assertEquals("no such model folder: the name given holds control characters", error("acme/tiny\n"));
        assertEquals("no such model folder: the name given holds control characters", error("acme/\u202etiny"));
    }
}
