package io.lumenspark.generate;

import io.lumenspark.Labeled;

/** What happens to a prompt that leaves no room in the context (generation_config.json's "prompt_truncation"). */
public enum PromptTruncation implements Labeled {
    /** It is an error. */
    NONE,
    /** Its oldest tokens are dropped, keeping seq_length - min(new-token limit, seq_length / 2). */
    LEFT;

    @Override
    public String toString() {
        return label();
    }
}
