package io.lumenspark.training;

import com.fasterxml.jackson.annotation.JsonValue;
import io.lumenspark.Labeled;
import io.lumenspark.engine.Bf16Gemm;

import java.util.Optional;
import java.util.function.Consumer;

/**
 * The arithmetic of a training run's matrix products (--precision; trainer_state.json's "options.precision"). The
 * weights, gradients and AdamW's moments stay float32 in both.
 */
public enum Precision implements Labeled {
    /** Float32 products (the backend's sgemm). */
    FP32,
    /**
     * The output layer's products and the blocks' Linear layers' in bfloat16 with float32 accumulation
     * ({@link Bf16Gemm}); fp32 where that is unavailable.
     */
    BF16;

    /** Its label, also in JSON (trainer_state.json's options). */
    @JsonValue
    @Override
    public String label() {
        return Labeled.super.label();
    }

    @Override
    public String toString() {
        return label();
    }

    /**
     * The bf16 products this precision runs on here: empty for fp32, and for bf16 when they are unavailable, which
     * notice then says in one line ("bf16 products unavailable (REASON): training in fp32").
     */
    public Optional<Bf16Gemm> products(Consumer<String> notice) {
        if (this == FP32) return Optional.empty();
        Optional<Bf16Gemm> gemm = Bf16Gemm.find();
        if (gemm.isEmpty()) {
            notice.accept("bf16 products unavailable (" + Bf16Gemm.unavailableReason() + "): training in fp32");
        }
        return gemm;
    }
}
