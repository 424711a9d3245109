package io.lumenspark.generate;

import io.lumenspark.Labeled;

/** What generation does when the context is full (generation_config.json's "context_overflow"). */
public enum ContextOverflow implements Labeled {
    /** It ends, with finish reason "context". */
    STOP,
    /** It goes on from the most recent seq_length / 2 tokens. */
    SLIDE;

    @Override
    public String toString() {
        return label();
    }
}
