package io.lumenspark.pretrained;

import io.lumenspark.Labeled;

/** Which end of a text longer than the model's window is cut off before classifying (--truncate). */
public enum Truncation implements Labeled {
    /** Its beginning: the last tokens are kept. */
    LEFT,
    /** Its end: the first tokens are kept (Hugging Face tokenizers' default). */
    RIGHT;

    @Override
    public String toString() {
        return label();
    }
}
