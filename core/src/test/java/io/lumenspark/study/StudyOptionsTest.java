package io.lumenspark.study;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class StudyOptionsTest {
    private static final List<Path> DATA = List.of(Path.of("corpus.txt"));

    @Test
    void theDefaultsAreTheStudys() {
        StudyOptions o = StudyOptions.builder(false).data(DATA).build();
        assertEquals("encoder", o.preset());
        assertEquals(Map.of(), o.overrides());
        assertEquals(List.of(128, 256, 512, 1024), o.lengths());
        assertEquals(128, o.k());
        assertEquals(0.1, o.warmup());
        assertEquals(0.001, o.weightDecay());
        assertEquals(List.of(64, 32, 16, 8), o.lengths().stream().map(o::batch).toList(), "fewer rows at larger n");
        assertEquals(49_152_000L, o.tokensPerCell());
        assertEquals(Path.of("runs", "study"), o.out());
    }

    @Test
    void quickIsACutDownGridAndSetChangesItsModel() {
        StudyOptions q = StudyOptions.builder(true).data(DATA).overrides(Map.of("depth", "3")).build();
        assertEquals(List.of(128, 256), q.lengths());
        assertEquals(List.of(1e-3), q.lrs());
        assertEquals(40, q.steps());
        assertEquals(Map.of("depth", "3", "embed_dim", "64", "heads", "4", "kv_heads", "4"), q.overrides());
        assertEquals(Path.of("runs", "study-quick"), q.out());
    }

    @Test
    void badSettingsNameTheirOption() {
        var e = assertThrows(LumensparkException.class,
                () -> StudyOptions.builder(false).data(DATA).lengths(List.of(128, 384)).build());
        assertEquals("--tokens-per-step 8192 must be a multiple of every length, so that every cell trains the same"
                + " tokens (not of 384)", e.getMessage());
        assertEquals("no data: pass --data NAME|DIR", assertThrows(LumensparkException.class,
                () -> StudyOptions.builder(false).build()).getMessage());
        assertEquals("--set k is the study's to choose (use --lengths, --k)", assertThrows(LumensparkException.class,
                () -> StudyOptions.builder(false).data(DATA).overrides(Map.of("k", "64")).build()).getMessage());
    }
}
