package io.lumenspark;

/**
 * An error caused by the user's input or environment (a malformed file, a bad option, a missing JDK feature).
 * The command line prints its message as one line and exits non-zero, without a stack trace, so the message
 * must say what is wrong and, where it helps, which file or option is at fault.
 */
public class LumensparkException extends RuntimeException {
    public LumensparkException(String message) {
        super(message);
    }

    public LumensparkException(String message, Throwable cause) {
        super(message, cause);
    }
}
