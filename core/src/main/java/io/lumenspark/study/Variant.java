package io.lumenspark.study;

import io.lumenspark.Labeled;

/** The three encoders the Conv-Linformer study compares, each an attention kind of the model's config. */
public enum Variant implements Labeled {
    /** Standard multi-head attention over all n keys: the baseline. */
    TRANSFORMER("full", "Transformer"),
    /** Keys and values compressed from n positions to k by learned projections E and F. */
    LINFORMER("linformer", "Linformer"),
    /** Linformer's projections in the lower half of the layers, strided convolutions (kernel = stride = n/k) above. */
    CONV_LINFORMER("conv_linformer", "Conv-Linformer");

    private final String attention;
    private final String title;

    Variant(String attention, String title) {
        this.attention = attention;
        this.title = title;
    }

    /** The config's {@code attention} value for this variant. */
    public String attention() {
        return attention;
    }

    /** The name in tables and chart legends, e.g. "Conv-Linformer". */
    public String title() {
        return title;
    }
}
