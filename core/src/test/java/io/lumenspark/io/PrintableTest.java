package io.lumenspark.io;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** Text from outside, and whole messages, made one printable line. */
class PrintableTest {
    @Test
    void controlAndFormatCharactersAreEscaped() {
        assertEquals("a\\nb\\r\\tc\\0d\\u001b[31me\\u202ef\u00e9",
                Printable.of("a\nb\r\tc\0d\u001b[31me\u202ef\u00e9"));
        assertEquals("", Printable.of(null));
    }

    @Test
    void namesAreCutButWholeMessagesAreNot() {
        String longName = "x".repeat(300);
        assertEquals("x".repeat(Printable.MAX_CHARS) + "...", Printable.of(longName));
        String message = "cannot read " + longName + "\n: not a regular file";
        String line = Printable.line(message);
        assertEquals("cannot read " + longName + "\\n: not a regular file", line);
        assertFalse(line.contains("\n"));
        assertEquals(line, Printable.line(line), "escaping twice changes nothing");
    }
}
