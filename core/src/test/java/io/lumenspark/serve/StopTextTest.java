package io.lumenspark.serve;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Streamed text with stop sequences: held back while it may start one, never sent once it holds one. */
class StopTextTest {
    @Test
    void aPieceThatHoldsAWholeStopSequenceSendsOnlyWhatComesBeforeIt() {
        StopText t = new StopText(List.of("r X", "zzzz"));
        assertEquals("    ", t.add("    "));
        assertEquals("", t.add("r Xyz"), "the stop sequence and what follows it");
        assertEquals("", t.finish(true));
        assertEquals("    ", t.all());
        StopText u = new StopText(List.of("r X"));
        assertEquals("ab", u.add("abr X"));
        assertEquals("", u.finish(true));
        assertEquals("ab", u.all());
    }

    @Test
    void aPossibleStartIsHeldBackUntilTheNextPieceDecides() {
        StopText t = new StopText(List.of("end."));
        assertEquals("the ", t.add("the en"));
        assertEquals("ending", t.add("ding"), "not a stop after all: sent with what follows");
        assertEquals(" ", t.add(" en"));
        assertEquals("", t.add("d."));
        assertEquals("", t.finish(true));
        assertEquals("the ending ", t.all());
        StopText u = new StopText(List.of("end."));
        assertEquals("the ", u.add("the en"));
        assertEquals("en", u.finish(false), "the length ran out: the held-back text is sent");
    }
}
