package io.lumenspark.serve;

import java.util.List;

/**
 * A choice's text as OpenAI returns it with stop sequences: the text ends before the first stop sequence, which is
 * not part of it; while streaming, text that may be the start of a stop sequence is held back until the next token
 * shows whether it is.
 */
final class StopText {
    private final List<String> stops;
    private final StringBuilder text = new StringBuilder();
    private int emitted;
    private String done;

    StopText(List<String> stops) {
        this.stops = stops;
    }

    /** Adds a token's text; returns what can be sent now (never a stop sequence, nor what follows one). */
    String add(String piece) {
        text.append(piece);
        int ready = Math.max(emitted, Math.min(text.length() - heldBack(), firstStop()));
        String out = text.substring(emitted, ready);
        emitted = ready;
        return out;
    }

    /** The longest end of the text that is a proper start of a stop sequence. */
    private int heldBack() {
        int best = 0;
        for (String s : stops) {
            for (int k = Math.min(s.length() - 1, text.length()); k > best; k--) {
                if (text.indexOf(s.substring(0, k), text.length() - k) == text.length() - k) {
                    best = k;
                    break;
                }
            }
        }
        return best;
    }

    /** Where the first stop sequence in the text starts (its length when there is none). */
    private int firstStop() {
        int end = text.length();
        for (String s : stops) {
            int at = text.indexOf(s);
            if (at >= 0) end = Math.min(end, at);
        }
        return end;
    }

    /**
     * Ends the text: cut before the first stop sequence when one ended it (stopped). Returns what was not sent yet.
     */
    String finish(boolean stopped) {
        int end = stopped ? firstStop() : text.length();
        String rest = emitted < end ? text.substring(emitted, end) : "";
        emitted = Math.max(emitted, end);
        done = text.substring(0, end);
        return rest;
    }

    /** The whole text (after {@link #finish}: cut at the stop sequence). */
    String all() {
        return done != null ? done : text.toString();
    }
}
