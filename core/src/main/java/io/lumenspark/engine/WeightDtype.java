package io.lumenspark.engine;

import io.lumenspark.Labeled;

/**
 * How the weights of matrix products are held for inference ({@code --dtype}): float32 as trained, bfloat16 (the
 * top 16 bits of each float32, rounded to nearest even: half the bytes), or int8 with one float32 scale per block
 * of {@link QuantizedMatrix#BLOCK} weights of a row (as llama.cpp's Q8_0: a quarter of the bytes, plus an eighth
 * of that for the scales).
 */
public enum WeightDtype implements Labeled {
    F32, BF16, INT8;

    /** Bytes per weight, scales included. */
    public double bytesPerWeight() {
        return switch (this) {
            case F32 -> 4;
            case BF16 -> 2;
            case INT8 -> 1 + 4.0 / QuantizedMatrix.BLOCK;
        };
    }
}
