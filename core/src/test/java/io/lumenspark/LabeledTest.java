package io.lumenspark;

import io.lumenspark.engine.Backend;
import io.lumenspark.generate.ContextOverflow;
import io.lumenspark.generate.FinishReason;
import io.lumenspark.generate.PromptTruncation;
import io.lumenspark.generate.RepetitionPenaltyMode;
import io.lumenspark.model.AttentionKind;
import io.lumenspark.model.ModelConfig;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The closed sets of values keep the words that files, JSON output and command lines use. */
class LabeledTest {
    private static <E extends Enum<E> & Labeled> List<String> labels(Class<E> type) {
        return Arrays.stream(type.getEnumConstants()).map(E::toString).toList();
    }

    @Test
    void eachValueIsWrittenAsItWasBeforeTheEnums() {
        assertEquals(List.of("linformer", "conv_linformer", "full"), labels(AttentionKind.class));
        assertEquals(List.of("hf", "lumenspark"), labels(RepetitionPenaltyMode.class));
        assertEquals(List.of("none", "left"), labels(PromptTruncation.class));
        assertEquals(List.of("stop", "slide"), labels(ContextOverflow.class));
        assertEquals(List.of("eos", "stop", "length", "context", "cancelled"), labels(FinishReason.class));
        assertEquals(List.of("auto", "openblas", "java"), labels(Backend.class));
        assertEquals("conv_linformer", ModelConfig.preset("conv-linformer").toMap().get("attention"));
        assertEquals(AttentionKind.FULL, ModelConfig.v01().with("attention", "full").attention());
    }

    @Test
    void textThatNamesNoValueIsRefusedWithTheAlternatives() {
        assertEquals("--truncate must be none or left, got 'right'", assertThrows(LumensparkException.class,
                () -> Labeled.parse(PromptTruncation.class, "right", "--truncate")).getMessage());
        assertEquals("unknown backend 'cuda' (expected auto, openblas or java)",
                assertThrows(LumensparkException.class, () -> Backend.parse("cuda")).getMessage());
        assertEquals("--set attention=Full: attention must be linformer, conv_linformer or full, got \"Full\"",
                assertThrows(LumensparkException.class, () -> ModelConfig.v01().with("attention", "Full"))
                        .getMessage());
    }
}
