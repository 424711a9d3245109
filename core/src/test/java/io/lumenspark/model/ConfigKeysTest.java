package io.lumenspark.model;

import io.lumenspark.Words;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ConfigKeysTest {
    @Test
    void nearestKeyAllowsOneSwapOfNeighbours() {
        assertEquals(1, Words.distance("casual", "causal"));
        assertEquals("seq_length", ConfigKeys.nearest("seq_len", ModelConfig.v01().toMap().keySet()));
        assertEquals("kv_heads", ConfigKeys.nearest("KV_HEADS", ModelConfig.v01().toMap().keySet()));
    }
}
