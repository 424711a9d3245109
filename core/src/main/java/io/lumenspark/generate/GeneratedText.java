package io.lumenspark.generate;

import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.tokenizer.Utf8Decoder;

import java.util.List;

/**
 * The text of a generation's new tokens, decoded as they come, in pieces that add up to the whole decode of their
 * ids: a piece holds back the bytes of an incomplete character and a trailing replacement character (the next
 * token may complete its UTF-8 sequence), and the last piece carries whatever was held. Stop strings are looked
 * for only where a token's text can complete one, so each token costs work in proportion to its own text.
 */
final class GeneratedText {
    private final Tokenizer tokenizer;
    private final List<String> stopStrings;
    private final int longestStop;
    private final Utf8Decoder utf8 = new Utf8Decoder();
    private final StringBuilder decoded = new StringBuilder(); // the text so far, but for bytes utf8 holds
    private int emitted;
    private String text; // the whole text, once finished

    GeneratedText(Tokenizer tokenizer, List<String> stopStrings) {
        this.tokenizer = tokenizer;
        this.stopStrings = stopStrings;
        longestStop = stopStrings.stream().mapToInt(String::length).max().orElse(0);
    }

    /**
     * Adds a token's text; returns whether the text now contains a stop string. It reads only where one can have
     * been completed: the text did not contain one before this token (callers stop at the first), so a new one
     * ends in what the token added, or in the replacement character of held bytes, and starts at most
     * longestStop - 1 characters before it.
     */
    boolean add(int id) {
        int before = decoded.length();
        utf8.append(tokenizer.decodeBytes(new int[]{id}), decoded);
        if (longestStop == 0) return false;
        StringBuilder tail = new StringBuilder(decoded.length() - before + longestStop);
        tail.append(decoded, Math.max(0, before - (longestStop - 1)), decoded.length());
        if (utf8.holdsBytes()) tail.append('\uFFFD'); // the text so far, as a whole decode gives it
        for (String stop : stopStrings) {
            if (tail.indexOf(stop) >= 0) return true;
        }
        return false;
    }

    /** The text that is ready since the last piece (possibly empty). */
    String piece() {
        boolean trailingReplacement = !decoded.isEmpty() && decoded.charAt(decoded.length() - 1) == '\uFFFD';
        int ready = decoded.length() - (!utf8.holdsBytes() && trailingReplacement ? 1 : 0);
        String piece = ready > emitted ? decoded.substring(emitted, ready) : "";
        emitted = Math.max(emitted, ready);
        return piece;
    }

    /** Ends the text (held bytes become one replacement character, as a whole decode gives them); returns it. */
    String finish() {
        if (text == null) {
            utf8.finish(decoded);
            text = decoded.toString();
        }
        return text;
    }

    /** After {@link #finish}: the text not yet handed out. */
    String rest() {
        String piece = text.substring(Math.min(emitted, text.length()));
        emitted = text.length();
        return piece;
    }
}
