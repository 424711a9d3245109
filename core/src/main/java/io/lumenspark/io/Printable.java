package io.lumenspark.io;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;

/**
 * Text that comes from outside (archive entry names, what a server sends, a user's argument) made safe to put in a
 * one-line message: control and format characters (line breaks, escape sequences, NUL, bidirectional overrides)
 * are written as escapes, and long text is cut short.
 */
public final class Printable {

    /** Longer text is cut to this many characters, then "...". */
    public static final int MAX_CHARS = 200;

    private Printable() {
    }

    /**
     * {@code text} with {@code \n}, {@code \r}, {@code \t}, {@code \0} and other such characters as {@code \}uXXXX,
     * cut after {@link #MAX_CHARS} characters: a name or value from outside, for a message.
     */
    public static String of(String text) {
        return escaped(text, MAX_CHARS);
    }

    /**
     * A whole message made one line: its control and format characters escaped as {@link #of} does, nothing cut
     * (what the message quotes from outside is cut already). Escaping it again changes nothing.
     */
    public static String line(String message) {
        return escaped(message, Integer.MAX_VALUE);
    }

    private static String escaped(String text, int maxChars) {
        if (text == null) return "";
        StringBuilder b = new StringBuilder(Math.min(text.length(), maxChars) + 8);
        for (int i = 0; i < text.length(); ) {
            if (b.length() >= maxChars) {
                return b.append("...").toString();
            }
            int c = text.codePointAt(i);
            i += Character.charCount(c);
            switch (c) {
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case 0 -> b.append("\\0");
                default -> {
                    if (isControl(c)) b.append(String.format("\\u%04x", c));
                    else b.appendCodePoint(c);
                }
            }
        }
        return b.toString();
    }

    /**
     * Why an I/O operation failed, in words and printable: {@code no such file: PATH}, {@code permission denied:
     * PATH}, {@code PATH: reason}, or the message of any other failure ({@code input/output error} if it has none).
     */
    public static String reason(IOException e) {
        return switch (e) {
            case NoSuchFileException f -> "no such file: " + of(f.getFile());
            case AccessDeniedException f -> "permission denied: " + of(f.getFile());
            case FileAlreadyExistsException f -> "already exists: " + of(f.getFile());
            default -> e.getMessage() == null || e.getMessage().isBlank() ? "input/output error" : of(e.getMessage());
        };
    }

    /**
     * Controls (C0, DEL, C1), format characters (bidirectional overrides, zero-width), line and paragraph
     * separators, lone surrogates.
     */
    private static boolean isControl(int c) {
        int type = Character.getType(c);
        return type == Character.CONTROL || type == Character.FORMAT || type == Character.LINE_SEPARATOR
                || type == Character.PARAGRAPH_SEPARATOR || type == Character.SURROGATE;
    }
}
