package io.lumenspark;

/** Words in messages, for every package: counts ("1 thread", "2 threads", "1,024 tokens") and near misses. */
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

    /**
     * Edits (insert, delete, replace, swap of two neighbouring letters) that turn a into b, the optimal string
     * alignment distance: "casual" is 1 from "causal". For the nearest name to a mistyped one.
     */
    public static int distance(String a, String b) {
        int[][] d = new int[a.length() + 1][b.length() + 1];
        for (int i = 0; i <= a.length(); i++) d[i][0] = i;
        for (int j = 0; j <= b.length(); j++) d[0][j] = j;
        for (int i = 1; i <= a.length(); i++) {
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
                    d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
                }
            }
        }
        return d[a.length()][b.length()];
    }

    /**
     * The name closest to a mistyped one (a typo or two, or a prefix of three letters or more), ignoring case, or
     * null if none is close: "casual" gives "causal", "tinyshakespear" "tinyshakespeare", "chat" nothing.
     */
    public static String nearest(String typed, Iterable<String> names) {
        String t = typed.length() > 64 ? typed.substring(0, 64) : typed;
        t = t.toLowerCase(java.util.Locale.ROOT);
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String name : names) {
            String n = name.toLowerCase(java.util.Locale.ROOT);
            int d = n.startsWith(t) && t.length() >= 3 ? 1 : distance(t, n);
            if (d < bestDistance) {
                best = name;
                bestDistance = d;
            }
        }
        return bestDistance <= Math.max(1, Math.min(2, t.length() / 3)) ? best : null;
    }

    /** {@code text} as one word of a POSIX shell command line: as it is when that is safe, else single-quoted. */
    public static String shellWord(String text) {
        return text.matches("[A-Za-z0-9_./:=@%+,-]+") ? text : "'" + text.replace("'", "'\\''") + "'";
    }
}
