package io.lumenspark.pretrained;

import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.ModelWeights;
import io.lumenspark.model.Params;
import io.lumenspark.model.Pooling;
import io.lumenspark.model.ProblemType;
import io.lumenspark.tokenizer.BpeTokenizer;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Fine-tuning starts from the pretrained backbone (causal or masked LM, its head left out) and a new score. */
class FineTuneBackboneTest {
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void theBackboneIsThePretrainedModelsAndOnlyScoreIsNew(boolean causal, @TempDir Path tmp) {
        BpeTokenizer tok = SmallModels.tokenizer(tmp);
        Map<String, String> keys = causal ? Map.of() : Map.of("causal", "false", "objective", "masked_lm",
                "lm_head", "dense");
        Path base = SmallModels.write(tmp.resolve("base"), tok, keys);
        ModelConfig cfg = ModelWeights.readConfig(base).asClassifier(List.of("a", "b"),
                ProblemType.SINGLE_LABEL_CLASSIFICATION, Pooling.defaultFor(causal), null);
        try (LanguageModel lm = ModelWeights.load(base); LanguageModel cls = ModelWeights.loadBackbone(base, cfg, 5)) {
            int compared = 0;
            for (Params.Param p : cls.params().list()) {
                if (p.name().equals("score.weight")) continue;
                Params.Param q = lm.params().list().stream().filter(x -> x.name().equals(p.name())).findFirst()
                        .orElseThrow();
                assertArrayEquals(lm.params().segment(q).toArray(JAVA_FLOAT),
                        cls.params().segment(p).toArray(JAVA_FLOAT), p.name());
                compared++;
            }
            assertEquals(cls.params().list().size() - 1, compared);
            assertEquals(causal ? Pooling.LAST : Pooling.MEAN, cls.config().pooling());
        }
    }
}
