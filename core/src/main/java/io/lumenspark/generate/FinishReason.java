package io.lumenspark.generate;

import io.lumenspark.Labeled;

/** Why a generated sequence ended; its label is what {@code --json} and the stream's summary show. */
public enum FinishReason implements Labeled {
    /** An end-of-text token was chosen (it is not part of the result). */
    EOS,
    /** The text came to contain a stop string (the token that completed it is kept). */
    STOP,
    /** The new-token limit (max_new_tokens, max_length) was reached. */
    LENGTH,
    /** The context (seq_length) was full, with context_overflow "stop". */
    CONTEXT,
    /** The generation was closed before its end. */
    CANCELLED;

    @Override
    public String toString() {
        return label();
    }
}
