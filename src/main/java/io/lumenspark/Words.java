package io.lumenspark;

/** Counts in messages, for every package: "1 thread", "2 threads", "1,024 tokens". */
public final class Words {
    private Words() {
    }

    /**
     * A count and its noun, the noun plural unless the count is one ("1 token", "2,048 tokens", "0 passes"). The
     * noun may be a phrase ending in its noun: "validation token".
     */
    public static String count(long n, String noun) {
        String plural = noun.endsWith("s") || noun.endsWith("x") || noun.endsWith("ch") ? noun + "es" : noun + "s";
        return String.format("%,d %s", n, n == 1 ? noun : plural);
    }
}
