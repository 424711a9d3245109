package io.lumenspark.tokens;

import io.lumenspark.LumensparkException;

import java.util.Locale;

/** On-disk element type of a token file: little-endian unsigned 16- or 32-bit integers. */
public enum TokenDtype {
    /** Two bytes per token, for vocabularies of up to 65,536 ids (GPT-2 has 50,257). */
    UINT16(2),
    /** Four bytes per token, for larger vocabularies. */
    UINT32(4);

    private final int bytes;

    TokenDtype(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per token. */
    public int bytes() {
        return bytes;
    }

    /** The name used in manifests: {@code "uint16"} or {@code "uint32"}. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The smallest type that holds every id of a vocabulary of this size. */
    public static TokenDtype forVocab(int vocabSize) {
        return vocabSize <= 1 << 16 ? UINT16 : UINT32;
    }

    /** Parses {@link #label()}; throws {@link LumensparkException} for anything else. */
    public static TokenDtype fromLabel(String label) {
        for (TokenDtype d : values()) {
            if (d.label().equals(label)) {
                return d;
            }
        }
        throw new LumensparkException("unknown token dtype '" + label + "' (expected uint16 or uint32)");
    }
}
